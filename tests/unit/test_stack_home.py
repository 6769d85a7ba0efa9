"""The local stack's data directory: remembered ports and sandbox credentials."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from switchboard.home import StackHome
from switchboard.infra import free_port


def test_home_is_dot_switchboard_unless_configured(tmp_path: Path):
    assert StackHome.locate({}, tmp_path).root == tmp_path / ".switchboard"
    assert StackHome.locate({"SWITCHBOARD_HOME": "data"}, tmp_path).root == tmp_path / "data"
    assert StackHome.locate({"SWITCHBOARD_HOME": str(tmp_path / "abs")}, Path("/")).root == tmp_path / "abs"


def test_a_free_default_port_is_chosen_and_remembered(tmp_path: Path):
    home = StackHome(tmp_path)
    default = free_port()
    assert home.choose_port("nats", default) == default
    assert json.loads(home.ports_file.read_text()) == {"nats": default}


def test_the_remembered_port_wins_over_the_default(tmp_path: Path):
    home = StackHome(tmp_path)
    remembered = free_port()
    home.ports_file.write_text(json.dumps({"postgres": remembered}))
    assert home.choose_port("postgres", free_port()) == remembered


def test_sandbox_credentials_are_generated_once_and_private(tmp_path: Path):
    home = StackHome(tmp_path)
    first = home.sandbox_credentials()
    assert re.fullmatch(r"AC[0-9a-f]{32}", first.account_sid)
    assert len(first.auth_token) == 32
    assert stat.S_IMODE(home.sandbox_file.stat().st_mode) == 0o600
    assert home.sandbox_credentials() == first
    assert StackHome(tmp_path / "other").sandbox_credentials() != first


def test_a_corrupt_ports_file_is_ignored(tmp_path: Path):
    home = StackHome(tmp_path)
    home.ports_file.write_text("{not json")
    assert home.saved_ports() == {}
    port = free_port()
    assert home.choose_port("nats", port) == port


def test_a_zero_in_ports_json_means_any_free_port_but_not_the_default(tmp_path: Path):
    home = StackHome(tmp_path)
    home.ports_file.write_text(json.dumps({"gateway": 0}))
    default = free_port()
    chosen = home.choose_port("gateway", default)
    assert chosen != default  # the kernel chose, so a test's stack never takes a developer's 8000
    assert home.saved_ports()["gateway"] == chosen  # then remembered: the next `up` has the same URLs
