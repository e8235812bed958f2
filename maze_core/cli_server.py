"""``maze start``, ``maze status`` and ``maze stop``: the commands of server mode (see
:mod:`maze_core.run.ray.server`), registered on the ``maze`` app by :mod:`maze_core.cli`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from maze_core.console import console
from maze_core.errors import MazeError

__all__ = ["start", "status", "stop"]


def start(
    head: Annotated[bool, typer.Option("--head", help="Start a head node here.")] = False,
    address: Annotated[
        str | None, typer.Option(help="Join the cluster at HEAD:PORT as a worker node.")
    ] = None,
    port: Annotated[int, typer.Option(help="The head's port.")] = 6379,
    host: Annotated[str, typer.Option(help="The address the head advertises.")] = "127.0.0.1",
    num_cpus: Annotated[int | None, typer.Option(help="CPUs to offer (default: all).")] = None,
    num_gpus: Annotated[int | None, typer.Option(help="GPUs to offer (default: all).")] = None,
    policy: Annotated[str, typer.Option(help="The shared scheduler's policy.")] = "daps",
    insecure: Annotated[
        bool, typer.Option(help="Start the head without token authentication (trusted networks).")
    ] = False,
    temp_dir: Annotated[
        str | None, typer.Option(help="Ray's folder for sessions, logs and sockets (head).")
    ] = None,
    ray_arg: Annotated[
        list[str] | None,
        typer.Option(
            help="An option for `ray start`, as is (repeatable): --ray-arg=--min-worker-port=20000."
        ),
    ] = None,
) -> None:
    """Start server mode: a Ray head with the shared Maze scheduler, or a worker node."""
    from maze_core.run.ray import server
    from maze_core.run.ray.access import is_loopback

    if head == (address is not None):
        console.print("[red]error:[/] give either --head or --address HEAD:PORT")
        raise typer.Exit(2)
    if head and insecure and not is_loopback(host):
        console.print(
            f"[yellow]warning:[/] the head advertises {host} without a token: anyone who can"
            " reach its ports can run code on it (see docs/security.md)"
        )
    note = ""
    try:
        with console.status("starting Ray..."):
            if head:
                where, note = server.start_head(
                    port,
                    host,
                    num_cpus,
                    num_gpus,
                    policy,
                    insecure=insecure,
                    temp_dir=temp_dir,
                    ray_args=ray_arg or (),
                )
            else:
                where = server.start_worker(address or "", num_cpus, num_gpus, ray_arg or ())
    except MazeError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None
    role = "head with the shared Maze scheduler" if head else "worker node"
    console.print(f"started a {role} at {where}" + (f"; {note}" if note else ""))
    if head:
        console.print(
            f"clients: RayRuntime(address={where!r}); workers: maze start --address {where}"
        )


def status(
    address: Annotated[
        str | None, typer.Option(help="HEAD:PORT (default: what maze start recorded).")
    ] = None,
    watch: Annotated[bool, typer.Option(help="Refresh until interrupted (Ctrl-C).")] = False,
    every: Annotated[float, typer.Option(help="Seconds between refreshes with --watch.")] = 1.0,
) -> None:
    """Nodes, resources, queued tasks per kind, running tasks and predictor error."""
    from rich.live import Live

    from maze_core.run.ray import server

    try:
        if not watch:
            console.print(_status_view(server.status(address)))
            return
        states = server.watch(address, every)
        first = next(states)
        view = _status_view(first)
        with Live(view, console=console, refresh_per_second=4, redirect_stderr=False) as live:
            typer.echo(f"watching Maze at {first['address']}; Ctrl-C to stop", err=True)
            for state in states:
                live.update(_status_view(state))
    except MazeError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        return


def _status_view(state: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table

    if not state["service"]:
        lines = [f"Ray at {state['address']} has no shared Maze scheduler; its nodes:"]
        lines += [f"  {node['node'][:12]}  {node['resources']}" for node in state["nodes"]]
        return "\n".join(lines)
    table = Table(title=f"Maze at {state['address']}", title_justify="left")
    for column in ("node", "CPUs busy", "GPUs busy", "models", "running"):
        table.add_column(column)
    for node in state["nodes"]:
        table.add_row(
            node["node"][:12],
            f"{node['cpus_busy']:g} / {node['cpus']:g}",
            f"{node['gpus_busy']:g} / {node['gpus']}",
            ", ".join(node["models"]),
            ", ".join(node["running"][:5]) + (" ..." if len(node["running"]) > 5 else ""),
        )
    queued = ", ".join(f"{kind} {n}" for kind, n in sorted(state["queued"].items())) or "none"
    parts: list[Any] = [table, f"active runs: {state['active_runs']}; queued tasks: {queued}"]
    learned = [row for row in state.get("predictor", []) if row["error"] is not None]
    if learned:
        worst = sorted(learned, key=lambda row: -row["error"])[:5]
        parts.append(
            "predictor |log error| (worst tools): "
            + ", ".join(f"{r['tool']} {r['error']:.2f} ({r['serving']})" for r in worst)
        )
    return Group(*parts)


def stop() -> None:
    """Stop the Ray processes `maze start` started on this machine (no other Ray)."""
    from maze_core.run.ray import server

    stopped = server.stop()
    console.print(f"stopped {len(stopped)} processes" if stopped else "nothing to stop")
