"""Who may join a Ray cluster, and at which address: Ray's token authentication as Maze
sets it up (a head starts with a token; clients and workers on the machine find it), and
the checks that refuse an address that cannot work at once, naming it (see
docs/security.md and docs/server.md)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maze_core.errors import MazeError, ValidationError
from maze_core.predict.store import default_home, private_file

__all__ = [
    "check_reachable",
    "cluster_token",
    "connect_error",
    "head_auth",
    "host_port",
    "is_loopback",
    "join_error",
    "loopback_env",
    "on_loopback",
    "speaks_grpc",
    "token_mode",
    "use_ray_token",
]


def use_ray_token() -> None:
    """Before Ray is imported: if this machine holds a Ray token and the environment says
    nothing, connect with token authentication. ``ray start`` turns it on when a token
    exists, but ``ray.init(address=...)`` does not, and Ray reads the mode at import."""
    if "ray" not in sys.modules:
        os.environ.update(token_mode())


def cluster_token() -> Path:
    """Where ``maze start --head`` keeps the token it made: ``$MAZE_HOME/ray_auth_token``."""
    return default_home() / "ray_auth_token"


def _ray_token() -> Path | None:
    """The token file Ray itself would use (``RAY_AUTH_TOKEN_PATH``, else
    ``~/.ray/auth_token``), if it exists."""
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token").expanduser()
    return path if path.is_file() else None


def token_mode() -> dict[str, str]:
    """The environment that makes Ray present this machine's token: ``RAY_AUTH_MODE=token``
    when a token is at hand (Ray's own, else the one ``maze start`` made, with its path)
    and the mode is not set; {} otherwise."""
    if "RAY_AUTH_MODE" in os.environ:
        return {}
    if os.environ.get("RAY_AUTH_TOKEN") or _ray_token() is not None:
        return {"RAY_AUTH_MODE": "token"}
    if cluster_token().is_file():
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(cluster_token())}
    return {}


def join_error(address: str | None, error: Exception) -> MazeError:
    """Ray could not join ``address`` although something answered there as a Ray head
    does (see :func:`check_reachable`): most often a cluster with a token this process
    does not present."""
    token = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    said = "the token this machine presents" if token else "no token (none was found here)"
    return MazeError(
        f"cannot join the Ray cluster at {address!r}: {error}. A Ray head answers there;"
        f" it most likely refused {said}",
        fix="copy the head's token file (`maze start --head` prints where it is) to this"
        " machine and set RAY_AUTH_TOKEN_PATH to it (or RAY_AUTH_TOKEN to its text)",
        culprit=address,
    )


def head_auth(insecure: bool) -> tuple[dict[str, str], str]:
    """The environment a new head starts Ray with, and a line for the user: token mode
    with the token at hand, else with a new one (``cluster_token``, readable by this user
    only); with ``insecure``, no authentication."""
    if insecure:
        return {"RAY_AUTH_MODE": "disabled"}, "no token: anyone who reaches the ports runs code"
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
        raise MazeError(
            f"RAY_AUTH_MODE={os.environ['RAY_AUTH_MODE']} turns Ray's token authentication off",
            fix="unset it (Maze starts heads with a token), or pass --insecure to mean it",
            culprit="RAY_AUTH_MODE",
        )
    if os.environ.get("RAY_AUTH_TOKEN"):
        return {"RAY_AUTH_MODE": "token"}, "token: RAY_AUTH_TOKEN"
    existing = _ray_token()
    if existing is not None:
        note = f"token: {existing}"
        if existing.stat().st_mode & 0o077:
            note += f" (readable by other users: chmod 600 {existing})"
        return {"RAY_AUTH_MODE": "token"}, note
    path = cluster_token()
    if not path.is_file() or not path.read_text().strip():
        private_file(path).write_text(secrets.token_hex(32))
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}
    return env, f"token: {path} (copy it to clients elsewhere, as RAY_AUTH_TOKEN_PATH)"


def connect_error(host: str, port: int, timeout: float = 1.0) -> OSError | None:
    """Why nothing accepts connections at ``host:port``, or None when something does."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return exc
    return None


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming ``address``, when it is not ``HOST:PORT``, when nothing listens
    there, or when what listens does not answer as a Ray head does (gRPC): ``ray.init``
    would retry an unreachable head for minutes, and hang on another service. ``"auto"``
    is checked against what Ray would resolve it to (``RAY_ADDRESS``, or the cluster Ray
    last started on this machine)."""
    address = _resolved(address)
    if not address:
        return  # Ray says itself that it found no cluster
    host, port = host_port(address)
    error = connect_error(host, port, timeout)
    if error is not None:
        raise MazeError(
            f"no Ray cluster answers at {address} ({error})",
            fix="start one there with `maze start --head` (or `ray start --head`), or give the"
            " head's HOST:PORT",
            culprit=address,
        )
    if not speaks_grpc(host, port, timeout):
        raise MazeError(
            f"something listens at {address}, but it is not a Ray cluster (it did not answer"
            " as a Ray head's gRPC server does)",
            fix="give the port the head prints at `maze start --head` (Ray's GCS port, 6379 by"
            " default), not another service's",
            culprit=address,
        )


def host_port(address: str) -> tuple[str, int]:
    """``address`` (``HOST:PORT`` or ``ray://HOST:PORT``) split, or a ValidationError."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(
            f"the Ray address {address!r} is not HOST:PORT",
            fix="give the head's address as HOST:PORT (e.g. 127.0.0.1:6379), or 'auto' for"
            " the cluster started on this machine",
            culprit=address,
        )
    return host.strip("[]"), int(port)


# the client connection preface, then an empty SETTINGS frame (length 0, type 4, stream 0)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def speaks_grpc(host: str, port: int, timeout: float) -> bool:
    """Whether the server at ``host:port`` answers an HTTP/2 connection preface with its
    own SETTINGS frame, as every gRPC server (a Ray head among them) does at once."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(_HTTP2_PREFACE)
            header = conn.recv(9)
    except OSError:
        return False
    return len(header) >= 4 and header[3] == 0x04  # frame type 4: SETTINGS


def _last_local_cluster() -> str | None:
    try:
        return Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip()
    except OSError:
        return None


LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for single-machine clusters ("0"): its node then is 127.0.0.1 and every
server it starts listens there only. Otherwise Ray 2.60 turns a 127.0.0.1 address into the
machine's network address, and its servers listen on every interface."""


def loopback_env(host: str) -> dict[str, str]:
    """The environment of a ``ray start`` on ``host``: loopback-only where it is loopback."""
    return {LOOPBACK_ONLY: "0"} if is_loopback(host) else {}


@contextlib.contextmanager
def on_loopback(address: str | None) -> Iterator[None]:
    """Around this process's ``ray.init`` to ``address``, or of a Ray of its own (None: one
    for this machine only, which then listens on loopback only): a head on loopback listens
    there only, and Ray would look for it at the machine's network address unless told it
    runs on one machine (its environment, read by the processes it starts and at its
    import, and its own switch, read when it resolves a node's address). Both are restored
    after: a later connection of this process to a cluster elsewhere is as Ray makes it."""
    if not _on_this_machine_only(address) or LOOPBACK_ONLY in os.environ:  # or the user's
        yield
        return
    os.environ[LOOPBACK_ONLY] = "0"
    constants: Any = sys.modules.get("ray._private.ray_constants")
    switched = constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False)
    if switched:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if switched:
            constants.ENABLE_RAY_CLUSTER = True
        os.environ.pop(LOOPBACK_ONLY, None)


def _on_this_machine_only(address: str | None) -> bool:
    """Whether ``address`` is a head on loopback, or None (a Ray of this process's own)."""
    if address is None:
        return True
    address = _resolved(address)
    return bool(address) and is_loopback(host_port(address)[0])


def _resolved(address: str) -> str:
    """``address``, with ``"auto"`` as Ray resolves it (``RAY_ADDRESS``, or the cluster Ray
    last started on this machine; "" when there is none)."""
    if address != "auto":
        return address
    return os.environ.get("RAY_ADDRESS") or _last_local_cluster() or ""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
