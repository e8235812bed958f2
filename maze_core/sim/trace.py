"""Workloads for the simulator, from the published Maze trace or from figures derived from it.

Source: the cleaned trace of the Maze research artifact (``github.com/maze-agent/Maze``,
commit 4ee58c6, ASPLOS'26), laid out as in ``../shared/traces`` (``dags.json``,
``tasks.csv.gz``, ``workload_arrivals.csv``). What we take from it:

* the 14 DAG templates: tasks with kind, CPUs, memory, GPU memory and model, and edges;
* task durations per (template, task), from ``clean`` rows. GPU durations are those of the
  vLLM-backed runs (a request to a resident model replica); runs that loaded the model inside
  the task (HuggingFace backend) are scaled by the ratio of the two medians. Loading a model
  is charged separately, ``model_load_s`` (median HF GPU time minus median vLLM GPU time),
  whenever a GPU task starts on a node where its model is not resident;
* arrivals: the replayable offsets of ``workload_arrivals.csv`` and the template mix of exp1.

Without the trace folder, :func:`load_derived` reads the same figures shipped with Maze
(``derived.json``: templates, a log-normal fit per task, arrivals), written by
``python -m maze_core.sim.trace DIR``; durations are then drawn from the fits.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import random
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maze_core.errors import ValidationError

__all__ = [
    "DagTemplate",
    "TaskTemplate",
    "TraceData",
    "default_trace_dir",
    "derive",
    "load_derived",
    "load_trace",
    "load_workload_source",
]

DERIVED = Path(__file__).with_name("derived.json")
SOURCE = "Maze research artifact trace (github.com/maze-agent/Maze @ 4ee58c6), ../shared/traces"


@dataclass(frozen=True, slots=True)
class TaskTemplate:
    name: str
    kind: str
    cpus: float
    memory_mb: int
    gpu_memory_mb: int
    model: str | None


@dataclass(frozen=True, slots=True)
class DagTemplate:
    name: str
    tasks: tuple[TaskTemplate, ...]
    edges: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class TraceData:
    """Templates, duration sources and arrivals; ``samples`` (empirical) win over ``fits``."""

    templates: dict[str, DagTemplate]
    model_load_s: float
    template_mix: dict[str, float]
    arrivals: dict[str, list[tuple[float, str]]]
    source: str
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    fits: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def draw(self, template: str, task: str, rng: random.Random) -> float:
        """One duration in seconds for ``task`` of ``template``."""
        samples = self.samples.get((template, task))
        if samples:
            return rng.choice(samples)
        mu, sigma = self.fits.get((template, task), (math.log(0.1), 0.5))
        return math.exp(rng.gauss(mu, sigma))

    def median(self, template: str, task: str) -> float:
        samples = self.samples.get((template, task))
        if samples:
            return statistics.median(samples)
        return math.exp(self.fits.get((template, task), (math.log(0.1), 0.5))[0])


def default_trace_dir() -> Path | None:
    """``$MAZE_TRACE_DIR``, else ``../shared/traces`` beside a source checkout, if present."""
    candidates = [os.environ.get("MAZE_TRACE_DIR", "")]
    checkout = Path(__file__).resolve().parents[2]
    candidates += [
        str(checkout.parent / "shared" / "traces"),
        str(Path.cwd().parent / "shared" / "traces"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "dags.json").is_file():
            return Path(candidate)
    return None


def load_workload_source(trace_dir: str | Path | None = None) -> TraceData:
    """The trace from ``trace_dir`` (or the default folder), else the shipped derived figures."""
    folder = Path(trace_dir) if trace_dir is not None else default_trace_dir()
    if folder is None:
        return load_derived()
    if not (folder / "dags.json").is_file():
        raise ValidationError(
            f"{str(folder)!r} is not a trace folder (no dags.json)",
            fix="point --trace-dir at a folder laid out like ../shared/traces",
            culprit=str(folder),
        )
    return load_trace(folder)


def _templates(dags: dict[str, Any]) -> dict[str, DagTemplate]:
    templates = {}
    for raw in dags["templates"]:
        tasks = tuple(
            TaskTemplate(
                t["name"],
                t["type"],
                float(t["cpu_num"]),
                int(t["mem_mb"]),
                int(t["gpu_mem_mb"]),
                t["model_name"],
            )
            for t in raw["tasks"]
        )
        edges = tuple((e["from"], e["to"]) for e in raw["edges"])
        templates[raw["name"]] = DagTemplate(raw["name"], tasks, edges)
    return templates


def _arrivals(folder: Path) -> dict[str, list[tuple[float, str]]]:
    arrivals: dict[str, list[tuple[float, str]]] = defaultdict(list)
    with open(folder / "workload_arrivals.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            arrivals[f"{row['exp']}/{row['setting']}"].append(
                (max(0.0, float(row["sub_s"])), row["dag_template"])
            )
    return {key: sorted(value) for key, value in arrivals.items()}


def load_trace(folder: Path) -> TraceData:
    """Read a trace folder (see the module docstring for what is taken and how)."""
    templates = _templates(json.loads((folder / "dags.json").read_text()))
    by_backend: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    with gzip.open(folder / "tasks.csv.gz", "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if (
                row["clean"] != "True"
                or not row["exec_time_s"]
                or row["dag_template"] not in templates
            ):
                continue
            backend = row["llm_backend"] if row["task_type"] == "gpu" else "any"
            by_backend[row["dag_template"], row["task_name"], backend].append(
                float(row["exec_time_s"])
            )
    vllm = [x for (_, _, b), xs in by_backend.items() if b == "vllm" for x in xs]
    hf = [x for (_, _, b), xs in by_backend.items() if b == "huggingface" for x in xs]
    ratio = statistics.median(vllm) / statistics.median(hf) if vllm and hf else 1.0
    samples: dict[tuple[str, str], list[float]] = {}
    for (template, task, backend), values in sorted(by_backend.items()):
        if backend in ("any", "vllm"):
            samples.setdefault((template, task), []).extend(values)
    for (template, task, backend), values in sorted(by_backend.items()):
        if backend == "huggingface" and (template, task) not in samples:
            samples[template, task] = [v * ratio for v in values]
    load = statistics.median(hf) - statistics.median(vllm) if vllm and hf else 60.0
    arrivals = _arrivals(folder)
    mix: dict[str, float] = defaultdict(float)
    for _, template in arrivals.get("exp1/continuous", []):
        mix[template] += 1
    return TraceData(
        templates,
        load,
        dict(mix) or dict.fromkeys(templates, 1.0),
        arrivals,
        f"{SOURCE} ({folder})",
        samples=samples,
    )


def derive(data: TraceData) -> dict[str, Any]:
    """The figures Maze ships: templates, a log-normal fit per task, arrivals, mix."""
    fits = {}
    for (template, task), values in data.samples.items():
        logs = [math.log(max(v, 1e-4)) for v in values]
        sigma = statistics.pstdev(logs) if len(logs) > 1 else 0.0
        fits[f"{template}/{task}"] = {"mu": statistics.fmean(logs), "sigma": sigma, "n": len(logs)}
    return {
        "source": SOURCE,
        "model_load_s": data.model_load_s,
        "templates": {
            name: {"tasks": [vars_of(t) for t in tpl.tasks], "edges": [list(e) for e in tpl.edges]}
            for name, tpl in data.templates.items()
        },
        "duration_lognormal_fits": fits,
        "template_mix": data.template_mix,
        "arrivals": {k: [[round(t, 3), name] for t, name in v] for k, v in data.arrivals.items()},
    }


def vars_of(task: TaskTemplate) -> dict[str, Any]:
    return {
        "name": task.name,
        "kind": task.kind,
        "cpus": task.cpus,
        "memory_mb": task.memory_mb,
        "gpu_memory_mb": task.gpu_memory_mb,
        "model": task.model,
    }


def load_derived(path: Path = DERIVED) -> TraceData:
    """The shipped figures (for users without the trace folder)."""
    raw = json.loads(path.read_text())
    templates = {
        name: DagTemplate(
            name,
            tuple(TaskTemplate(**t) for t in tpl["tasks"]),
            tuple((a, b) for a, b in tpl["edges"]),
        )
        for name, tpl in raw["templates"].items()
    }
    fits = {}
    for key, fit in raw["duration_lognormal_fits"].items():
        template, task = key.split("/", 1)
        fits[template, task] = (fit["mu"], fit["sigma"])
    arrivals = {k: [(float(t), name) for t, name in v] for k, v in raw["arrivals"].items()}
    return TraceData(
        templates,
        raw["model_load_s"],
        raw["template_mix"],
        arrivals,
        f"{raw['source']} (derived figures shipped with Maze)",
        fits=fits,
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default_trace_dir()
    if target is None:
        raise SystemExit("usage: python -m maze_core.sim.trace TRACE_DIR")
    DERIVED.write_text(json.dumps(derive(load_trace(target)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {DERIVED}")
