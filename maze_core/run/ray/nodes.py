"""Ray's nodes as the scheduler's cluster: read them, and watch them join and leave.

Nodes are polled (every second by default) and looked at again at once when Ray reports a
lost node or object, so that the scheduler hears of the node before the failures it caused.
Ray never reuses a node id, so a node seen dead never comes back. When the cluster's control
store stops answering for ``CLUSTER_LOST_S`` the watcher says the cluster is gone: Ray
itself would keep the runs waiting until it terminates the process, a minute later.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from maze_core.errors import MazeError
from maze_core.run.ray.tasks import ray_module
from maze_core.schedule import Node, NodeAdded, NodeChanged, NodeRemoved
from maze_core.schedule.events import Event

__all__ = [
    "CLUSTER_LOST_S",
    "NodeWatcher",
    "check_same_cluster",
    "connect",
    "quiet_state_dumps",
    "ray_nodes",
]

CLUSTER_LOST_S = 10.0  # the head silent this long: the cluster is gone
_SKIPPED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


class NodeWatcher:
    """Turns changes in Ray's nodes into ``NodeAdded`` / ``NodeRemoved`` / ``NodeChanged``
    events (a node whose CPUs, memory or custom resources Ray now counts differently).

    ``known`` gives the nodes the scheduler has, ``post`` feeds it an event, ``removed`` is
    told of each node that left (its actors are gone with it). Once started, ``tick`` runs
    after every poll that found the cluster alive, and ``lost`` once when it is gone.
    """

    def __init__(
        self,
        *,
        pipeline: float,
        known: Callable[[], Mapping[str, Node]],
        post: Callable[[Event], None],
        removed: Callable[[str], None],
    ) -> None:
        self.pipeline = pipeline
        self._known = known
        self._post = post
        self._removed = removed
        self._dead: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, every: float, tick: Callable[[], None], lost: Callable[[str], None]) -> None:
        thread = threading.Thread(
            target=self._watch, args=(every, tick, lost), name="maze-ray-nodes", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        self._stop.set()

    def refresh(self, dead: str | None = None) -> None:
        """Tell the scheduler which nodes left (``dead`` among them: Ray said so, even if
        its control store has not noticed yet) and which joined."""
        with self._lock:
            try:
                alive = {node.name: node for node in ray_nodes(ray_module(), self.pipeline)}
            except Exception:  # the cluster is going away; runs fail through their tasks
                return
            if dead is not None:
                self._dead.add(dead)
            now = time.time()
            nodes = self._known()
            known = set(nodes)
            for name in known - alive.keys() | (known & self._dead):
                self._dead.add(name)
                self._removed(name)
                self._post(NodeRemoved(name, now))
            for name in alive.keys() - known - self._dead:
                self._post(NodeAdded(alive[name], now))
            for name in sorted(known & alive.keys() - self._dead):
                changed = _changed(nodes[name], alive[name], now)
                if changed is not None:
                    self._post(changed)

    def _watch(self, every: float, tick: Callable[[], None], lost: Callable[[str], None]) -> None:
        gcs = ray_module().get_runtime_context().gcs_address
        silent_since: float | None = None
        while not self._stop.wait(every):
            if _answers(gcs):
                silent_since = None
                self.refresh()
                tick()
                continue
            silent_since = silent_since or time.monotonic()
            if time.monotonic() - silent_since >= CLUSTER_LOST_S:
                lost(gcs)
                return


def _changed(known: Node, seen: Node, now: float) -> NodeChanged | None:
    """The event resizing ``known`` to what Ray counts now (``seen``), None if alike. A
    custom resource Ray no longer counts goes to 0."""
    custom = {key: 0.0 for key in known.custom if key not in seen.custom} | dict(seen.custom)
    if (known.cpus, known.memory, dict(known.custom)) == (seen.cpus, seen.memory, custom):
        return None
    return NodeChanged(known.name, now, seen.cpus, seen.memory, custom)


def ray_nodes(ray: Any, pipeline: float = 1.0) -> list[Node]:
    """The alive Ray nodes as scheduler nodes (name = Ray node id); ``pipeline`` lets the
    scheduler hand each node that many times its CPUs (see ``RayRuntime``)."""
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        resources = info.get("Resources", {})
        custom = {
            key: float(value)
            for key, value in resources.items()
            if key not in _SKIPPED_RESOURCES and not key.startswith(("node:", "accelerator_type"))
        }
        nodes.append(
            Node(
                info["NodeID"],
                cpus=float(resources.get("CPU", 0.0)),
                memory=int(resources.get("memory", 0)),
                gpus=int(resources.get("GPU", 0)),
                custom=custom,
                labels=dict(info.get("Labels", {})),
                cpu_overcommit=pipeline,
            )
        )
    return nodes


def connect(address: str | None, settings: dict[str, Any]) -> bool:
    """Join the cluster at ``address`` (token authentication on, reachable or a clear error)
    or, without one, start an embedded local Ray with ``settings``; whether this call
    started or joined Ray (False: this process was connected already, to that cluster)."""
    from maze_core.run.ray.access import check_reachable, on_loopback, use_ray_token

    if address is not None:
        use_ray_token()  # before Ray is imported: it reads the mode from the environment
        check_reachable(address)
    ray = ray_module()
    if ray.is_initialized():
        if address is not None:
            check_same_cluster(ray, address)
        return False
    local = {} if address is not None else settings
    try:
        with on_loopback(address):  # an embedded Ray is this machine's only: loopback
            ray.init(
                address=address or "local",  # embedded: never attach to a stray cluster
                num_cpus=local.get("num_cpus"),
                num_gpus=local.get("num_gpus"),
                object_store_memory=local.get("object_store_memory"),
                include_dashboard=settings["include_dashboard"],
                log_to_driver=True,
                runtime_env=settings["runtime_env"],
            )
    except ConnectionError as exc:
        from maze_core.run.ray.access import join_error

        raise join_error(address, exc) from None
    quiet_state_dumps()
    return True


STATE_DUMP = "[state-dump]"


def quiet_state_dumps() -> None:
    """Leave Ray's ``[state-dump]`` lines out of what this driver prints. When a node dies,
    Ray sends every driver the tail of its raylet's log, in which ~30 of ~45 lines are the
    raylet's periodic dump of its event loop's counters (the same message at each report:
    ~60 lines in a client's terminal): noise to a user, kept in the raylet's log file. The
    rest of the message (that the raylet ended, and how) still reaches the terminal."""
    worker = sys.modules.get("ray._private.worker")
    printing = getattr(worker, "print_to_stdstream", None)
    if printing is None or getattr(printing, "maze_quiet", False):
        return

    @functools.wraps(printing)
    def print_quietly(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        lines = data.get("lines")
        if isinstance(lines, list) and any(STATE_DUMP in str(line) for line in lines):
            data = {**data, "lines": [_without_state_dumps(str(line)) for line in lines]}
        return printing(data, *args, **kwargs)

    print_quietly.maze_quiet = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = print_quietly  # type: ignore[union-attr]


def _without_state_dumps(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if STATE_DUMP not in line)


def check_same_cluster(ray: Any, address: str) -> None:
    """A process already connected to Ray stays on that cluster: asking for another is an
    error, not a silent reuse of the first."""
    current = ray.get_runtime_context().gcs_address
    port = address.rpartition(":")[2]
    if address != "auto" and port.isdigit() and port != current.rpartition(":")[2]:
        raise MazeError(
            f"this process is already connected to the Ray cluster at {current}, not {address}",
            fix="use one cluster per process (ray.shutdown() first to switch), or pass"
            f" address={current!r}",
            culprit=address,
        )


def _answers(address: str) -> bool:
    """Whether something accepts connections at ``address`` (HOST:PORT)."""
    from maze_core.run.ray.access import connect_error

    host, _, port = address.rpartition(":")
    return port.isdigit() and connect_error(host, int(port)) is None
