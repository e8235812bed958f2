"""A discrete-event simulator that drives the real :class:`Scheduler` in virtual time.

Everything the scheduler sees is what the runtimes send it (SubmitRun, TaskDone); only the
executors are replaced by a clock: a dispatched task finishes after its sampled duration,
plus ``model_load_s`` when the scheduler placed a GPU task on a node where its model was not
resident (or, for a policy that keeps no model resident, at every GPU task). Workflows and
their task durations are drawn from one RNG per workflow, seeded by ``(seed, workflow
index)``, so every policy sees the identical workload.

Workloads (``SimConfig.workload``):

* ``exp1``: the published continuous-arrival experiment: Poisson phases of 600 s at
  0.5 / 0.75 / 1.0 / 1.25 / 0.5 x 1/45 requests per second, each rate times ``load``,
  templates drawn from the exp1 mix.
* ``batched``: ``batch`` workflows at time 0 (times ``load``, rounded).
* ``replay:EXP/SETTING``: the logged arrival offsets of that experiment, divided by ``load``;
  ``replay:EXP`` where the experiment has one setting (``replay:exp1``: the published exp1
  arrivals, the condition of the published figures).

Predicted durations (``SimConfig.predictor``): ``malearn`` (default: MaLearn, learning from
each task as it finishes, as in production), ``oracle`` (the sampled duration), ``noisy``
(oracle times log-normal noise), ``median`` (the template task's median) or ``defaults``
(a fixed guess per kind, as the published system's fallbacks).

The default cluster (:class:`ClusterSpec`) is stated, not measured: 8 nodes, each 16 CPUs,
128 GiB, one 80 GiB GPU holding one resident model.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from maze_core.errors import ValidationError
from maze_core.graph import TaskGraph, Workflow
from maze_core.predict.malearn import MaLearn
from maze_core.schedule import (
    Dispatch,
    Finish,
    Node,
    Reject,
    Scheduler,
    SubmitRun,
    TaskDone,
    make_policy,
)
from maze_core.schedule.scheduler import DEFAULT_SECONDS
from maze_core.sim.metrics import GIB, SimResult, SimStats
from maze_core.sim.trace import DagTemplate, TaskTemplate, TraceData
from maze_core.tools import Kind, Resources, make_spec

__all__ = [
    "PREDICTORS",
    "ClusterSpec",
    "SimConfig",
    "SimResult",
    "compare",
    "simulate",
    "task_resources",
    "template_workflow",
]

EXP1_PHASES = (0.5, 0.75, 1.0, 1.25, 0.5)
EXP1_RATE = 1 / 45
PHASE_SECONDS = 600.0
PREDICTORS = ("malearn", "oracle", "noisy", "median", "defaults")


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Identical nodes; ``gpu_memory_gib`` is per GPU, ``model_slots`` models stay resident."""

    nodes: int = 8
    cpus: float = 16
    memory_gib: float = 128
    gpus: int = 1
    gpu_memory_gib: float = 80
    model_slots: int = 1

    def build(self) -> list[Node]:
        return [
            Node(
                f"node{i}",
                cpus=self.cpus,
                memory=int(self.memory_gib * GIB),
                gpus=self.gpus,
                gpu_memory=int(self.gpu_memory_gib * GIB),
                model_slots=self.model_slots,
            )
            for i in range(self.nodes)
        ]


@dataclass(frozen=True, slots=True)
class SimConfig:
    policy: str = "daps"
    workload: str = "exp1"
    load: float = 1.0
    seed: int = 0
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    predictor: str = "malearn"
    noise: float = 0.5
    batch: int = 40
    model_load_s: float | None = None  # None: the trace's (median HF minus median vLLM GPU time)
    ablate: tuple[str, ...] = ()  # mechanisms switched off (see Policy.ablate)

    def title(self) -> str:
        """The conditions in a line, for a table's title."""
        title = f"{self.workload} x{self.load:g}, {self.cluster.nodes} nodes, seed {self.seed}"
        title += f", {self.predictor} predictions"
        if self.model_load_s is not None:
            title += f", model load {self.model_load_s:g} s"
        if self.ablate:
            title += f", without {' and '.join(self.ablate)}"
        return title

    def load_seconds(self, trace: TraceData) -> float:
        """Seconds a GPU task pays to load its model where it is not resident."""
        return trace.model_load_s if self.model_load_s is None else self.model_load_s


def template_workflow(
    template: DagTemplate,
    tool_for: Callable[[TaskTemplate], Callable[..., Any]],
    args_for: Callable[[TaskTemplate], tuple[Any, ...]] = lambda task: (),
) -> Workflow:
    """The template as a Maze Workflow: ``tool_for(task)`` is called with ``args_for(task)``,
    after the task's predecessors, under the template's task name."""
    wf = Workflow(template.name)
    preds: dict[str, list[str]] = defaultdict(list)
    for src, dst in template.edges:
        preds[dst].append(src)
    refs: dict[str, Any] = {}
    pending = list(template.tasks)
    while pending:
        task = next(t for t in pending if all(p in refs for p in preds[t.name]))
        pending.remove(task)
        after = [refs[p] for p in preds[task.name]]
        refs[task.name] = wf.add(tool_for(task), *args_for(task), after=after, task_name=task.name)
    return wf


def task_resources(task: TaskTemplate) -> Resources:
    """What the template's decorator asked for: CPUs, memory, one GPU with its memory."""
    gpus = 1 if task.kind == "gpu" else 0
    return Resources(
        cpus=task.cpus,
        gpus=gpus,
        memory=task.memory_mb * 10**6 or None,
        gpu_memory=task.gpu_memory_mb * 10**6 if gpus and task.gpu_memory_mb else None,
    )


def _graph(template: DagTemplate) -> TaskGraph:
    """The template as a TaskGraph of placeholder tools (the simulator never calls them)."""
    return template_workflow(template, _placeholder).build()


def _placeholder(task: TaskTemplate) -> Any:
    def simulated() -> None:
        """A simulated task."""

    simulated.__name__ = simulated.__qualname__ = task.name
    simulated.__maze_tool__ = make_spec(  # type: ignore[attr-defined]
        simulated,
        resources=task_resources(task),
        kind=cast("Kind", task.kind),
        model=task.model,
        name=task.name,
    )
    return simulated


def arrivals(trace: TraceData, config: SimConfig) -> list[tuple[float, str]]:
    """(time, template) of every workflow of the workload, deterministic per seed."""
    rng = random.Random(f"arrivals/{config.seed}")
    names = sorted(trace.template_mix)
    weights = [trace.template_mix[n] for n in names]
    if config.workload == "exp1":
        out, start = [], 0.0
        for factor in EXP1_PHASES:
            rate, t = factor * EXP1_RATE * config.load, start
            while (t := t + rng.expovariate(rate)) < start + PHASE_SECONDS:
                out.append((t, rng.choices(names, weights)[0]))
            start += PHASE_SECONDS
        return out
    if config.workload == "batched":
        count = max(1, round(config.batch * config.load))
        return [(0.0, rng.choices(names, weights)[0]) for _ in range(count)]
    if config.workload.startswith("replay:"):
        key = _replay_key(trace, config.workload.removeprefix("replay:"))
        if key not in trace.arrivals:
            raise ValidationError(
                f"no logged arrivals for {key!r}",
                fix=f"use one of: {', '.join(sorted(trace.arrivals))}",
                culprit=key,
            )
        return [(t / config.load, name) for t, name in trace.arrivals[key]]
    raise ValidationError(
        f"unknown workload {config.workload!r}",
        fix="use exp1, batched or replay:EXP/SETTING",
        culprit=config.workload,
    )


def _replay_key(trace: TraceData, key: str) -> str:
    """``EXP/SETTING``, or ``EXP`` alone where the experiment has one setting (``exp1``)."""
    if key in trace.arrivals or "/" in key:
        return key
    settings = [name for name in trace.arrivals if name.split("/", 1)[0] == key]
    return settings[0] if len(settings) == 1 else key


def _predict(
    config: SimConfig,
    trace: TraceData,
    template: str,
    graph: TaskGraph,
    actual: dict[str, float],
    rng: random.Random,
    learner: MaLearn | None,
) -> dict[str, float]:
    if learner is not None:
        return {
            k: float(learner.predict(f"{template}/{k}", graph.tasks[k].spec.kind, {}))
            for k in actual
        }
    if config.predictor == "oracle":
        return dict(actual)
    if config.predictor == "noisy":
        return {k: v * math.exp(rng.gauss(0, config.noise)) for k, v in actual.items()}
    if config.predictor == "median":
        return {k: trace.median(template, k) for k in actual}
    if config.predictor == "defaults":
        return {k: DEFAULT_SECONDS[graph.tasks[k].spec.kind] for k in actual}
    raise ValidationError(
        f"unknown predictor {config.predictor!r}",
        fix=f"use one of {', '.join(PREDICTORS)}",
        culprit=config.predictor,
    )


class _Clock:
    """The event heap of (time, kind, order, payload): at one time finishes (kind 0) go
    before arrivals (kind 1), then in the order pushed."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int, Any]] = []
        self.order = 0

    def push(self, when: float, kind: int, payload: Any) -> None:
        self.order += 1
        heapq.heappush(self.heap, (when, kind, self.order, payload))


def simulate(
    trace: TraceData, config: SimConfig, on_finish: Callable[[int], None] | None = None
) -> SimResult:
    """Run one policy on one workload and measure it; ``on_finish(workflows done)`` is
    called as workflows end (for a progress display)."""
    nodes = config.cluster.build()
    load_s = config.load_seconds(trace)
    policy = make_policy(config.policy, ablate=config.ablate)
    scheduler = Scheduler(nodes, policy, model_load_s=load_s)
    graphs = {name: _graph(t) for name, t in trace.templates.items()}
    clock = _Clock()
    for index, (when, template) in enumerate(arrivals(trace, config)):
        clock.push(when, 1, (index, template))
    stats = SimStats(config.cluster)
    durations: dict[int, dict[str, float]] = {}
    templates: dict[int, str] = {}
    learner = MaLearn(background=False) if config.predictor == "malearn" else None
    while clock.heap:
        now, kind, _, payload = heapq.heappop(clock.heap)
        if kind == 1:
            index, template = payload
            event, durations[index] = _arrival(config, trace, graphs, payload, now, learner)
            templates[index] = template
            stats.arrived[index] = now
        else:
            event = payload
            if learner is not None:  # MaLearn learns each task when it finishes, as live
                template = templates[event.run_id]
                kind_of = graphs[template].tasks[event.task_id].spec.kind
                seconds = durations[event.run_id][event.task_id]
                learner.learn(f"{template}/{event.task_id}", kind_of, {}, seconds)
        started = time.perf_counter_ns()
        instructions = scheduler.handle(event)
        stats.decision_us.append((time.perf_counter_ns() - started) / 1000)
        for instruction in instructions:
            if isinstance(instruction, Dispatch):
                seconds = durations[instruction.run_id][instruction.task_id]
                seconds += load_s if instruction.model_load else 0.0
                template = templates[instruction.run_id]
                stats.started(instruction, now, seconds, template, graphs[template])
                key = (instruction.run_id, instruction.task_id, instruction.attempt)
                clock.push(now + seconds, 0, TaskDone(*key, now + seconds))
            elif isinstance(instruction, Finish):
                stats.finished(instruction.run_id, now)
                if on_finish is not None:
                    on_finish(len(stats.response))
                del durations[instruction.run_id], templates[instruction.run_id]
            elif isinstance(instruction, Reject):
                raise instruction.error
    return stats.result(config.policy)


def _arrival(
    config: SimConfig,
    trace: TraceData,
    graphs: dict[str, TaskGraph],
    arrival: tuple[int, str],
    now: float,
    learner: MaLearn | None,
) -> tuple[Any, dict[str, float]]:
    """A workflow arriving: its SubmitRun (with predictions) and its tasks' true durations,
    drawn from the workflow's own RNG."""
    index, template = arrival
    rng = random.Random(f"workflow/{config.seed}/{index}")
    graph = graphs[template]
    actual = {task_id: trace.draw(template, task_id, rng) for task_id in graph.tasks}
    predicted = _predict(config, trace, template, graph, actual, rng, learner)
    return SubmitRun(index, graph, now, predicted=predicted), actual


def compare(trace: TraceData, config: SimConfig, policies: list[str]) -> dict[str, dict[str, Any]]:
    """Every policy on the identical workload: ``{policy: SimResult.summary()}``."""
    return {
        policy: simulate(trace, replace(config, policy=policy)).summary() for policy in policies
    }
