"""`switchboard erase`, `export` and `retention` as an operator runs them: clear errors
for bad input, and a run on a user we know nothing about is harmless and recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from switchboard.infra import NatsServer
from tests.integration.test_cli import switchboard

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_the_privacy_commands():
    result = switchboard("--help")
    for command in ("erase", "export", "retention"):
        assert command in result.stdout


def test_a_number_that_is_not_one_is_refused_clearly():
    result = switchboard("erase", "not-a-number", env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert result.returncode == 1 and "not a phone number in E.164 form" in result.stderr


def test_the_tables_are_required(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"SWITCHBOARD_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "switchboard", "export", "+34600000001"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1 and "DATABASE_URL is not set" in result.stderr


def test_production_needs_a_privacy_salt(nats_server: NatsServer, database_url: str, tmp_path):
    env = {"NATS_URL": nats_server.url, "DATABASE_URL": database_url, "SWITCHBOARD_ENV": "production",
           "PRIVACY_SALT": "", "SWITCHBOARD_HOME": str(tmp_path)}
    assert switchboard("provision", env=env).returncode == 0
    result = switchboard("erase", "+34600000001", env=env)
    assert result.returncode == 1 and "PRIVACY_SALT must be set" in result.stderr


def test_erasing_and_exporting_someone_unknown_is_harmless(nats_server: NatsServer, database_url: str, tmp_path):
    env = {"NATS_URL": nats_server.url, "DATABASE_URL": database_url, "SWITCHBOARD_HOME": str(tmp_path),
           "PRIVACY_SALT": "cli-test-salt"}
    assert switchboard("provision", env=env).returncode == 0, "provision"
    erased = switchboard("erase", "whatsapp:+34600000001", "--business", "+14155238886", "--by", "ana", env=env)
    assert erased.returncode == 0, erased.stderr
    record = json.loads(erased.stdout)
    assert record["state"] == "completed" and record["requested_by"] == "ana" and set(record["removed"].values()) == {0}
    assert "34600000001" not in erased.stdout
    exported = switchboard("export", "+34600000001", "--out", str(tmp_path / "out"), env=env)
    assert exported.returncode == 0, exported.stderr
    [path] = (tmp_path / "out").iterdir()
    assert json.loads(path.read_text())["number"] == "+34600000001"
    swept = switchboard("retention", env=env)
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout) == {"stream": 0, "agent": 0, "audit": 0}
