"""A worker process stops cleanly on SIGTERM, even when NATS never answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from switchboard.infra import free_port
from tests.waiting import scaled


def test_sigterm_before_nats_answers_exits_cleanly():
    env = {
        **os.environ, "NATS_URL": f"nats://127.0.0.1:{free_port()}", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "t", "HEALTH_PORT": str(free_port()), "LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "services.outbound"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + scaled(30)
        for line in proc.stderr:  # wait until it is retrying the connection
            if "nats_unavailable" in line or time.monotonic() > deadline:
                break
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
