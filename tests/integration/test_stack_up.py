"""`switchboard up` failing clearly: a migration error stops it before any service starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from switchboard.infra import NatsServer
from tests.conftest import with_database


def test_a_migration_error_stops_up_once_and_clearly(nats_server: NatsServer, postgres_url: str, tmp_path: Path):
    env = {
        **os.environ,
        "SWITCHBOARD_HOME": str(tmp_path / "home"),
        "NATS_URL": nats_server.url,
        "DATABASE_URL": with_database(postgres_url, "no_such_database"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "switchboard", "up"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stdout
    assert "migration failed" in result.stdout
    assert "no_such_database" in result.stdout
    assert "starting nats-server" not in result.stdout  # NATS_URL answered, so it was reused
    assert "starting Postgres" not in result.stdout
    assert "Switchboard is up" not in result.stdout
    assert not (tmp_path / "home" / "stack.json").exists()
