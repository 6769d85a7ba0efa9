"""The `switchboard` CLI as an operator runs it: a real process, real NATS and Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time

import pytest

from switchboard.cli import format_report
from switchboard.infra import NatsServer, free_port

# `long`: minutes of processes in all; collected first so it runs beside the short tests.
pytestmark = pytest.mark.long


def switchboard(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


def test_help_lists_every_command():
    result = switchboard("--help")
    assert result.returncode == 0
    for command in ("up", "chat", "provision", "replay", "calendar"):
        assert command in result.stdout


def test_chat_needs_a_running_stack(tmp_path):
    result = switchboard("chat", env={"SWITCHBOARD_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "no running stack" in result.stderr


def test_no_command_is_an_error():
    assert switchboard().returncode == 2


def test_provision_fails_fast_and_clearly_without_nats():
    started = time.monotonic()
    result = switchboard("provision", env={"NATS_URL": f"nats://127.0.0.1:{free_port()}"})
    assert result.returncode == 1
    assert "cannot reach NATS at nats://127.0.0.1:" in result.stderr
    assert time.monotonic() - started < 30


def test_provision_creates_the_stream_and_is_idempotent(nats_server: NatsServer):
    env = {"NATS_URL": nats_server.url, "PARTITIONS": "8", "STREAM_NAME": "WHATSAPP"}
    first = switchboard("provision", env=env)
    assert first.returncode == 0, first.stderr
    assert "stream WHATSAPP: 8 partitions, 0 events stored" in first.stdout
    again = switchboard("provision", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_provision_rejects_bad_settings():
    result = switchboard("provision", env={"PARTITIONS": "many"})
    assert result.returncode == 1
    assert "PARTITIONS" in result.stderr


def test_replay_needs_a_database_url():
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "switchboard", "replay"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr


def test_replay_rebuilds_from_the_stream(nats_server: NatsServer, database_url: str):
    env = {"NATS_URL": nats_server.url, "DATABASE_URL": database_url}
    assert switchboard("provision", env=env).returncode == 0
    result = switchboard("replay", env=env)
    assert result.returncode == 0, result.stderr
    assert "events_read: 0" in result.stdout


def test_reports_print_as_key_value_lines():
    @dataclasses.dataclass
    class Report:
        events_read: int
        messages: int

    assert format_report(Report(3, 2)) == "events_read: 3\nmessages: 2"
    assert format_report({"a": 1}) == "a: 1"
    assert format_report("done") == "done"


def test_provision_migrates_every_installed_schema_when_a_database_is_given(nats_server, postgres_url, tmp_path):
    import subprocess
    import sys

    import asyncpg

    from tests.conftest import with_database

    async def fresh() -> str:
        admin = await asyncpg.connect(postgres_url)
        await admin.execute('CREATE DATABASE "provision_cli"')
        await admin.close()
        return with_database(postgres_url, "provision_cli")

    import asyncio

    url = asyncio.run(fresh())
    env = {**os.environ, "NATS_URL": nats_server.url, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "switchboard", "provision"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "schemas migrated: audit" in result.stdout

    async def schemas() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("select schema_name from information_schema.schemata")
        finally:
            await conn.close()
        return {r[0] for r in rows}

    assert {"audit", "calendar"} <= asyncio.run(schemas())


async def test_operator_commands_use_the_admin_identity_of_the_running_stack(authorized_nats, tmp_path):
    """As `chat` finds the stack, `dead-letters` finds its NATS URL and this run's admin password in stack.json."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NATS_")}
    home = tmp_path / "home"
    home.mkdir()
    (home / "stack.json").write_text(json.dumps({
        "nats_url": authorized_nats.server.url, "stream": authorized_nats.stream.name,
        **{fact: value for fact, value in zip(("nats_user", "nats_password"),
                                               authorized_nats.users.admin.values(), strict=True)},
    }))
    run = functools.partial(asyncio.to_thread, subprocess.run, [sys.executable, "-m", "switchboard", "dead-letters"],
                            capture_output=True, text=True, timeout=60)
    found = await run(env={**env, "SWITCHBOARD_HOME": str(home)})
    assert found.returncode == 0, found.stderr
    assert "0 dead letter(s) open" in found.stdout
    refused = await run(env={**env, "SWITCHBOARD_HOME": str(tmp_path / "elsewhere"), "NATS_URL": authorized_nats.server.url})
    assert refused.returncode == 1 and "refused to let us in without NATS_USER/NATS_PASSWORD" in refused.stderr
    assert "Authorization Violation" in refused.stderr
