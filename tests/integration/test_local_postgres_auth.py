"""The local Postgres (`up`, the test fixtures) asks every client for a password."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import asyncpg
import pytest

from switchboard.local_postgres import LocalPostgres


async def connects(url: str) -> bool:
    connection = await asyncpg.connect(url, timeout=10)
    await connection.close()
    return True


def without_password(server: LocalPostgres) -> str:
    return f"postgresql://postgres@{server.host}:{server.port}/postgres"


async def test_a_connection_without_the_password_is_refused(tmp_path: Path):
    server = LocalPostgres(tmp_path / "pg" / "data", durable=False).start()
    try:
        assert await connects(server.url)  # the superuser's URL carries the password
        with pytest.raises(asyncpg.InvalidPasswordError):
            await connects(without_password(server))
        with pytest.raises(asyncpg.InvalidPasswordError):
            await connects(server.url.replace(server.superuser_password, "guessed"))
        assert "trust" not in (server.data_dir / "pg_hba.conf").read_text()
        assert stat.S_IMODE(server.credentials_file.stat().st_mode) == 0o600
    finally:
        server.stop()


async def test_a_data_directory_from_the_trust_days_is_closed_on_its_next_start(tmp_path: Path):
    data = tmp_path / "pg" / "data"
    server = LocalPostgres(data, durable=False).start()
    server.stop()
    # What an older `up` left: trust for everyone, no password, no credentials file.
    (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    server.credentials_file.unlink()
    again = LocalPostgres(data, port=server.port, durable=False).start()
    try:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await connects(without_password(again))
        assert await connects(again.url)
        assert json.loads(again.credentials_file.read_text())["password"] == again.superuser_password
    finally:
        again.stop()
