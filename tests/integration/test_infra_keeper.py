"""`up` keeps its own nats-server and Postgres running: kill -9 either, it comes back.

Same port, same data: the stream keeps its messages, Postgres keeps its rows, and a
client connected before the kill (reconnecting as the services do) carries on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import asyncpg
import pytest

from shared.bus import connect
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import LocalPostgres, NatsServer, free_port
from switchboard.keeper import InfraKeeper
from switchboard.supervisor import RestartPolicy
from tests.waiting import eventually

FAST = RestartPolicy(first_delay_s=0.2, max_delay_s=2.0, stable_after_s=30.0)


def restarted(server, old_pid: int, notes: list[str]):
    async def check() -> bool:
        return (any("is back on port" in n for n in notes) and server.proc is not None
                and server.proc.pid != old_pid and await asyncio.to_thread(server.serving))
    return check


async def test_a_killed_nats_server_is_restarted_on_its_port_with_the_stream_intact(tmp_path: Path):
    server = NatsServer(tmp_path / "nats", http_port=free_port())
    await asyncio.to_thread(server.start)
    notes: list[str] = []
    keeper_task = asyncio.create_task(InfraKeeper([server], notes.append, FAST).run())
    nc = await connect(server.url, "survivor", wait=False)  # reconnects forever, as the services do
    try:
        js = nc.jetstream()
        await ensure_stream(js, StreamSpec(name="KEEP", partitions=2))
        for n in range(3):
            await js.publish("wa.received.c1", f"before {n}".encode(), stream="KEEP")
        old_pid, port = server.proc.pid, server.port

        os.kill(old_pid, signal.SIGKILL)
        await eventually(restarted(server, old_pid, notes), 60, "nats-server to be restarted")

        assert server.port == port
        assert any("nats-server switchboard-local" in n and "died: signal SIGKILL" in n and f"port {port}" in n
                   for n in notes), notes
        await eventually(lambda: _published(js), 60, "the old connection to publish again")
        info = await js.stream_info("KEEP")
        assert info.state.messages == 4  # three from before the kill, one after
    finally:
        keeper_task.cancel()
        await asyncio.gather(keeper_task, return_exceptions=True)
        await nc.close()
        server.stop()


async def _published(js) -> bool:
    ack = await js.publish("wa.received.c2", b"after", stream="KEEP", timeout=1)
    return ack.seq > 0


async def test_a_killed_postgres_is_restarted_on_its_port_with_its_data(tmp_path: Path):
    server = LocalPostgres(tmp_path / "pg" / "data", durable=True)
    await asyncio.to_thread(server.start)
    notes: list[str] = []
    keeper_task = asyncio.create_task(InfraKeeper([server], notes.append, FAST).run())
    try:
        connection = await asyncpg.connect(server.url)
        await connection.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)")
        old_pid, port = server.proc.pid, server.port

        os.kill(old_pid, signal.SIGKILL)
        await eventually(restarted(server, old_pid, notes), 120, "Postgres to be restarted")

        assert server.port == port
        assert any("Postgres" in n and "died: signal SIGKILL" in n for n in notes), notes
        with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
            await connection.fetchval("SELECT 1")  # the old connection is gone: clients must reconnect
        async def rows() -> int:
            again = await asyncpg.connect(server.url, timeout=2)
            try:
                return await again.fetchval("SELECT count(*) FROM kept")
            finally:
                await again.close()
        assert await eventually(rows, 60, "a new connection to read the rows") == 2
    finally:
        keeper_task.cancel()
        await asyncio.gather(keeper_task, return_exceptions=True)
        await asyncio.to_thread(server.stop)


async def test_a_server_whose_port_was_taken_meanwhile_is_retried_until_the_port_is_free(tmp_path: Path):
    server = NatsServer(tmp_path / "nats")
    await asyncio.to_thread(server.start)
    notes: list[str] = []
    keeper_task = asyncio.create_task(InfraKeeper([server], notes.append, RestartPolicy(first_delay_s=0.5, max_delay_s=1.0)).run())
    squatter = socket.socket()
    try:
        old_pid = server.proc.pid
        os.kill(old_pid, signal.SIGKILL)

        async def squat() -> bool:
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            return True
        await eventually(squat, 10, "another process to take the port", interval=0.01)
        await eventually(lambda: _noted(notes, "did not restart"), 60, "a failed restart to be reported")
        assert not any("is back" in n for n in notes)  # the squatter's open port was not taken for ours
        assert any("address already in use" in n.lower() for n in notes), notes

        squatter.close()
        await eventually(restarted(server, old_pid, notes), 60, "nats-server to come back once the port is free")
    finally:
        squatter.close()
        keeper_task.cancel()
        await asyncio.gather(keeper_task, return_exceptions=True)
        server.stop()


async def _noted(notes: list[str], text: str) -> bool:
    return any(text in n for n in notes)
