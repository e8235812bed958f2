"""Tools and helpers the policy tests share: a CPU step, calls to two models, and what a
handle() started, as ``run:task@node``."""

from __future__ import annotations

from maze_core import Resources, Workflow, tool
from maze_core.schedule import Dispatch


@tool
def cpu_step(x: int = 0) -> int:
    return x


@tool(resources=Resources(cpus=0, gpus=1), model="qwen")
def qwen() -> None:
    pass


@tool(resources=Resources(cpus=0, gpus=1), model="llama")
def llama() -> None:
    pass


def started(out) -> list[str]:
    return [f"{i.run_id}:{i.task_id}@{i.allocation.node}" for i in out if isinstance(i, Dispatch)]


def chain(name: str, n: int, fn=cpu_step) -> Workflow:
    wf = Workflow(name)
    ref = wf.add(fn)
    for _ in range(n - 1):
        ref = wf.add(fn, after=[ref])
    return wf
