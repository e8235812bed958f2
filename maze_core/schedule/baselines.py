"""The systems DAPS is measured against, modelled on what their code does.

``maze-original``
    The published Maze (ASPLOS'26) in its vLLM deployment, the one its headline figures
    come from (``src/agentos/resource/task_scheduler.py`` and ``scheduler/ftc.py`` of
    github.com/maze-agent/Maze):

    * order: queues per kind, key ``(workflow submission time, -(2 x urgency + 1 x
      criticality))`` with urgency ``1 - remaining GPU tasks / most GPU tasks seen in a
      workflow`` and criticality ``predicted task time / expected workflow time``.
      Workflows are served first-come-first-served; the score orders tasks inside one.
    * replica routing: a call to a model goes to the least loaded node where the model is
      deployed. A new replica is deployed only when the model has none, or when more calls
      wait per replica than ``REPLICA_QUEUE``; otherwise the call waits for one. The
      published rule is 5 waiting per replica, for replicas that serve 5 calls at once
      (vLLM batching); here a GPU serves one call at a time, for every policy, so the
      threshold scales to one call's worth of waiting per replica (with 5, calls queue five
      deep behind one GPU, which the published system never does).
    * DAG-context affinity: a run's context lives on the node its first task ran on; every
      later task tries that node first, then the least loaded node that fits.

    Not modelled: a vLLM replica serving up to 5 calls at once (here, as for every
    policy, one call per GPU), the time a replica takes to deploy beyond ``model_load_s``,
    and the one GPU it keeps free of replicas. Without its routing
    (``ablate("affinity")``) it places every task on the least loaded node.
``agent-level``
    What agent frameworks do: each workflow is pinned to one node when submitted (the one
    with the fewest pinned workflows) and runs one task at a time there; many workflows
    share a node and models stay resident.
``agent-level-autogen``
    The published AutoGen baseline: workflows are dealt to hosts round-robin in arrival
    order, a host runs one workflow at a time (a per-host file lock; the others wait in
    arrival order), one task at a time, and every GPU task loads its model (a HuggingFace
    pipeline built inside the task), so nothing stays resident. (The baseline's code is
    not in the published repository; a round-robin cursor per workflow type, the other
    reading of its description, puts the first workflow of every type on one host and
    gives exp1 a P95 twice the published one.)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from maze_core.schedule.policy import Policy

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule.cluster import Cluster, Node
    from maze_core.schedule.state import RunState, TaskState

__all__ = ["REPLICA_QUEUE", "AgentLevel", "AgentLevelAutogen", "MazeOriginal"]

PUBLISHED_QUEUE = 5  # calls waiting per replica before the published system deploys another
PUBLISHED_BATCH = 5  # calls one published vLLM replica serves at once
REPLICA_QUEUE = PUBLISHED_QUEUE // PUBLISHED_BATCH  # the same rule for one call per GPU


class MazeOriginal(Policy):
    name = "maze-original"

    def __init__(self) -> None:
        self.max_gpu_tasks = 1
        self.gpu_left: dict[int, int] = {}  # run id -> its GPU tasks not final yet
        self.context: dict[int, str] = {}  # run id -> the node holding its DAG context
        self.routing = True

    def ablate(self, mechanism: str) -> bool:
        if mechanism != "affinity":
            return False
        self.routing = False
        return True

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        gpu_tasks = sum(task.spec.kind == "gpu" for task in run.graph.tasks.values())
        self.gpu_left[run.run_id] = gpu_tasks
        self.max_gpu_tasks = max(self.max_gpu_tasks, gpu_tasks)

    def on_final(self, ts: TaskState) -> None:
        if ts.task.spec.kind == "gpu":
            self.gpu_left[ts.run.run_id] -= 1

    def on_reopened(self, ts: TaskState) -> None:
        if ts.task.spec.kind == "gpu":
            self.gpu_left[ts.run.run_id] += 1

    def on_finish(self, run: RunState) -> None:
        del self.gpu_left[run.run_id]
        self.context.pop(run.run_id, None)

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        run = ts.run
        urgency = 1 - self.gpu_left[run.run_id] / self.max_gpu_tasks
        criticality = ts.predicted / run.expected_seconds if run.expected_seconds else 0.0
        return (run.submitted_at, -(2.0 * urgency + 1.0 * criticality))

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if not self.routing:
            return cluster.least_loaded(ts)
        model = ts.task.spec.model
        node = self._replica(ts, model, cluster) if model is not None else self._near(ts, cluster)
        if node is not None:
            self.context.setdefault(ts.run.run_id, node.name)
        return node

    def _replica(self, ts: TaskState, model: str, cluster: Cluster) -> Node | None:
        """The least loaded replica of the model with room, else a new replica when the
        published rule deploys one, else None (the call waits for a replica)."""
        request = ts.task.spec.resources
        holders = [cluster.nodes[name] for name in cluster.holders_with_room(model, request)]
        fitting = [node for node in holders if node.fits(request)]
        if fitting:
            return min(fitting, key=lambda node: node.load)
        replicas = cluster.replicas(model)
        if replicas and cluster.ready_models.get(model, 0) <= REPLICA_QUEUE * replicas:
            return None
        return cluster.load_fit(ts)

    def _near(self, ts: TaskState, cluster: Cluster) -> Node | None:
        """The run's context node if the task fits there, else the least loaded node."""
        home = cluster.nodes.get(self.context.get(ts.run.run_id, ""))
        if home is not None and home.fits(ts.task.spec.resources):
            return home
        return cluster.least_loaded(ts)


class AgentLevel(Policy):
    name = "agent-level"
    backfill = 1_000_000  # a node serves every pinned workflow that can go

    def __init__(self) -> None:
        self.pinned: dict[str, int] = {}  # node -> workflows pinned to it
        self.homes: dict[int, str] = {}  # run id -> its node

    def queue_of(self, ts: TaskState) -> str:
        return f"node:{self.homes.get(ts.run.run_id)}"

    def group_of(self, ts: TaskState) -> Hashable:
        return ts.run.run_id  # one task at a time per workflow: its own group

    def admit(self, graph: TaskGraph, cluster: Cluster) -> str | None:
        if _homes(graph, cluster):
            return None
        return f"workflow {graph.name!r} needs one node that can hold all of its tasks"

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        self._pin(run, cluster)

    def _pin(self, run: RunState, cluster: Cluster) -> Node | None:
        """Give ``run`` a home (again, when its home left); None while no node can hold it."""
        homes = _homes(run.graph, cluster)
        if not homes:
            return None
        self.on_finish(run)
        node = self._home(run, homes)
        self.homes[run.run_id] = node.name
        self.pinned[node.name] = self.pinned.get(node.name, 0) + 1
        return node

    def _home(self, run: RunState, homes: list[Node]) -> Node:
        """The home with the fewest runs pinned to it."""
        return min(homes, key=lambda n: self.pinned.get(n.name, 0))

    def on_finish(self, run: RunState) -> None:
        home = self.homes.pop(run.run_id, None)
        if home is not None:
            self.pinned[home] -= 1

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        return (ts.run.submitted_at,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if ts.run.running:
            return None  # what agent frameworks do: one step at a time
        node = cluster.nodes.get(self.homes.get(ts.run.run_id, ""))
        if node is None:
            node = self._pin(ts.run, cluster)
        return node if node is not None and node.fits(ts.task.spec.resources) else None


class AgentLevelAutogen(AgentLevel):
    name = "agent-level-autogen"
    keeps_models = False

    def __init__(self) -> None:
        super().__init__()
        self.turns = 0  # workflows routed so far
        self.holder: dict[str, int] = {}  # node -> the run holding its lock

    def _home(self, run: RunState, homes: list[Node]) -> Node:
        """The next host, round-robin."""
        self.turns += 1
        return homes[(self.turns - 1) % len(homes)]

    def on_finish(self, run: RunState) -> None:
        home = self.homes.get(run.run_id)
        if home is not None and self.holder.get(home) == run.run_id:
            del self.holder[home]
        super().on_finish(run)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        node = super().select_node(ts, cluster)
        if node is None:
            return None
        holder = self.holder.setdefault(node.name, ts.run.run_id)
        return node if holder == ts.run.run_id else None  # the host runs one workflow


def _homes(graph: TaskGraph, cluster: Cluster) -> list[Node]:
    """Nodes that could run every task of ``graph`` (one at a time)."""
    return [
        node
        for node in cluster.nodes.values()
        if all(node.could_ever_fit(t.spec.resources) is None for t in graph.tasks.values())
    ]
