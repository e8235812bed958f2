"""Server mode: `maze start/status/stop` on loopback, and a client using the shared queue."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from maze_core.run.ray.access import is_loopback

CLIENT = textwrap.dedent("""
    import sys
    from maze_core import InfeasibleResourcesError, Resources, Workflow, tool
    from maze_core.run.ray import RayRuntime

    @tool
    def square(x: int) -> int:
        return x * x

    runtime = RayRuntime(address=sys.argv[1])
    assert runtime.service is not None, "the client did not find the shared scheduler"
    assert runtime.predictor is None and not runtime.scheduler.nodes, "a client schedules"
    wf = Workflow("client")
    refs = [wf.add(square, i) for i in range(5)]
    handles = [runtime.submit(wf) for _ in range(3)]  # the graph travels once
    results = [handle.result(timeout=120) for handle in handles]
    assert all(result.run_id == handle.run_id for result, handle in zip(results, handles))
    print("client ok", [results[-1][ref] for ref in refs])
    single = Workflow("single")
    one = single.add(square, single.input("x"))
    many = [runtime.submit(single, x=i) for i in range(300)]  # all waiting at once
    assert [handle.result(timeout=300)[one] for handle in many] == [i * i for i in range(300)]
    print("many ok")

    @tool
    def nap(seconds: float) -> float:
        import time
        time.sleep(seconds)
        return seconds

    slow = Workflow("slow")
    slow.add(nap, 60.0)
    handle = runtime.submit(slow)
    handle.cancel("the client changed its mind")
    assert handle.result(timeout=60).status == "cancelled"
    print("cancel ok")

    @tool(resources=Resources(cpus=64))
    def huge() -> None:
        pass

    @tool
    def where() -> tuple:
        import importlib.util
        import os
        return os.getcwd(), importlib.util.find_spec("maze_probe") is not None

    probe = Workflow("where")
    ref = probe.add(where)
    print("where", *runtime.submit(probe).result(timeout=60)[ref])
    impossible = Workflow("impossible")
    impossible.add(huge)
    try:
        runtime.submit(impossible).result(timeout=60)
    except InfeasibleResourcesError as error:
        print("refused ok", "64" in str(error))
    runtime.close()
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def maze(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "maze_core", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, cwd=cwd)


def session_processes(home: Path) -> list[str]:
    sessions = [s["session"] for s in json.loads((home / "server.json").read_text())["sessions"]]
    return [line for session in sessions for line in session_processes_named(session)]


@pytest.mark.slow
def test_start_status_client_and_stop_on_loopback(tmp_path):
    pytest.importorskip("ray")
    home = tmp_path / "home"  # a machine where Ray has no token of its own
    home.mkdir()
    env = {**clean_env(), "HOME": str(home), "MAZE_HOME": str(tmp_path), "COLUMNS": "200"}
    port = free_port()
    ray_dir = tempfile.mkdtemp(prefix="mz")  # short: Ray's socket paths must fit 107 bytes
    project = tmp_path / "project"  # the folder `maze start` is typed in, with its modules
    project.mkdir()
    (project / "maze_probe.py").write_text("")
    started = maze(
        "start",
        "--head",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--temp-dir",
        ray_dir,
        env=env,
        cwd=project,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr[-3000:]
        assert "shared Maze scheduler" in started.stdout
        assert list(Path(ray_dir).glob("session_*")), "Ray did not use the --temp-dir"
        assert ((tmp_path / "server.json").stat().st_mode & 0o777) == 0o600
        assert ((tmp_path / "ray_auth_token").stat().st_mode & 0o777) == 0o600
        assert str(tmp_path / "ray_auth_token") in started.stdout
        processes = session_processes(tmp_path)
        assert processes, "maze start left no trace of the Ray it started"
        exposed = [a for a in listening(session_pids(tmp_path)) if not is_loopback(a)]
        assert not exposed, f"Ray listens beyond loopback: {exposed}"  # was every interface
        client = tmp_path / "client.py"
        client.write_text(CLIENT)
        ran = subprocess.run(
            [sys.executable, str(client), f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )
        assert "client ok [0, 1, 4, 9, 16]" in ran.stdout, ran.stdout + ran.stderr[-3000:]
        assert "many ok" in ran.stdout, ran.stdout + ran.stderr[-3000:]
        assert "cancel ok" in ran.stdout, ran.stdout + ran.stderr[-3000:]
        assert "refused ok True" in ran.stdout, ran.stdout + ran.stderr[-3000:]
        (line,) = [x for x in ran.stdout.splitlines() if x.startswith("where ")]
        _, cwd, importable = line.split()
        assert cwd != str(project), line
        assert importable == "False", line
        elsewhere = tmp_path / "elsewhere"  # a machine without the head's token
        elsewhere.mkdir()
        refused = subprocess.run(
            [sys.executable, str(client), f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            env={**env, "HOME": str(elsewhere), "MAZE_HOME": str(elsewhere)},
            timeout=240,
        )
        assert refused.returncode != 0
        assert "RAY_AUTH_TOKEN_PATH" in refused.stderr, refused.stderr[-3000:]
        shown = maze("status", env=env)
        assert shown.returncode == 0, shown.stderr[-3000:]
        assert "active runs: 0" in shown.stdout
        assert "0 / 2" in shown.stdout  # the head's CPUs, none busy
        watching = subprocess.Popen(
            [sys.executable, "-m", "maze_core", "status", "--watch", "--every", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        err = wait_for_line(watching.stderr, "watching Maze at")  # connected: Ctrl-C now
        watching.send_signal(signal.SIGINT)
        out, rest = watching.communicate(timeout=60)
        err += rest
        assert watching.returncode == 0, err[-3000:]
        assert "active runs: 0" in out
        session = json.loads((tmp_path / "server.json").read_text())["sessions"][0]["session"]
        bystander = subprocess.Popen(  # say, a `tail -f` of the session's log
            [sys.executable, "-c", "import time; time.sleep(600)", session]
        )
    finally:
        stopped = maze("stop", env=env)
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not (tmp_path / "server.json").exists()
    assert bystander.poll() is None, "maze stop killed a process that only named the session"
    bystander.kill()
    bystander.wait()
    assert not [line for line in session_processes_named(session) if "time.sleep" not in line]


def session_pids(home: Path) -> set[int]:
    sessions = [s["session"] for s in json.loads((home / "server.json").read_text())["sessions"]]
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if any(session.encode() in line for session in sessions):
                pids.add(int(entry.name))
    return pids


def listening(pids: set[int]) -> list[str]:
    """The addresses the TCP sockets of ``pids`` listen on (Linux's /proc)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    found.append(_address(fields[1].split(":")[0]))
    return found


def _address(hexed: str) -> str:
    """An address of /proc/net/tcp{,6} (words in host order, little-endian here)."""
    raw = bytes.fromhex(hexed)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def clean_env() -> dict[str, str]:
    """This environment without Ray's authentication settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}


def session_processes_named(session: str) -> list[str]:
    """The command lines of the processes that mention ``session``."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if session in line:
                lines.append(line)
    return lines


def test_stop_follows_the_process_tree_down_from_what_start_recorded():
    from maze_core.run.ray.server import descendants

    parents = {10: 1, 11: 10, 12: 11, 20: 1, 21: 20, 30: 12}
    assert sorted(descendants([10], parents)) == [11, 12, 30]
    assert descendants([99], parents) == []


def wait_for_line(stream, marker: str, timeout: float = 90.0) -> str:
    """What ``stream`` printed up to the line containing ``marker``, read on a thread that
    stops there (a process that never prints it fails the test instead of hanging it)."""
    import queue
    import threading

    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
            if marker in line:
                return

    threading.Thread(target=read, daemon=True).start()
    seen = ""
    while marker not in seen:
        seen += lines.get(timeout=timeout)
    return seen


def test_loopback_addresses_are_recognised():
    assert is_loopback("127.0.0.1")
    assert is_loopback("localhost")
    assert is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.0.2.7")


def test_status_without_a_cluster_says_how_to_start_one(tmp_path):
    env = {**os.environ, "MAZE_HOME": str(tmp_path)}
    shown = maze("status", env=env)
    assert shown.returncode == 1
    assert "maze start --head" in shown.stdout


@pytest.mark.slow
def test_two_maze_starts_at_once_give_one_cluster_and_one_clear_error(tmp_path):
    pytest.importorskip("ray")
    env = {**os.environ, "MAZE_HOME": str(tmp_path), "COLUMNS": "200"}
    port = str(free_port())
    command = [sys.executable, "-m", "maze_core", "start", "--head", "--port", port]
    starts = [
        subprocess.Popen(
            [*command, "--num-cpus", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        outputs = [(p.wait(timeout=240), *p.communicate()) for p in starts]
        codes = sorted(code for code, _, _ in outputs)
        assert codes[0] == 0, outputs
        assert codes[1] != 0, outputs
        refused = next(out + err for code, out, err in outputs if code != 0)
        assert f"127.0.0.1:{port}" in refused
        assert "maze stop" in refused
    finally:
        maze("stop", env=env)
