"""The unit tier's guard (tests/unit/conftest.py) really refuses processes and servers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import UnitTierViolation


def test_starting_a_subprocess_is_refused():
    with pytest.raises(UnitTierViolation, match="start a subprocess"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_starting_an_asyncio_subprocess_is_refused():
    with pytest.raises(UnitTierViolation):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


async def test_starting_a_server_is_refused():
    with pytest.raises(UnitTierViolation, match="listen"):
        await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)


def test_binding_beyond_loopback_is_refused():
    with socket.socket() as sock, pytest.raises(UnitTierViolation, match="non-loopback"):
        sock.bind(("0.0.0.0", 0))


def test_probing_a_free_loopback_port_is_allowed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[1] > 0
