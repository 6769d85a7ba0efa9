"""A worker started while NATS is down waits for it and becomes ready when it appears."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nats

from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer, free_port
from tests.waiting import scaled, wait_until


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


async def provision(url: str, spec: StreamSpec) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_stream(nc.jetstream(), spec)
    finally:
        await nc.close()


def test_a_worker_started_before_nats_and_its_stream_waits_for_both(tmp_path: Path):
    server = NatsServer(tmp_path / "nats")  # its port is chosen, nothing listens there yet
    health_port = free_port()
    log = tmp_path / "outbound.log"
    env = {
        **os.environ, "NATS_URL": server.url, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t",
        "HEALTH_PORT": str(health_port), "HEALTH_HOST": "127.0.0.1", "PARTITIONS": "2", "LOG_LEVEL": "info",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.outbound"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "nats_" in log.read_text(errors="replace"), 60, "the worker to try NATS")
        assert proc.poll() is None, log.read_text()
        server.start()  # NATS appears, but the stream does not exist yet
        wait_until(lambda: "waiting_for_jetstream" in log.read_text(errors="replace"), 60, "the worker to wait for the stream")
        assert proc.poll() is None, log.read_text()
        asyncio.run(provision(server.url, StreamSpec(partitions=2)))
        wait_until(lambda: ready(f"http://127.0.0.1:{health_port}/readyz") or proc.poll() is not None, 90,
                   "the worker to become ready")
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(30)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
