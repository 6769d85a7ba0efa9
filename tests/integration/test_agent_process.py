"""`python -m services.agent` as operators run it: ready, answering, stopping cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.events import ReplyComposed
from switchboard.infra import free_port
from tests.integration.test_agent_memory import OWNER_A, Recorder, send_text, wait_until
from tests.waiting import scaled

ROOT = Path(__file__).resolve().parents[2]
AGENT_ENV = ("DATABASE_URL", "OPENAI_", "AGENT_", "TAVILY_", "DEFAULT_TIMEZONE", "HEALTH_")


def health(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return response.status
    except OSError:
        return 0


async def test_python_m_services_agent_answers_and_stops_cleanly(bus, database_url, tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(AGENT_ENV)}
    env.update(NATS_URL=bus.nc.connected_url.geturl(), DATABASE_URL=database_url, STREAM_NAME=bus.stream,
               HEALTH_PORT=str(port), HEALTH_HOST="127.0.0.1", LOG_FORMAT="console", AGENT_DEBOUNCE_S="0")
    log_path = tmp_path / "agent.log"
    with log_path.open("w") as log:
        async with Recorder(bus) as seen:
            proc = subprocess.Popen([sys.executable, "-m", "services.agent"], cwd=ROOT, env=env, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + scaled(120)
                while health(port, "/readyz") != 200:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "the agent never became ready"
                    await asyncio.sleep(0.1)
                await send_text(bus, OWNER_A, "What time is it?")
                await wait_until(lambda: seen.of(ReplyComposed), timeout=30)
                assert seen.of(ReplyComposed)[0].data.text.startswith("It's ")
                assert health(port, "/metrics") == 200
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
    output = log_path.read_text()
    assert "worker_stopped" in output and OWNER_A not in output  # no phone numbers above debug


def test_bad_configuration_fails_fast_with_a_clear_message():
    env = {key: value for key, value in os.environ.items() if not key.startswith(AGENT_ENV)}
    missing = subprocess.run([sys.executable, "-m", "services.agent"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert "agent: bad configuration" in missing.stderr and "DATABASE_URL" in missing.stderr
