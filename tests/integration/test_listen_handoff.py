"""`up` listens on a service's port itself and hands the socket down (shared/listen.py).

These tests listen and start processes, so they live in the integration tier.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.listen import LISTEN_FD_ENV, inherited_listener
from switchboard.home import StackHome
from switchboard.registry import SERVICES, plan
from tests.waiting import scaled

REPO = Path(__file__).resolve().parents[2]

# One of our services' health servers, started the way `up` starts a service.
HEALTH_SERVER = """
import asyncio, sys
from shared.health import HealthServer

async def main():
    server = HealthServer("127.0.0.1", int(sys.argv[1]), {})
    await server.start()
    print("serving", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def reuseaddr_bind(port: int) -> socket.socket:
    """What nats-server, Postgres, asyncio and uvicorn do: SO_REUSEADDR, then bind."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def test_a_listening_hold_keeps_out_even_a_server_that_sets_reuseaddr(tmp_path: Path):
    home = StackHome(tmp_path)
    bound_only = home.choose_port("nats", 0)  # nats-server and Postgres cannot be handed a socket
    listening = home.choose_port("gateway", 0, listen=True)
    reuseaddr_bind(bound_only).close()  # the race `up` used to lose: another server binds it too
    with pytest.raises(OSError):
        reuseaddr_bind(listening)
    assert home.listener("nats") is None
    held = home.listener("gateway")
    assert held is not None and held.getsockname()[1] == listening
    home.release_ports()


def test_the_plan_hands_each_service_its_listening_socket(tmp_path: Path):
    home = StackHome(tmp_path)
    home.ports_file.write_text('{"gateway": 0, "audit": 0}')
    entries = [entry for entry in SERVICES if entry.name in {"gateway", "audit"}]
    stack = plan(entries, {"GATEWAY_HOST": "127.0.0.1", "HEALTH_HOST": "127.0.0.1"}, home)
    try:
        for service in stack.services:
            child = service.child()
            (fd,) = child.pass_fds
            assert child.env is not None and child.env[LISTEN_FD_ENV] == str(fd)
            sock = socket.socket(fileno=os.dup(fd))
            assert sock.getsockname()[1] == service.port and sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            sock.close()
    finally:
        home.release_ports()


def test_inherited_listener_takes_only_a_listening_socket_on_the_configured_address():
    with socket.socket() as listening, socket.socket() as bound:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        bound.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]

        fd = os.dup(listening.fileno())
        got = inherited_listener("127.0.0.1", port, {LISTEN_FD_ENV: str(fd)})
        assert got is not None and got.fileno() == fd
        got.close()

        for env, host, wanted in [
            ({LISTEN_FD_ENV: str(listening.fileno())}, "127.0.0.1", port + 1),  # another port
            ({LISTEN_FD_ENV: str(listening.fileno())}, "127.0.0.2", port),  # another address
            ({LISTEN_FD_ENV: str(bound.fileno())}, "127.0.0.1", bound.getsockname()[1]),  # not listening
            ({}, "127.0.0.1", port),
        ]:
            assert inherited_listener(host, wanted, env) is None
        os.fstat(listening.fileno())  # a socket that was not taken is left open
        os.fstat(bound.fileno())
    with pytest.raises(ValueError, match=LISTEN_FD_ENV):
        inherited_listener("127.0.0.1", 1, {LISTEN_FD_ENV: "three"})


def start_service(port: int, fd: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HEALTH_SERVER, str(port)], cwd=REPO, pass_fds=(fd,), stdout=subprocess.PIPE,
        env={**os.environ, LISTEN_FD_ENV: str(fd), "PYTHONPATH": str(REPO)}, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "serving\n"
    return proc


def ask(client: socket.socket) -> None:
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")


def answer(client: socket.socket) -> bytes:
    client.settimeout(scaled(30))  # only ends a hung test
    data = b""
    while chunk := client.recv(4096):
        data += chunk
    return data


def test_requests_wait_in_the_held_socket_while_the_service_restarts(tmp_path: Path):
    home = StackHome(tmp_path)
    port = home.choose_port("audit", 0, listen=True)
    held = home.listener("audit")
    assert held is not None
    try:
        early = socket.create_connection(("127.0.0.1", port))  # before any service runs
        ask(early)
        first = start_service(port, held.fileno())
        try:
            assert answer(early).startswith(b"HTTP/1.1 200 OK")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        during = socket.create_connection(("127.0.0.1", port))  # the service is down: not refused
        ask(during)
        second = start_service(port, held.fileno())
        try:
            assert answer(during).startswith(b"HTTP/1.1 200 OK")
        finally:
            second.kill()
            second.wait()
        early.close()
        during.close()
    finally:
        home.release_ports()
