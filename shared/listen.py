"""Listening sockets handed down by a supervisor.

`switchboard up` binds and listens on each service's port itself and hands the socket to
the service's process, naming its descriptor in `SWITCHBOARD_LISTEN_FD`. Two things follow:
no other program can take the port between `up` choosing it and the service starting (a
port that is only bound, not listening, can still be bound by anyone who sets
SO_REUSEADDR, as most servers do), and connections that arrive while a crashed service
restarts wait in the socket's backlog instead of being refused.

Elsewhere (Kubernetes, tests) the variable is unset and a service binds its own port. A
descriptor that is not a listening TCP socket on the address the service was configured
with is left alone, so a stale variable can never make a service serve the wrong port.
"""

from __future__ import annotations

import os
import socket
from typing import Mapping

LISTEN_FD_ENV = "SWITCHBOARD_LISTEN_FD"


def inherited_listener(host: str, port: int, env: Mapping[str, str] | None = None) -> socket.socket | None:
    """The listening socket on (`host`, `port`) this process was given, or None."""
    raw = (os.environ if env is None else env).get(LISTEN_FD_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{LISTEN_FD_ENV} must be a file descriptor number, not {raw!r}")
    try:
        sock = socket.socket(fileno=int(raw))
    except OSError:
        return None  # closed, or not a socket
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        bound_host, bound_port = sock.getsockname()[:2]
        if sock.type == socket.SOCK_STREAM and listening and bound_port == port and _same_host(bound_host, host):
            return sock
    except (OSError, ValueError):
        pass
    sock.detach()  # not ours to close
    return None


def _same_host(bound: str, wanted: str) -> bool:
    if bound == wanted:
        return True
    try:
        return socket.gethostbyname(wanted) == bound
    except OSError:
        return False
