"""Timelines of runs: Chrome trace-event JSON (open it in https://ui.perfetto.dev or
chrome://tracing) and a Gantt chart, for live runs and simulated ones alike.

Each node is a process track and each of its worker slots a thread track: tasks are laid on
the lowest slot free when they start (the slots are those a node needed, not OS threads).
A task is a slice named after it, with its tool, kind, predicted and actual seconds, queue
wait and attempts; a flow arrow goes from each task to the tasks that used its output.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maze_core.errors import ValidationError, missing_dependency
from maze_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from maze_core.run.result import RunResult

__all__ = [
    "Recorder",
    "Slice",
    "gantt",
    "read_trace",
    "slices_of",
    "trace_events",
    "write_trace",
]

KIND_COLOURS = {"cpu": "#4C72B0", "gpu": "#DD8452", "io": "#55A868"}


@dataclass(frozen=True, slots=True)
class Slice:
    """One task attempt on one node, in seconds (epoch or virtual)."""

    run: int
    workflow: str
    task: str
    tool: str
    kind: str
    node: str
    start: float
    end: float
    queued: float | None = None
    predicted: float | None = None
    deps: tuple[str, ...] = ()
    status: str = "done"
    attempts: int = 1


def slices_of(results: RunResult | Iterable[RunResult]) -> list[Slice]:
    """The tasks of finished runs that ran (cancelled and never-started ones have no slice)."""
    from maze_core.run.result import RunResult

    runs = [results] if isinstance(results, RunResult) else list(results)
    return [
        Slice(
            run=result.run_id,
            workflow=result.workflow,
            task=record.task_id,
            tool=record.tool,
            kind=record.kind,
            node=record.node or "?",
            start=record.started,
            end=record.finished,
            queued=record.queued,
            predicted=record.predicted_seconds,
            deps=record.deps,
            status=record.status,
            attempts=record.attempts,
        )
        for result in runs
        for record in result.tasks.values()
        if record.started is not None and record.finished is not None
    ]


class Recorder:
    """A plugin that keeps the slices of every run that finishes on a runtime, for a
    timeline of many runs (all node runs of LangGraph invocations, say)::

        recorder = Recorder()
        runtime = LocalRuntime(plugins=[recorder])
        ...
        recorder.write("timeline.json")
    """

    def __init__(self) -> None:
        self.slices: list[Slice] = []
        self._lock = threading.Lock()

    @hookimpl
    def maze_run_finished(self, result: RunResult) -> None:
        found = slices_of(result)
        with self._lock:
            self.slices.extend(found)

    def write(self, path: str | Path) -> Path:
        with self._lock:
            return write_trace(path, list(self.slices))


def trace_events(slices: Sequence[Slice]) -> dict[str, Any]:
    """The Chrome trace-event document of ``slices`` (times from the first start)."""
    if not slices:
        return {"traceEvents": [], "displayTimeUnit": "ms"}
    origin = min(s.start for s in slices)
    nodes = {node: index + 1 for index, node in enumerate(sorted({s.node for s in slices}))}
    lanes = _lanes(slices)
    events: list[dict[str, Any]] = []
    for node, pid in nodes.items():
        events.append(_meta("process_name", pid, 0, {"name": f"node {short_node(node)}"}))
        for lane in sorted({lanes[s] for s in slices if s.node == node}):
            events.append(_meta("thread_name", pid, lane, {"name": f"slot {lane}"}))
    where: dict[tuple[int, str], tuple[Slice, int, int]] = {}
    for s in slices:
        pid, tid = nodes[s.node], lanes[s]
        where[(s.run, s.task)] = (s, pid, tid)
        events.append(
            {
                "name": s.task,
                "cat": s.kind,
                "ph": "X",
                "ts": _us(s.start - origin),
                "dur": max(1, _us(s.end - s.start)),
                "pid": pid,
                "tid": tid,
                "args": _args(s),
            }
        )
    events.extend(_flows(where, origin))
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"origin_s": origin}}


def write_trace(path: str | Path, slices: Sequence[Slice]) -> Path:
    """Write ``slices`` as Chrome trace-event JSON to ``path``; return the path."""
    path = Path(path)
    path.write_text(json.dumps(trace_events(slices)))
    return path


def read_trace(path: str | Path) -> list[Slice]:
    """The slices of a trace written by :func:`write_trace` (by a run or the simulator)."""
    try:
        document = json.loads(Path(path).read_text())
        origin = float(document.get("otherData", {}).get("origin_s", 0.0))
        slices = []
        for event in document["traceEvents"]:
            if event.get("ph") != "X":
                continue
            fields = {k: v for k, v in event["args"].items() if k in Slice.__dataclass_fields__}
            fields["deps"] = tuple(fields.get("deps", ()))
            fields["start"] = origin + event["ts"] / 1e6
            fields["end"] = fields["start"] + event["dur"] / 1e6
            slices.append(Slice(**fields))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            f"{path} is not a Maze timeline: {exc}",
            fix="give a file written by RunResult.timeline(), `maze run --timeline` or"
            " `maze sim --timeline`",
            culprit=str(path),
        ) from None
    return slices


def gantt(slices: Sequence[Slice], png: str | Path, title: str | None = None) -> Path:
    """Draw ``slices`` as a Gantt chart (a row per node and slot, coloured by kind)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        raise missing_dependency("matplotlib", "plot") from None
    lanes = _lanes(slices)
    rows = sorted({(s.node, lanes[s]) for s in slices})
    row_of = {row: index for index, row in enumerate(rows)}
    origin = min((s.start for s in slices), default=0.0)
    span = max((s.end for s in slices), default=origin) - origin
    least = span / 300  # a task shorter than a pixel or two is still drawn, as a tick
    figure, axes = plt.subplots(figsize=(12, max(2.5, 0.32 * len(rows) + 1.2)))
    for kind, colour in KIND_COLOURS.items():
        by_row: dict[int, list[tuple[float, float]]] = {}
        for s in slices:
            if s.kind == kind:
                bar = (s.start - origin, max(s.end - s.start, least))
                by_row.setdefault(row_of[(s.node, lanes[s])], []).append(bar)
        for row, spans in by_row.items():
            axes.broken_barh(spans, (row - 0.4, 0.8), facecolors=colour, edgecolor="white")
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([f"{short_node(node)} / {lane}" for node, lane in rows], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds")
    axes.set_ylabel("node / slot")
    nodes = len({s.node for s in slices})
    axes.set_title(title or f"{len(slices)} tasks on {nodes} node{'s' * (nodes != 1)}")
    used = sorted({s.kind for s in slices} & KIND_COLOURS.keys())
    handles = [Patch(color=KIND_COLOURS[k], label=k) for k in used]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    png = Path(png)
    figure.savefig(png, dpi=130)
    plt.close(figure)
    return png


def _lanes(slices: Sequence[Slice]) -> dict[Slice, int]:
    """Each slice's slot on its node: the lowest one free when it starts (1-based)."""
    lanes: dict[Slice, int] = {}
    busy_until: dict[str, list[float]] = {}
    for s in sorted(slices, key=lambda s: (s.start, s.end)):
        ends = busy_until.setdefault(s.node, [])
        lane = next((i for i, end in enumerate(ends) if end <= s.start), len(ends))
        if lane == len(ends):
            ends.append(s.end)
        else:
            ends[lane] = s.end
        lanes[s] = lane + 1
    return lanes


def _flows(
    where: dict[tuple[int, str], tuple[Slice, int, int]], origin: float
) -> list[dict[str, Any]]:
    """An arrow from the end of each producer to the start of each task that used it."""
    events = []
    for flow_id, (consumer, pid, tid) in enumerate(where.values(), start=1):
        for dep in consumer.deps:
            producer = where.get((consumer.run, dep))
            if producer is None:
                continue
            source, source_pid, source_tid = producer
            ident = flow_id * 1000 + consumer.deps.index(dep)
            end = max(_us(source.start - origin), _us(source.end - origin) - 1)
            common = {"name": "data", "cat": "dependency", "id": ident}
            events.append({**common, "ph": "s", "ts": end, "pid": source_pid, "tid": source_tid})
            start = _us(consumer.start - origin)
            events.append({**common, "ph": "f", "bp": "e", "ts": start, "pid": pid, "tid": tid})
    return events


def _args(s: Slice) -> dict[str, Any]:
    fields = asdict(s)
    fields["deps"] = list(s.deps)
    fields["actual_s"] = round(s.end - s.start, 6)
    fields["queue_wait_s"] = None if s.queued is None else round(max(0.0, s.start - s.queued), 6)
    return {
        key: value
        for key, value in fields.items()
        if not (isinstance(value, float) and math.isnan(value))
    }


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


def short_node(node: str) -> str:
    """Ray node ids are 56 hex digits: their first 8 tell them apart."""
    return node[:8] if len(node) > 16 and all(c in "0123456789abcdef" for c in node) else node
