"""An erasure killed (-9) half-way, then run again with `switchboard erase`, completes: the
second run keeps the first one's cut, skips the stores already done, and leaves nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from shared.eventlog_jetstream import JetStreamEventLog
from shared.ids import conversation_id
from switchboard.privacy.erasure import erasure_records
from tests.integration.test_agent_memory import BUSINESS
from tests.integration.test_privacy_erase import ALICE, ALICE_VOICE_WORD, ALICE_WORD, BOB, BOB_WORD, alice_and_bob
from tests.privacy_rig import privacy_stack, scan_streams, scan_tables, settled
from tests.waiting import scaled

ROOT = Path(__file__).resolve().parents[2]


def _env(bus, database_url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "STREAM_", "DATABASE_", "PRIVACY_"))}
    return {**env, "NATS_URL": bus.nc.connected_url.geturl(), "STREAM_NAME": bus.stream, "DATABASE_URL": database_url,
            "SWITCHBOARD_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), **more}


async def test_an_erasure_killed_half_way_completes_when_run_again(bus, database_url, tmp_path):
    alice, bob = conversation_id(BUSINESS, ALICE), conversation_id(BUSINESS, BOB)
    async with privacy_stack(bus, database_url) as stack:
        await alice_and_bob(stack)
        await settled(bus, database_url, (alice, bob))

    worker = subprocess.Popen([sys.executable, "-m", "tests.erase_crash_worker"], cwd=ROOT, stdout=subprocess.PIPE,
                              env=_env(bus, database_url, tmp_path, NUMBER=ALICE, HOLD_AFTER="calendar"))
    try:
        async def held() -> None:
            while (line := await asyncio.to_thread(worker.stdout.readline)) and line.decode().strip() != "held calendar":
                pass
            assert line, "the worker ended without holding"

        await asyncio.wait_for(held(), scaled(60))
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    # The fault fired half-way: the record is running, some stores are done and the stream is not.
    [record] = await erasure_records(JetStreamEventLog(bus))
    assert record["state"] == "running" and "calendar" in record["removed"] and "stream" not in record["removed"]
    cut = record["cut_seq"]
    assert await scan_streams(bus, [ALICE_WORD])  # still there: the stream goes last

    rerun = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "switchboard", "erase", ALICE, "--by", "ops"],
                                    cwd=ROOT, capture_output=True, text=True, env=_env(bus, database_url, tmp_path),
                                    timeout=scaled(120))
    assert rerun.returncode == 0, rerun.stderr
    done = json.loads(rerun.stdout)
    assert done["state"] == "completed" and done["cut_seq"] == cut
    assert done["removed"]["calendar"] == record["removed"]["calendar"]  # not run again
    assert done["removed"]["stream"] > 0 and done["removed"]["audit"] > 0

    needles = [ALICE, ALICE.lstrip("+"), alice, ALICE_WORD, ALICE_VOICE_WORD]
    assert await scan_streams(bus, needles) == [] and await scan_tables(database_url, needles) == []
    assert await scan_streams(bus, [BOB_WORD]) and await scan_tables(database_url, [bob])
    assert ALICE not in rerun.stdout + rerun.stderr
