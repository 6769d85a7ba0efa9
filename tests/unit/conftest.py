"""The unit tier runs in one process with no servers: a guard makes that a rule, not a hope.

While a test in tests/unit runs (setup, call and teardown, fixtures of any scope included)
it may not start a process (`subprocess`, `asyncio.create_subprocess_*`, `os.fork`,
`os.posix_spawn`, `os.exec*`, `os.system`), listen on a socket (every server does), or bind
a socket to anything but loopback. Probing for a free loopback port (bind, then close) is
allowed. A test that needs a process or a server belongs in tests/integration or tests/e2e.

Processes and binds are caught by a Python audit hook (audit hooks cannot be removed, so
it is installed once and acts only while a unit test runs); `listen` has no audit event,
so `socket.socket.listen` is replaced for the duration of each test.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from typing import Any

import pytest

_PROCESS_EVENTS = {
    "subprocess.Popen": "start a subprocess",
    "os.posix_spawn": "start a process",
    "os.fork": "fork",
    "os.forkpty": "fork",
    "os.exec": "exec a program",
    "os.system": "run a shell command",
}
_guarded = False


class UnitTierViolation(RuntimeError):
    """A unit test tried to start a process or a server."""


def _violation(what: str) -> UnitTierViolation:
    return UnitTierViolation(f"unit tests may not {what}; move this test to tests/integration or tests/e2e")


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like: not a network server
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _guarded:
        return
    if event in _PROCESS_EVENTS:
        raise _violation(f"{_PROCESS_EVENTS[event]} ({event} {str(args[:2])[:120]})")
    if event == "socket.bind" and not _is_loopback(args[1]):
        raise _violation(f"bind a socket to a non-loopback address {args[1]!r}")


sys.addaudithook(_audit)
_real_listen = socket.socket.listen


def _refuse_listen(self: socket.socket, *args: Any) -> None:
    raise _violation(f"listen on a socket (start a server at {self.getsockname()!r})")


@contextlib.contextmanager
def _guard():
    global _guarded
    _guarded = True
    socket.socket.listen = _refuse_listen  # type: ignore[method-assign]
    try:
        yield
    finally:
        _guarded = False
        socket.socket.listen = _real_listen  # type: ignore[method-assign]


# Setup, call and teardown of each unit test, but not pytest's own reporting in between.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _guard():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _guard():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    # The last test of a run also tears down the session's fixtures, which may be servers
    # that integration tests started (`pytest tests` runs tests/unit last).
    with _guard() if nextitem is not None else contextlib.nullcontext():
        yield
