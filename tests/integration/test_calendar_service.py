"""The calendar service as operators run it: migrations, `python -m services.calendar`, discovery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from services.calendar.migrations import migrate
from services.calendar.tables import metadata
from shared.calendar import CalendarClient, CreateEvent, ListEvents
from shared.settings import driver_url
from switchboard.infra import free_port
from tests.fakes.calendar_rig import BUSINESS, OWNER_A, conversation_of
from tests.waiting import scaled

ROOT = Path(__file__).resolve().parents[2]


async def test_migrations_are_repeatable_concurrent_and_match_the_tables(database_url):
    await asyncio.gather(*(migrate(database_url) for _ in range(3)))
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT version_num FROM calendar.alembic_version") == "0002"
        assert await conn.fetchval("SELECT to_regclass('public.alembic_version')") is None
    finally:
        await conn.close()

    engine = create_async_engine(driver_url(database_url, "asyncpg"))
    try:
        async with engine.connect() as conn:
            def diff(sync_conn):
                context = MigrationContext.configure(sync_conn, opts={"include_schemas": True,
                    "include_name": lambda name, kind, _: kind != "schema" or name == "calendar"})
                return [change for change in compare_metadata(context, metadata)
                        if not (change[0] == "remove_table" and change[1].name == "alembic_version")]

            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


def health(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return response.status
    except OSError:
        return 0


async def test_python_m_services_calendar_serves_and_stops_cleanly(bus, database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ, "NATS_URL": bus.nc.connected_url.geturl(), "DATABASE_URL": database_url,
        "STREAM_NAME": bus.stream, "HEALTH_PORT": str(port), "HEALTH_HOST": "127.0.0.1", "LOG_FORMAT": "console",
    }
    log = (tmp_path / "calendar.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "services.calendar"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + scaled(60)  # a start-up, not a measurement: see tests/bench/cold_start.py
        while health(port, "/readyz") != 200:
            assert proc.poll() is None, (tmp_path / "calendar.log").read_text()
            assert time.monotonic() < deadline, "calendar never became ready"
            await asyncio.sleep(0.1)

        info = json.loads((await bus.nc.request("$SRV.INFO.calendar", b"", timeout=scaled(10))).data)
        assert info["name"] == "calendar"
        assert {e["subject"] for e in info["endpoints"]} == {
            "calendar.create", "calendar.list", "calendar.get", "calendar.update", "calendar.delete",
            "calendar.free_slots",
        }
        client = CalendarClient(bus.nc)
        who = {"owner": OWNER_A, "business": BUSINESS, "conversation": conversation_of(OWNER_A)}
        created = await client.create(CreateEvent(**who, summary="Dentist", start="2026-12-01T09:00"))
        listed = await client.list(ListEvents(**who, start="2026-12-01T00:00", end="2026-12-02T00:00"))
        assert [e.event_id for e in listed.events] == [created.event.event_id]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(30)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
    output = (tmp_path / "calendar.log").read_text()
    assert "worker_stopped" in output and OWNER_A not in output  # no phone numbers above debug


def test_bad_configuration_fails_fast_with_a_clear_message():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CALENDAR_"))}
    missing = subprocess.run([sys.executable, "-m", "services.calendar"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 78  # EX_CONFIG: `switchboard up` does not restart-loop it
    assert "calendar: bad configuration" in missing.stderr and "DATABASE_URL" in missing.stderr
