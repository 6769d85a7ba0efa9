"""The local stack's port choice when ports are really taken (moved from the unit tier: it listens)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from switchboard.home import StackHome


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_busy_ports_fall_back_to_a_free_one_which_is_remembered(tmp_path: Path):
    home = StackHome(tmp_path)
    with listening() as remembered, listening() as default:
        busy = remembered.getsockname()[1], default.getsockname()[1]
        home.ports_file.write_text(json.dumps({"gateway": busy[0]}))
        chosen = home.choose_port("gateway", busy[1])
    assert chosen not in busy
    assert home.saved_ports()["gateway"] == chosen
    assert home.choose_port("gateway", 1) == chosen  # the next run finds the same port
