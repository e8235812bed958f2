"""The cluster model: nodes, what each one has, and what is free on it now.

A node's GPUs are accounted one by one (each with its own memory), because a task asking
for ``gpus=1, gpu_memory="16GiB"`` needs one device with 16 GiB free, not 16 GiB spread over
two. Fractional requests (``gpus=0.5``) share one device; requests of one or more GPUs take
whole free devices.

Each node also keeps the models resident on it as an LRU set of ``model_slots`` entries:
a task whose model is resident starts without loading it, and a model in use is never the
one evicted.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maze_core.schedule.capacity import ClusterIndex
from maze_core.tools import Resources

if TYPE_CHECKING:
    from maze_core.schedule.state import TaskState

__all__ = ["Allocation", "Cluster", "Node"]

_EPSILON = 1e-9
MODEL_WAIT_SCAN = 8


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one running task holds on its node; given back as a whole when it stops."""

    node: str
    resources: Resources
    gpu_ids: tuple[int, ...] = ()
    gpu_share: float = 0.0
    model: str | None = None


@dataclass(slots=True)
class Node:
    """One machine: capacities, and the amounts free now.

    ``memory`` and ``gpu_memory`` are bytes; ``gpu_memory`` is per GPU (0 = unknown,
    which admits any per-GPU request up to the device being free).
    """

    name: str
    cpus: float
    memory: int = 0
    gpus: int = 0
    gpu_memory: int = 0
    custom: Mapping[str, float] = field(default_factory=dict)
    model_slots: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    cpu_overcommit: float = 1.0
    models: OrderedDict[str, int] = field(init=False)
    free_cpus: float = field(init=False)
    free_memory: int = field(init=False)
    free_gpu_share: list[float] = field(init=False)
    free_gpu_memory: list[int] = field(init=False)
    free_custom: dict[str, float] = field(init=False)
    index: ClusterIndex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.free_cpus = self.admitted_cpus
        self.free_memory = self.memory
        self.free_gpu_share = [1.0] * self.gpus
        self.free_gpu_memory = [self.gpu_memory] * self.gpus
        self.free_custom = dict(self.custom)
        self.models = OrderedDict()
        if self.model_slots <= 0:
            self.model_slots = max(1, self.gpus)

    def could_ever_fit(self, request: Resources) -> str | None:
        """Why ``request`` can never run here even on an idle node, or None if it can."""
        if request.cpus > self.cpus + _EPSILON:
            return f"{request.cpus:g} CPUs (node {self.name!r} has {self.cpus:g})"
        if request.memory and self.memory and request.memory > self.memory:
            return f"{request.memory} bytes of memory (node {self.name!r} has {self.memory})"
        if request.gpus > self.gpus + _EPSILON:
            return f"{request.gpus:g} GPUs (node {self.name!r} has {self.gpus})"
        if request.gpu_memory and self.gpu_memory and request.gpu_memory > self.gpu_memory:
            has = f"node {self.name!r} GPUs have {self.gpu_memory}"
            return f"{request.gpu_memory} bytes per GPU ({has})"
        for key, amount in request.custom.items():
            if amount > self.custom.get(key, 0.0) + _EPSILON:
                has = f"node {self.name!r} has {self.custom.get(key, 0):g}"
                return f"{amount:g} of custom resource {key!r} ({has})"
        return None

    def fits(self, request: Resources) -> bool:
        """Whether ``request`` can start on this node now."""
        if request.cpus > self.free_cpus + _EPSILON:
            return False
        if request.memory and request.memory > self.free_memory and self.memory:
            return False
        if request.custom and any(
            amount > self.free_custom.get(key, 0.0) + _EPSILON
            for key, amount in request.custom.items()
        ):
            return False
        return not request.gpus or self._pick_gpus(request) is not None

    def acquire(self, request: Resources, model: str | None = None) -> Allocation:
        """Reserve ``request`` (which must fit) and return what was taken."""
        gpu_ids = self._pick_gpus(request) if request.gpus else ()
        assert gpu_ids is not None, "acquire() called for a request that does not fit"
        share = request.gpus if request.gpus < 1 else 1.0
        for gpu in gpu_ids:
            self.free_gpu_share[gpu] -= share
            self.free_gpu_memory[gpu] -= request.gpu_memory or 0
        self._take(request, -1)
        if model is not None:
            if model not in self.models and self.index is not None:
                self.index.model_added(self.name, model)
            self.models[model] = self.models.get(model, 0) + 1
            self.models.move_to_end(model)
            self._evict()
        self._index_gpus()
        return Allocation(self.name, request, gpu_ids, share if gpu_ids else 0.0, model)

    def release(self, allocation: Allocation) -> None:
        """Give back everything ``allocation`` holds (the model stays resident, unused)."""
        for gpu in allocation.gpu_ids:
            self.free_gpu_share[gpu] += allocation.gpu_share
            self.free_gpu_memory[gpu] += allocation.resources.gpu_memory or 0
        self._take(allocation.resources, +1)
        if allocation.model is not None and allocation.model in self.models:
            self.models[allocation.model] -= 1
            self._evict()
        self._index_gpus()

    def load_model(self, model: str) -> bool:
        """Make ``model`` resident (most recently used); True if it had to be loaded."""
        loaded = model not in self.models
        if loaded:
            self.models[model] = 0
            if self.index is not None:
                self.index.model_added(self.name, model)
        self.models.move_to_end(model)
        self._evict()
        return loaded

    def unload_model(self, model: str) -> None:
        """Forget that ``model`` is resident, unless a running task is using it."""
        if self.models.get(model) == 0:
            del self.models[model]
            if self.index is not None:
                self.index.model_removed(self.name, model)

    def _evict(self) -> None:
        """Drop least recently used models nobody is using while over ``model_slots``."""
        idle = [name for name, users in self.models.items() if users == 0]
        for name in idle[: max(0, len(self.models) - self.model_slots)]:
            del self.models[name]
            if self.index is not None:
                self.index.model_removed(self.name, name)

    def attach(self, index: ClusterIndex | None) -> None:
        """Report this node's models and free GPUs to ``index`` (None: detach)."""
        if self.index is not None:
            for model in self.models:
                self.index.model_removed(self.name, model)
            self.index.gpu_free.pop(self.name, None)
        self.index = index
        if index is not None:
            for model in self.models:
                index.model_added(self.name, model)
            self._index_gpus()

    def _index_gpus(self) -> None:
        if self.index is None or not self.gpus:
            return
        if any(share > _EPSILON for share in self.free_gpu_share):
            self.index.gpu_free[self.name] = None
        else:
            self.index.gpu_free.pop(self.name, None)

    def resize(
        self, cpus: float | None, memory: int | None, custom: Mapping[str, float] | None
    ) -> None:
        """Change capacities; free amounts move by the same difference (may go negative
        until running tasks finish, which only delays new starts)."""
        if cpus is not None:
            self.free_cpus += (cpus - self.cpus) * self.cpu_overcommit
            self.cpus = cpus
            if self.index is not None:
                self.index.cpus_changed(self.name, self.free_cpus)
        if memory is not None:
            self.free_memory += memory - self.memory
            self.memory = memory
        for key, amount in (custom or {}).items():
            self.free_custom[key] = (
                self.free_custom.get(key, 0.0) + amount - self.custom.get(key, 0.0)
            )
            self.custom = {**self.custom, key: amount}

    @property
    def admitted_cpus(self) -> float:
        """CPUs the scheduler may hand out at once: ``cpus`` times ``cpu_overcommit``. An
        executor with its own per-node queue (Ray) gets a little more than it can run, so a
        worker never idles for the driver's round trip; feasibility still uses ``cpus``."""
        return self.cpus * self.cpu_overcommit

    @property
    def load(self) -> float:
        """How busy the node is, 0 (idle) to 1: the larger of its CPU and GPU shares in use."""
        cpu = 1 - self.free_cpus / self.admitted_cpus if self.cpus else 0.0
        gpu = 1 - sum(self.free_gpu_share) / self.gpus if self.gpus else 0.0
        return max(cpu, gpu)

    def _take(self, request: Resources, sign: int) -> None:
        if request.cpus:
            self.free_cpus += sign * request.cpus
            if self.index is not None:
                self.index.cpus_changed(self.name, self.free_cpus)
        if request.memory:
            self.free_memory += sign * request.memory
        for key, amount in request.custom.items():
            self.free_custom[key] = self.free_custom.get(key, 0.0) + sign * amount

    def _pick_gpus(self, request: Resources) -> tuple[int, ...] | None:
        """The devices a GPU request would take now: the fullest that fit (packing keeps
        whole devices free for whole-device requests), or None."""
        wanted_share = request.gpus if request.gpus < 1 else 1.0
        count = 1 if request.gpus < 1 else math.ceil(request.gpus - _EPSILON)
        memory = request.gpu_memory or 0
        candidates = [
            gpu
            for gpu in range(self.gpus)
            if self.free_gpu_share[gpu] + _EPSILON >= wanted_share
            and (not self.gpu_memory or self.free_gpu_memory[gpu] >= memory)
        ]
        if len(candidates) < count:
            return None
        candidates.sort(key=lambda gpu: (self.free_gpu_share[gpu], gpu))
        return tuple(sorted(candidates[:count]))

    @property
    def idle(self) -> bool:
        """Whether nothing is reserved on this node."""
        return (
            abs(self.free_cpus - self.admitted_cpus) < _EPSILON
            and self.free_memory == self.memory
            and all(abs(share - 1.0) < _EPSILON for share in self.free_gpu_share)
            and all(abs(self.free_custom[k] - v) < _EPSILON for k, v in self.custom.items())
        )


class Cluster:
    """The nodes, in the order they joined, with the searches policies need."""

    def __init__(self, nodes: Iterable[Node] = (), model_load_s: float = 30.0) -> None:
        self.nodes: dict[str, Node] = {}
        self.index = ClusterIndex()
        self.running: dict[str, set[TaskState]] = {}
        self.model_load_s = model_load_s
        self.ready_models: dict[str, int] = {}  # queued tasks per model: demand for replicas
        self.now = 0.0
        self._ring: list[Node] = []
        self._cursor = 0
        for node in nodes:
            self.add(node)

    def add(self, node: Node) -> None:
        self.nodes[node.name] = node
        self.running.setdefault(node.name, set())
        node.attach(self.index)
        self._ring = list(self.nodes.values())
        self.index.reorder(self._ring)

    def remove(self, name: str) -> Node | None:
        node = self.nodes.pop(name, None)
        self.running.pop(name, None)
        if node is not None:
            node.attach(None)
        self._ring = list(self.nodes.values())
        self.index.reorder(self._ring)
        return node

    def could_fit(self, request: Resources) -> bool:
        """Whether some node has the CPUs and (for GPU requests) a GPU ``request`` needs
        free now: False means no node fits, at O(1) cost (True is only a maybe)."""
        if request.cpus > self.index.free_cpus.most() + _EPSILON:
            return False
        return not request.gpus or bool(self.index.gpu_free)

    def exhausted(self) -> bool:
        """Whether no node has a CPU or a GPU free (only requests for neither may start)."""
        return self.index.free_cpus.most() <= _EPSILON and not self.index.gpu_free

    def _with_cpus(
        self, request: Resources, start: int = 0, stop: int | None = None
    ) -> Iterator[Node]:
        """Nodes with the CPUs ``request`` needs free, in join order from ``start``."""
        ring = self._ring
        for position in self.index.free_cpus.at_least(request.cpus - _EPSILON, start):
            if stop is not None and position >= stop:
                return
            yield ring[position]

    def _candidates(self, request: Resources) -> Iterable[Node]:
        """Nodes worth trying for ``request``: for GPU requests only those with a GPU free."""
        if request.gpus:
            nodes = self.nodes
            return [nodes[name] for name in self.index.gpu_free]
        return self._ring

    def replicas(self, model: str) -> int:
        """How many nodes hold ``model`` resident."""
        return len(self.index.model_nodes.get(model, ()))

    def holders_with_room(self, model: str, request: Resources) -> dict[str, None]:
        """Nodes holding ``model``; for GPU requests only those with a GPU free (the smaller
        of the two sets is scanned)."""
        holders = self.index.model_nodes.get(model, {})
        if not request.gpus:
            return holders
        free = self.index.gpu_free
        small, large = (holders, free) if len(holders) <= len(free) else (free, holders)
        return {name: None for name in small if name in large}

    def model_wait(self, ts: TaskState) -> float | None:
        """Predicted seconds until a node holding ``ts``'s model could take it (None: no
        node holds it), from the predicted ends of the GPU tasks running there. Looks at
        the first ``MODEL_WAIT_SCAN`` holders only, to keep a decision O(1) on big clusters."""
        best = None
        holders = self.index.model_nodes.get(ts.task.spec.model or "", {})
        for name in itertools.islice(holders, MODEL_WAIT_SCAN):
            ends = [t.expected_end for t in self.running[name] if t.task.spec.resources.gpus]
            wait = max(0.0, min(ends, default=self.now) - self.now)
            best = wait if best is None else min(best, wait)
        return best

    def load_fit(self, ts: TaskState) -> Node | None:
        """Where to load ``ts``'s model: a node that fits and holds no model (nothing is
        evicted), else the one whose resident models have the most replicas elsewhere (so
        the last copy of a model is evicted last), in join order."""
        request = ts.task.spec.resources
        holders = self.index.model_nodes
        best: int | None = None
        choice = None
        for node in self._candidates(request):
            if not node.fits(request):
                continue
            if not node.models:
                return node
            scarcity = min(len(holders[m]) for m in node.models)
            if best is None or scarcity > best:
                best, choice = scarcity, node
        return choice

    def first_fit(self, ts: TaskState) -> Node | None:
        """The first node in join order that fits (only nodes with the CPUs free, and for
        GPU requests a GPU free, are looked at)."""
        request = ts.task.spec.resources
        if not self.could_fit(request):
            return None
        nodes = self._candidates(request) if request.gpus else self._with_cpus(request)
        for node in nodes:
            if node.fits(request):
                return node
        return None

    def next_fit(self, ts: TaskState) -> Node | None:
        """The first node that fits, searching round-robin from where the last search ended
        (GPU requests search only the nodes with a GPU free)."""
        request = ts.task.spec.resources
        if request.gpus:
            return self.first_fit(ts)
        free, ring, cursor = self.index.free_cpus, self._ring, self._cursor
        amount = request.cpus - _EPSILON
        position, wrapped = free.first(amount, cursor), False
        while True:
            if position is None or (wrapped and position >= cursor):
                if wrapped:
                    return None
                position, wrapped = free.first(amount, 0), True
                continue
            node = ring[position]
            if node.fits(request):
                self._cursor = (position + 1) % len(ring)
                return node
            position = free.first(amount, position + 1)

    def least_loaded(self, ts: TaskState) -> Node | None:
        request = ts.task.spec.resources
        if not self.could_fit(request):
            return None
        fitting = [node for node in self._candidates(request) if node.fits(request)]
        return min(fitting, key=lambda node: node.load, default=None)

    def preferred(self, ts: TaskState) -> Node | None:
        """Among nodes holding the task's model or inputs, the one that fits best:
        model resident first, then most input bytes local."""
        model = ts.task.spec.model
        if model is None and not ts.task.deps:
            return None  # nothing held anywhere draws it
        local = ts.input_bytes()
        request = ts.task.spec.resources
        names = dict.fromkeys(local)
        if model is not None:
            names.update(self.holders_with_room(model, request))
        best: tuple[Any, ...] | None = None
        choice = None
        for name in names:
            node = self.nodes.get(name)
            if node is None or not node.fits(request):
                continue
            score = (model is not None and model not in node.models, -local.get(name, 0), name)
            if best is None or score < best:
                best, choice = score, node
        return choice
