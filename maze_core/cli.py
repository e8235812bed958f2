"""``maze``: the command line. Commands parse and print; the work lives in the library."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markdown import Markdown

import maze_core
from maze_core.cli_server import start, status, stop
from maze_core.console import console
from maze_core.errors import MazeError, ValidationError

if TYPE_CHECKING:
    from types import ModuleType

    from maze_core.run.result import RunResult

app = typer.Typer(
    name="maze",
    help="Maze: task-level distributed execution for agent workflows.",
    no_args_is_help=True,
    add_completion=False,
)

ExecutorOption = Annotated[
    str, typer.Option(help="Where cpu/gpu tasks run: threads, processes or inline.")
]


def _version(value: bool) -> None:
    if value:
        console.print(f"maze {maze_core.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Maze: task-level distributed execution for agent workflows."""


@app.command()
def demo(
    executor: ExecutorOption = "threads",
    out: Annotated[Path | None, typer.Option(help="Where to write the report.")] = None,
    timeline: Annotated[
        Path | None,
        typer.Option(help="Write the run here as Chrome trace-event JSON (Perfetto)."),
    ] = None,
) -> None:
    """Run the quickstart example: Maze studies its own documentation in parallel."""
    quickstart = _quickstart()
    workflow = quickstart.build_workflow(out=str(out) if out else None)
    result = _run(workflow, executor, {}, timeline)
    report = result["merge"].split("\n## ")
    console.print(Markdown("\n## ".join(report[:4]) + "\n\n*...*"))
    written = result["write_report"]
    console.print(f"Full report: [bold]{written['path']}[/] ({written['bytes']:,} bytes)")


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="FILE.py:NAME or package.module:NAME")],
    executor: ExecutorOption = "threads",
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="A workflow input, NAME=VALUE (VALUE as JSON if it parses)."
        ),
    ] = None,
    timeline: Annotated[
        Path | None,
        typer.Option(help="Write the run here as Chrome trace-event JSON (Perfetto)."),
    ] = None,
) -> None:
    """Run a Workflow defined in a file or module and print its outputs and timings."""
    from maze_core.loading import load_workflow

    try:
        workflow = load_workflow(target)
        inputs = dict(_parse_input(item) for item in input_ or [])
    except MazeError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    result = _run(workflow, executor, inputs, timeline)
    for task_id, value in result.outputs.items():
        console.print(f"[bold]{task_id}[/] = {_short(value)}")


@app.command()
def sim(
    policy: Annotated[str, typer.Option(help="Scheduling policy to simulate.")] = "daps",
    workload: Annotated[
        str, typer.Option(help="exp1 (Poisson phases), batched, or replay:EXP/SETTING.")
    ] = "exp1",
    load: Annotated[float, typer.Option(help="Arrival rate multiplier.")] = 1.0,
    nodes: Annotated[int, typer.Option(help="Nodes (16 CPUs, 128 GiB, one 80 GiB GPU each).")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the workload and durations.")] = 0,
    predictor: Annotated[
        str,
        typer.Option(help="Predicted durations: malearn, oracle, noisy, median, defaults."),
    ] = "malearn",
    compare: Annotated[
        str | None, typer.Option(help="Comma-separated policies to run on the same workload.")
    ] = None,
    model_load_s: Annotated[
        float | None,
        typer.Option(help="Seconds to load a model where it is not resident (default: trace's)."),
    ] = None,
    ablate: Annotated[
        str | None,
        typer.Option(help="Comma-separated mechanisms to switch off: aging, affinity."),
    ] = None,
    trace_dir: Annotated[
        Path | None, typer.Option(help="Trace folder (default: ../shared/traces if present).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
    timeline: Annotated[
        Path | None,
        typer.Option(help="Write the first policy's run here as Chrome trace-event JSON."),
    ] = None,
) -> None:
    """Simulate scheduling policies on the published Maze workload, in virtual time."""
    from maze_core.sim.engine import ClusterSpec, SimConfig
    from maze_core.sim.report import policy_table
    from maze_core.sim.trace import load_workload_source
    from maze_core.timeline import write_trace

    policies = [p.strip() for p in compare.split(",")] if compare else [policy]
    config = SimConfig(
        policy=policies[0],
        workload=workload,
        load=load,
        seed=seed,
        cluster=ClusterSpec(nodes=nodes),
        predictor=predictor,
        model_load_s=model_load_s,
        ablate=tuple(a.strip() for a in ablate.split(",")) if ablate else (),
    )
    try:
        trace = load_workload_source(trace_dir)
        runs = _simulate_all(trace, config, policies)
    except MazeError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    results = {policy: run.summary() for policy, run in runs.items()}
    console.print(policy_table(results, config.title()))
    console.print(f"[dim]workload source: {trace.source}[/]")
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2))
    if timeline is not None:
        write_trace(timeline, runs[policies[0]].timeline)
        console.print(f"timeline of {policies[0]}: {timeline} (virtual seconds)")


def _simulate_all(trace: Any, config: Any, policies: list[str]) -> dict[str, Any]:
    """Each policy on the workload, with a live bar of simulated workflows done per policy."""
    from dataclasses import replace

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from maze_core.sim.engine import arrivals, simulate

    total = len(arrivals(trace, config))
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    runs = {}
    with Progress(*columns, console=console, transient=True) as bars:
        for policy in policies:
            bar = bars.add_task(f"simulating {policy}", total=total)
            done = functools.partial(lambda bar, n: bars.update(bar, completed=n), bar)
            runs[policy] = simulate(trace, replace(config, policy=policy), done)
    return runs


@app.command("timeline")
def timeline_command(
    trace: Annotated[Path, typer.Argument(help="A timeline written by --timeline.")],
    png: Annotated[Path, typer.Option(help="Where to draw the Gantt chart.")],
    title: Annotated[str | None, typer.Option(help="The chart's title.")] = None,
) -> None:
    """Draw a timeline (of `maze run`, `maze sim` or RunResult.timeline) as a Gantt chart."""
    from maze_core.timeline import gantt, read_trace

    try:
        slices = read_trace(trace)
        gantt(slices, png, title)
    except MazeError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    span = max((s.end for s in slices), default=0.0) - min((s.start for s in slices), default=0.0)
    nodes = len({s.node for s in slices})
    console.print(
        f"{png}: {len(slices)} tasks on {nodes} node{'s' * (nodes != 1)} over {span:.2f} s"
    )


app.command()(start)
app.command()(status)
app.command()(stop)

predictor_app = typer.Typer(help="MaLearn, the duration predictor.", no_args_is_help=True)
app.add_typer(predictor_app, name="predictor")


@predictor_app.command("eval")
def predictor_eval(
    test: Annotated[Path, typer.Option(help="Trace folder to evaluate on (tasks.csv.gz).")],
    train: Annotated[Path | None, typer.Option(help="Trace folder to warm up on first.")] = None,
    dev: Annotated[
        bool,
        typer.Option(
            help="The development protocol: train on exp1/3/6 of --test, judge on exp2/4."
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
) -> None:
    """Evaluate MaLearn prequentially on a trace (predict at start, learn at finish), beside
    the original system's predictions, a per-tool EWMA and a per-tool median of 16."""
    from maze_core.predict.evaluate import evaluate, load_rows, load_split
    from maze_core.predict.report import evaluation_table, remaining_table

    for folder in (test, train):
        if folder is not None and not (folder / "tasks.csv.gz").is_file():
            console.print(
                f"[red]error:[/] {folder} has no tasks.csv.gz (a ../shared/traces layout)"
            )
            raise typer.Exit(2)
    with console.status("replaying the trace..."):
        if dev:
            warm_up, rows = load_split(test)
            figures = evaluate(rows, warm_up + (load_rows(train) if train else []))
        else:
            figures = evaluate(load_rows(test), load_rows(train) if train else ())
    console.print(evaluation_table(figures, f"MaLearn on {test}{' (dev split)' * dev}"))
    console.print(
        remaining_table(figures, "Remaining work of a run, at each task's finish (MAE s)")
    )
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2))


@predictor_app.command("show")
def predictor_show() -> None:
    """What MaLearn has learned on this machine (from $MAZE_HOME/history.sqlite3)."""
    from rich.table import Table

    from maze_core.predict.kinds import KindLearner
    from maze_core.predict.store import HistoryStore

    store = HistoryStore()
    try:
        models = store.load_models()
        kinds = KindLearner()
        kinds.restore(store.load_kinds())
    finally:
        store.close()
    table = Table(title=f"MaLearn models in {store.path}", title_justify="left")
    for column in ("tool", "kind", "samples", "serving", "recent error (x)"):
        table.add_column(column)
    for name, model in sorted(models.items()):
        champion = model.champion() if model.count >= 5 else "median"
        error = model.errors.get(champion)
        shown = f"{math.exp(error):.2f}" if error is not None else ""
        table.add_row(name, model.kind, str(model.count), champion, shown)
    console.print(table if models else "No models yet: run some workflows first.")
    placed = Table(title="Where calls run (learned kinds)", title_justify="left")
    for column in ("call", "learned kind", "runs in", "calls judged"):
        placed.add_column(column)
    for name, (kind, count) in sorted(kinds.known().items()):
        where = "workers" if kind == "cpu" else "the caller"
        placed.add_row(name, kind or "not yet", where, str(count))
    if kinds.known():
        console.print(placed)


def _run(
    workflow: Any, executor: str, inputs: dict[str, Any], timeline: Path | None = None
) -> RunResult:
    from maze_core.progress import Progress
    from maze_core.report import timing_table
    from maze_core.run.local.runtime import LocalRuntime

    if executor not in ("threads", "processes", "inline"):
        console.print(
            f"[red]error:[/] unknown executor {executor!r}; use threads, processes or inline"
        )
        raise typer.Exit(2)
    progress = Progress()
    with LocalRuntime(executor, plugins=[progress]) as runtime:  # type: ignore[arg-type]
        try:
            handle = runtime.submit(workflow, **inputs)
        except MazeError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        with progress.live(console):
            result = handle.result()
    console.print(timing_table(result))
    if timeline is not None:
        result.timeline(timeline)
        console.print(f"timeline: {timeline} (open it in https://ui.perfetto.dev)")
    if not result.ok:
        for task_id, error in result.errors.items():
            console.print(f"[red]{task_id} failed:[/] {error}")
        raise typer.Exit(1)
    return result


def _quickstart() -> ModuleType:
    """The quickstart module: packaged in the wheel, or examples/ of a source checkout."""
    package = Path(maze_core.__file__).parent
    for path in (
        package / "_examples" / "quickstart.py",
        package.parent / "examples" / "quickstart.py",
    ):
        if path.is_file():
            spec = importlib.util.spec_from_file_location("maze_quickstart", path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise ValidationError(
        "the quickstart example is not installed",
        fix="reinstall: pip install --force-reinstall maze-agents",
    )


def _parse_input(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep or not name:
        raise ValidationError(
            f"--input {item!r} is not NAME=VALUE",
            fix="write it as --input name=value",
            culprit=item,
        )
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main() -> None:
    """Entry point of the ``maze`` console script."""
    app()
