"""Server mode: one Ray cluster, one Maze scheduler that every client of it shares.

``maze start --head`` starts a Ray head and, inside the cluster, the scheduler service: a
detached named actor (``maze/scheduler``) holding a :class:`RayRuntime`. Clients that join
the cluster (``RayRuntime(address="auto")``) find it and submit to it, so the runs of all
clients are ordered in one queue by one policy, instead of each client scheduling its own
runs blind to the others. ``maze start --address HEAD:PORT`` adds this machine as a worker
node; ``maze stop`` stops the Ray processes ``maze start`` started on this machine (the
pids it recorded, still carrying their session's name, and the processes they started
since: never another Ray on the same machine, unlike ``ray stop``, nor a process that
merely mentions the session, such as a ``tail -f`` of its log);
``maze status`` asks the service for nodes, queues and running tasks.

Ray's processes listen on the machine's network interfaces whatever address they are given
(Ray 2.60 resolves a loopback address to the node's own IP), so ``--host`` only chooses the
address Ray advertises, and a head starts with token authentication (see
:mod:`maze_core.run.ray.access` and docs/security.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from maze_core.errors import MazeError, ValidationError, missing_dependency
from maze_core.predict.store import default_home, private_file
from maze_core.run.ray.access import (
    check_reachable,
    connect_error,
    head_auth,
    host_port,
    loopback_env,
    on_loopback,
    token_mode,
    use_ray_token,
)
from maze_core.run.ray.service import NAMESPACE, SERVICE, SchedulerService, find_service

__all__ = [
    "start_head",
    "start_worker",
    "status",
    "stop",
]

MAX_WAITING = 100_000  # runs the shared scheduler's clients may wait for at once

# -- processes --------------------------------------------------------------------------------


def start_head(
    port: int = 6379,
    host: str = "127.0.0.1",
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    policy: str = "daps",
    *,
    insecure: bool = False,
    temp_dir: str | None = None,
    ray_args: Sequence[str] = (),
) -> tuple[str, str]:
    """Start a Ray head on this machine and the scheduler service in it, with token
    authentication unless ``insecure``; return the address clients and workers use and
    a line on the token. ``temp_dir`` is Ray's folder for its sessions, logs and sockets
    (default: the system's temporary folder); ``ray_args`` go to ``ray start`` as they are
    (its other ports: ``--min-worker-port=...``, ``--node-manager-port=...``)."""
    _check_port(port)
    auth, note = head_auth(insecure)
    args = [*_resource_args(num_cpus, num_gpus), *ray_args]
    if temp_dir is not None:
        args.append(f"--temp-dir={Path(temp_dir).resolve()}")
    with _one_at_a_time():
        return _start_head(port, host, args, policy, auth), note


def _resource_args(num_cpus: int | None, num_gpus: int | None) -> list[str]:
    args = []
    if num_cpus is not None:
        args.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        args.append(f"--num-gpus={num_gpus}")
    return args


def _start_head(port: int, host: str, extra: list[str], policy: str, auth: dict[str, str]) -> str:
    if connect_error(host, port) is None:
        raise MazeError(
            f"something already listens on {host}:{port}",
            fix="`maze status` shows a Maze cluster there; `maze stop` stops it, or choose"
            " another --port",
            culprit=f"{host}:{port}",
        )
    args = ["--head", f"--port={port}", f"--node-ip-address={host}"]
    args += ["--include-dashboard=false", "--disable-usage-stats", *extra]
    _ray_start(args, {**auth, **loopback_env(host)})  # on loopback, Ray listens there only
    address = f"{host}:{port}"
    session = _session_of(port=port)
    _remember(session, address, head=True)
    if "ray" not in sys.modules:
        os.environ.update(auth)  # this process joins it to start the service
    _start_service(address, policy)
    return address


def start_worker(
    address: str,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    ray_args: Sequence[str] = (),
) -> str:
    """Join this machine to the cluster at ``address`` as a worker node (``ray_args`` go
    to ``ray start`` as they are)."""
    args = [f"--address={address}", "--disable-usage-stats"]
    args += [*_resource_args(num_cpus, num_gpus), *ray_args]
    with _one_at_a_time():
        _ray_start(args, {**token_mode(), **loopback_env(host_port(address)[0])})
        _remember(_session_of(gcs_address=address), address, head=False)
    return address


def stop(grace_s: float = 5.0) -> list[int]:
    """Stop the Ray processes of the sessions ``start`` started here; return their pids."""
    state = _load_state()
    stopped: list[int] = []
    for entry in state.get("sessions", []):
        pids = _recorded(entry) if "pids" in entry else _pids_with(entry["session"])
        _terminate(pids, grace_s)
        stopped += pids
    _state_path().unlink(missing_ok=True)
    return stopped


def status(address: str | None = None) -> dict[str, Any]:
    """The service's view of the cluster (or Ray's, when there is no service)."""
    snapshots = watch(address)
    try:
        return next(snapshots)
    finally:
        snapshots.close()


def watch(address: str | None = None, every: float = 0.0) -> Generator[dict[str, Any], None, None]:
    """:func:`status` again and again, ``every`` seconds apart, on one connection."""
    address = address or _load_state().get("address")
    if not address:
        raise MazeError(
            "no cluster was started with `maze start` on this machine",
            fix="start one with `maze start --head`, or name it: maze status --address HOST:PORT",
            culprit="maze status",
        )
    check_reachable(address)
    ray = _ray()
    try:
        with on_loopback(address):
            ray.init(
                address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR"
            )
    except ConnectionError as exc:
        raise MazeError(
            f"no Ray cluster answers at {address}: {exc}",
            fix="start it with `maze start --head`, or check the address and the Ray token",
            culprit=address,
        ) from None
    try:
        while True:
            yield _snapshot(ray, address)
            time.sleep(every)
    finally:
        ray.shutdown()


def _snapshot(ray: Any, address: str) -> dict[str, Any]:
    service = find_service(ray)
    if service is not None:
        return {"address": address, "service": True, **ray.get(service.status.remote())}
    nodes = [{"node": n["NodeID"], "resources": n["Resources"]} for n in ray.nodes() if n["Alive"]]
    return {"address": address, "service": False, "nodes": nodes}


# -- helpers ---------------------------------------------------------------------------------


def _ray() -> Any:
    use_ray_token()
    try:
        import ray
    except ImportError:
        raise missing_dependency("ray", "ray") from None
    return ray


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """Serialise ``maze start`` on this machine (two at once would race for the port and
    for the state file): an exclusive lock on ``$MAZE_HOME/server.lock``."""
    import fcntl

    with open(private_file(default_home() / "server.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_port(port: int) -> None:
    if not 1024 <= port <= 65535:
        raise ValidationError(
            f"port {port} is out of range",
            fix="choose a port between 1024 and 65535",
            culprit=port,
        )


def _ray_start(args: list[str], auth: dict[str, str] | None = None) -> None:
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    command = [ray_cli] if ray_cli else [sys.executable, "-m", "ray.scripts.scripts"]
    env = {**os.environ, **(auth if auth is not None else token_mode())}  # a joining node too
    done = subprocess.run(
        [*command, "start", *args], capture_output=True, text=True, env=env, cwd=_workdir()
    )
    if done.returncode != 0:
        raise MazeError(
            f"`ray start {' '.join(args)}` failed:\n{(done.stderr or done.stdout)[-2000:]}",
            fix="read Ray's message above; a port in use means a cluster is already running"
            " there (maze status), or choose another --port",
            culprit="ray start",
        )


def _workdir() -> Path:
    """The folder Ray's processes of ``maze start`` run in (``$MAZE_HOME/ray-work``): not
    the folder ``maze start`` was typed in, whose files would otherwise be every worker's
    working directory and shadow its imports."""
    path = default_home() / "ray-work"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextlib.contextmanager
def _away_from_cwd() -> Iterator[None]:
    """Connect from :func:`_workdir`, without this process's folder on the import path,
    which Ray hands to the workers of the job it starts (the scheduler service's)."""
    here, path = os.getcwd(), list(sys.path)
    sys.path[:] = [p for p in path if p not in ("", here)]
    try:
        with contextlib.chdir(_workdir()):
            yield
    finally:
        sys.path[:] = path


def _start_service(address: str, policy: str) -> None:
    """Create the detached scheduler actor (idempotent) and wait until it answers."""
    ray = _ray()
    with _away_from_cwd(), on_loopback(address):
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")
    try:
        service = (
            ray.remote(SchedulerService)
            .options(
                name=SERVICE,
                namespace=NAMESPACE,
                lifetime="detached",
                get_if_exists=True,
                num_cpus=0,
                max_concurrency=MAX_WAITING,  # coroutines: one per run a client waits for
            )
            .remote(policy)
        )
        ray.get(service.ping.remote(), timeout=120)
    finally:
        ray.shutdown()


def _cmdlines() -> dict[int, str]:
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                raw = (entry / "cmdline").read_bytes()
                lines[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return lines


def _session_of(port: int | None = None, gcs_address: str | None = None) -> str:
    """The session name of the Ray processes just started (read from their command lines:
    the one thing that tells them apart from another Ray on this machine)."""
    if port is not None:
        marker = re.compile(rf"--gcs_server_port={port}\b")
    else:  # Ray may write the head's host as another of its addresses: match the port
        marker = re.compile(rf"gcs-address=\S+:{(gcs_address or '').rsplit(':', 1)[-1]}\b")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in _cmdlines().values():
            if marker.search(line) and "--session-name=" in line:
                return line.split("--session-name=", 1)[1].split()[0]
        time.sleep(0.2)
    raise MazeError(
        "Ray started, but its processes could not be found to remember them",
        fix="stop it with `ray stop` (this stops every Ray on the machine)",
        culprit="ray start",
    )


def _pids_with(session: str) -> list[int]:
    me = os.getpid()
    return [pid for pid, line in _cmdlines().items() if session in line and pid != me]


def _recorded(entry: dict[str, Any]) -> list[int]:
    """The pids ``maze start`` recorded for a session that still are its processes (a pid
    reused by another program no longer names the session), with their descendants."""
    lines = _cmdlines()
    roots = [pid for pid in entry["pids"] if entry["session"] in lines.get(pid, "")]
    return roots + descendants(roots, _parents())


def descendants(roots: list[int], parents: dict[int, int]) -> list[int]:
    """Every process below ``roots`` in the tree ``parents`` (pid -> parent pid)."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found and child not in roots:
                found.append(child)
                stack.append(child)
    return found


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(") ", 1)[1].split()[1])
    return parents


def _terminate(pids: list[int], grace_s: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _state_path() -> Path:
    return default_home() / "server.json"


def _load_state() -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return {}
    return state


def _remember(session: str, address: str, head: bool) -> None:
    """Note the session ``maze start`` just started and the pids of its processes."""
    state = _load_state()
    entry = {"session": session, "head": head, "pids": _pids_with(session)}
    state.setdefault("sessions", []).append(entry)
    state["address"] = address
    path = private_file(_state_path())
    path.write_text(json.dumps(state, indent=2))
