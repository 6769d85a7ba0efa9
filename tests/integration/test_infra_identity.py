"""Ports `up` uses: held from the moment they are chosen, and never trusted on an open port alone."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.home import StackHome
from switchboard.infra import InfraError, LocalPostgres, NatsServer, free_port
from switchboard.listeners import nats_server_info, owns_listener
from switchboard.registry import PlannedService, ServiceEntry
from switchboard.stack import _is_ready
from tests.waiting import wait_until

ALWAYS_200 = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def foreign_listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_nats_server_on_a_port_someone_else_listens_on_is_not_taken_for_ready(tmp_path: Path):
    with foreign_listener() as foreign:
        server = NatsServer(tmp_path / "nats", port=foreign.getsockname()[1])
        with pytest.raises(InfraError, match="nats-server exited"):
            server.start()


def test_a_nats_server_is_recognised_by_its_name(tmp_path: Path):
    server = NatsServer(tmp_path / "nats", server_name="switchboard-identity-test").start()
    try:
        assert server.serving()
        assert nats_server_info(server.host, server.port)["server_name"] == "switchboard-identity-test"
        impostor = NatsServer(tmp_path / "other", port=server.port, server_name="someone-else")
        impostor.proc = server.proc
        assert not impostor.serving()  # a NATS server answers there, but not under our name
    finally:
        server.stop()


def test_postgres_on_a_port_someone_else_listens_on_is_not_taken_for_ready(tmp_path: Path):
    with foreign_listener() as foreign:
        server = LocalPostgres(tmp_path / "pg" / "data", port=foreign.getsockname()[1], durable=False)
        try:
            with pytest.raises(InfraError, match="postgres exited"):
                server.start()
        finally:
            server.stop()


def test_a_service_is_ready_only_when_its_own_process_answers(tmp_path: Path):
    port = free_port()
    foreign = subprocess.Popen([sys.executable, "-c", ALWAYS_200, str(port)])
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        wait_until(lambda: owns_listener(foreign.pid, port), 30, "the foreign server to listen")
        service = PlannedService(ServiceEntry("gateway", "services.gateway", port_env="GATEWAY_PORT"), port, {})
        assert not _is_ready(service, ours.pid)  # 200 from someone else's process on our port
        assert _is_ready(service, foreign.pid)
    finally:
        for proc in (foreign, ours):
            proc.kill()
            proc.wait()


def test_a_chosen_port_is_held_until_up_ends_but_our_server_can_listen_on_it(tmp_path: Path):
    home = StackHome(tmp_path)
    port = home.choose_port("gateway", 0)
    other = socket.socket()
    with pytest.raises(OSError):
        other.bind(("127.0.0.1", port))  # nobody else can take it meanwhile
    other.close()

    async def serve() -> None:  # the service `up` starts binds it (SO_REUSEADDR, as servers do)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        server.close()
        await server.wait_closed()

    asyncio.run(serve())
    home.release_ports()
    with socket.socket() as after:
        after.bind(("127.0.0.1", port))


def test_a_port_bound_by_another_process_is_not_chosen_even_if_it_does_not_listen(tmp_path: Path):
    home = StackHome(tmp_path)
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        taken = bound.getsockname()[1]
        chosen = home.choose_port("audit", taken)
    home.release_ports()
    assert chosen != taken
