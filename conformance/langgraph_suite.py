"""LangGraph's own test suite, run plain and with every compiled graph distributed.

Plain is the specification: a test that passes plain and fails distributed is a place where
``distribute()`` changes what a LangGraph user sees. The tests are those of the installed
LangGraph's source distribution (its ``tests/`` folder; the public repository may lag the
release), fetched once into ``~/.cache/maze``. Each test file runs in its own pytest process,
``--jobs`` at a time, without docker (in-memory and sqlite checkpointers, as LangGraph's
``NO_DOCKER=true`` does). The distributed side differs only in ``MAZE_SUITE_RUNTIME``, which
makes ``maze_distribute_plugin`` wrap ``StateGraph.compile`` and ``@entrypoint``.

The suite needs LangGraph's test dependencies beside Maze's:

    pip install -e ".[dev,conformance]"
    python conformance/langgraph_suite.py [--runtime processes|threads|ray] [--jobs 2]
        [--files 'test_retry*'] [--kinds cpu] [--json OUT]

Not in the default CI run (it takes tens of minutes); tests/adapters keeps a fast subset.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "maze"


@dataclass
class FileRun:
    """One test file's run: each test's outcome, the wall seconds and pytest's last line."""

    outcomes: dict[str, str] = field(default_factory=dict)
    wall: float = 0.0
    summary: str = ""
    messages: dict[str, str] = field(default_factory=dict)


def suite_source(langgraph_version: str) -> Path:
    """The folder holding ``tests/`` of this LangGraph release, downloaded on first use."""
    root = CACHE / f"langgraph-{langgraph_version}"
    if (root / "tests").is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             "-q", "-d", tmp, f"langgraph=={langgraph_version}"],
            check=True,
        )  # fmt: skip
        (archive,) = Path(tmp).glob("langgraph-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(CACHE, filter="data")
    return root


def run_file(root: Path, test_file: str, runtime: str, out: Path, timeout: float) -> FileRun:
    """Run one test file in a fresh pytest process; ``runtime=""`` runs it plain. The
    files of one side share a fresh ``MAZE_HOME`` (what Maze learns carries over from
    file to file, as on a user's machine, but not from an earlier run of the suite)."""
    report = out / f"{Path(test_file).stem}.xml"
    env = {
        **os.environ,
        "NO_DOCKER": "true",
        "MAZE_HOME": str(out / "maze-home"),
        "MAZE_SUITE_RUNTIME": runtime,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "pytest", test_file, "-p", "maze_distribute_plugin",
        "-p", "no:cacheprovider", "-q", f"--timeout={timeout:g}", f"--junitxml={report}",
    ]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout * 40
        )
        lines = (done.stdout or "").strip().splitlines()
        summary = lines[-1] if lines else f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        summary = f"killed after {timeout * 40:g} s"
    run = FileRun(wall=time.perf_counter() - start, summary=summary)
    if report.exists():
        run.outcomes, run.messages = read_junit(report)
    return run


def read_junit(report: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each test's outcome (passed, failed, skipped) and its failure's first line."""
    outcomes, messages = {}, {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcomes[name] = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcomes[name] = "failed"
                messages[name] = (
                    (child.get("message") or "").splitlines()[0][:160]
                    if (child.get("message"))
                    else ""
                )
            elif child.tag == "skipped":
                outcomes[name] = "skipped"
    return outcomes, messages


def run_side(
    root: Path, files: list[str], runtime: str, jobs: int, timeout: float
) -> tuple[dict[str, FileRun], float]:
    """Every file on one side (plain or distributed) and the side's wall seconds."""
    out = Path(tempfile.mkdtemp(prefix=f"maze-suite-{runtime or 'plain'}-"))
    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        runs = pool.map(lambda f: run_file(root, f, runtime, out, timeout), files)
        by_file = dict(zip(files, runs, strict=True))
    return by_file, time.perf_counter() - start


def compare(plain: dict[str, FileRun], dist: dict[str, FileRun]) -> dict[str, object]:
    """Per file: tests passing plain, of those passing distributed, and each regression."""
    files, regressions = {}, {}
    for test_file, plain_run in plain.items():
        passing = [n for n, s in plain_run.outcomes.items() if s == "passed"]
        dist_run = dist[test_file]
        lost = [n for n in passing if dist_run.outcomes.get(n) != "passed"]
        files[test_file] = {
            "plain_passed": len(passing),
            "distributed_passed": len(passing) - len(lost),
            "plain_wall_s": round(plain_run.wall, 1),
            "distributed_wall_s": round(dist_run.wall, 1),
            "distributed_summary": dist_run.summary,
        }
        for name in lost:
            regressions[name] = dist_run.messages.get(name) or dist_run.outcomes.get(
                name, f"not reported ({dist_run.summary})"
            )
    return {"files": files, "regressions": regressions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="processes", choices=("processes", "threads", "ray"))
    parser.add_argument("--jobs", type=int, default=2, help="test files run at once")
    parser.add_argument("--files", default="test_*.py", help="glob of test files to run")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per test")
    parser.add_argument("--source", type=Path, help="a folder holding LangGraph's tests/")
    parser.add_argument("--json", help="write the counts and every regression to this file")
    parser.add_argument(
        "--kinds", choices=("cpu",), help="cpu: every node in workers (default: as learned)"
    )
    args = parser.parse_args()
    if args.kinds:
        os.environ["MAZE_SUITE_KINDS"] = args.kinds

    langgraph_version = version("langgraph")
    root = args.source or suite_source(langgraph_version)
    files = sorted(
        f"tests/{p.name}" for p in (root / "tests").glob("test_*.py")
        if fnmatch.fnmatch(p.name, args.files)
    )  # fmt: skip
    plain, plain_wall = run_side(root, files, "", args.jobs, args.timeout)
    dist, dist_wall = run_side(root, files, args.runtime, args.jobs, args.timeout)
    result = compare(plain, dist)
    files_table: dict[str, dict[str, object]] = result["files"]  # type: ignore[assignment]
    regressions: dict[str, str] = result["regressions"]  # type: ignore[assignment]
    plain_passed = sum(int(f["plain_passed"]) for f in files_table.values())  # type: ignore[call-overload]
    kept = plain_passed - len(regressions)
    result.update(
        langgraph=langgraph_version,
        runtime=args.runtime,
        plain_passed=plain_passed,
        distributed_passed=kept,
        share=round(kept / plain_passed, 4) if plain_passed else None,
        plain_wall_s=round(plain_wall, 1),
        distributed_wall_s=round(dist_wall, 1),
    )
    report(result, files_table, regressions)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def report(result: dict, files: dict[str, dict], regressions: dict[str, str]) -> None:
    console = Console()
    table = Table(
        title=f"LangGraph {result['langgraph']} tests: plain vs distributed on {result['runtime']}"
    )
    for column in ("file", "plain passed", "distributed passed", "lost", "wall plain/dist s"):
        table.add_column(column, justify="left" if column == "file" else "right", no_wrap=True)
    for name, row in files.items():
        lost = row["plain_passed"] - row["distributed_passed"]
        if lost:
            counts = (row["plain_passed"], row["distributed_passed"], lost)
            walls = f"{row['plain_wall_s']}/{row['distributed_wall_s']}"
            table.add_row(name.removeprefix("tests/"), *map(str, counts), walls)
    console.print(table)
    causes = collections.Counter(message.split(":")[0][:80] for message in regressions.values())
    for cause, count in causes.most_common(15):
        console.print(f"{count:5d}  {cause}")
    console.print(
        f"plain passed {result['plain_passed']}, distributed kept {result['distributed_passed']}"
        f" ({100 * (result['share'] or 0):.1f}%); wall {result['plain_wall_s']} s plain,"
        f" {result['distributed_wall_s']} s distributed"
    )


if __name__ == "__main__":
    main()
