"""A Ray address that cannot work is refused at once, naming it and the fix: malformed,
nothing listening, or another service listening there."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from maze_core import MazeError, ValidationError
from maze_core.run.ray.access import check_reachable, host_port, speaks_grpc


def test_an_address_without_a_port_is_not_host_port():
    with pytest.raises(ValidationError, match="'localhost' is not HOST:PORT"):
        check_reachable("localhost")
    with pytest.raises(ValidationError, match="HOST:PORT"):
        host_port("10.0.0.1:99999")
    assert host_port("ray://10.0.0.1:10001") == ("10.0.0.1", 10001)


def test_nothing_listening_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MazeError, match="no Ray cluster answers"):
        check_reachable(f"127.0.0.1:{port}")


def test_a_silent_service_is_not_taken_for_a_ray_head_and_nothing_hangs():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        with pytest.raises(MazeError, match="not a Ray cluster"):
            check_reachable(f"127.0.0.1:{silent.getsockname()[1]}", timeout=1.0)
    assert time.monotonic() - started < 10


def test_a_web_server_is_not_taken_for_a_ray_head():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(MazeError, match="not a Ray cluster"):
            check_reachable(f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()


def test_a_ray_head_answers_as_one(ray_runtime):
    import ray

    host, port = host_port(ray.get_runtime_context().gcs_address)
    assert speaks_grpc(host, port, timeout=5.0)


def test_ray_is_told_it_runs_on_one_machine_only_while_joining_or_starting_one(monkeypatch):
    """A loopback head, or an embedded Ray: Ray's single-machine switch is on while this
    process connects, so it looks for the head (and its own servers listen) on loopback;
    off again after, so a later connection elsewhere advertises the machine's address."""
    import os

    from maze_core.run.ray.access import LOOPBACK_ONLY, on_loopback

    monkeypatch.delenv(LOOPBACK_ONLY, raising=False)
    for address in (None, "127.0.0.1:6379", "localhost:6379"):
        with on_loopback(address):
            assert os.environ[LOOPBACK_ONLY] == "0"
        assert LOOPBACK_ONLY not in os.environ
    with on_loopback("10.0.0.1:6379"):
        assert LOOPBACK_ONLY not in os.environ
    monkeypatch.setenv(LOOPBACK_ONLY, "1")  # the user's own setting is theirs
    with on_loopback(None):
        assert os.environ[LOOPBACK_ONLY] == "1"
    assert os.environ[LOOPBACK_ONLY] == "1"
