"""`python -m services.transcriber` as a real process: ready once the model is loaded,
transcribes a hosted voice note, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from switchboard.infra import free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.transcriber_rig import SID, TOKEN, heard, received, voice, wait_for_texts
from tests.waiting import scaled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


async def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + scaled(timeout)
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the transcriber exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the transcriber never became ready")


async def test_the_process_transcribes_in_sandbox_mode_and_stops_on_sigterm(bus, nats_server, tmp_path):
    async with TwilioEmulator(SID, TOKEN) as emulator:
        health = free_port()
        env = {
            **os.environ, "NATS_URL": nats_server.url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": emulator.url, "HEALTH_PORT": str(health), "LOG_LEVEL": "warning",
            "TRANSCRIBER_MODEL_CACHE": str(tmp_path),  # the default base model is assembled here
        }
        env.pop("TRANSCRIBER_ENGINE", None)
        env.pop("TRANSCRIBER_MODEL", None)
        proc = subprocess.Popen([sys.executable, "-m", "services.transcriber"], env=env)
        try:
            await wait_ready(health, proc)  # first start: the base model is assembled from its wheels
            path = emulator.state.host_media("MM" + "5" * 32, voice("remind_sister.ogg"), "audio/ogg")
            event = received("+34600111222", media=[(emulator.url + path, "audio/ogg")])
            await bus.publish(event, msg_id=event.data.message_sid)
            (text,) = await wait_for_texts(bus, 1, timeout=60)
            assert text.data.engine == "local:base" and text.data.failure is None and text.data.language == "en"
            assert len(heard(text.data.text, ["remind", "call", "sister", "friday"])) >= 3
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_bad_configuration_exits_with_a_clear_message():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TRANSCRIBER_"))}
    result = subprocess.run(
        [sys.executable, "-m", "services.transcriber"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required" in result.stderr
