"""Reminder lateness: due time → the emulator receiving it, for N reminders due within one minute.

Runs a real nats-server, the Twilio emulator (in this process) and 1..3 outbound
processes. Sets `--count` reminders (50 users, inside the 24-hour window) due evenly
over `--window` seconds starting `--lead` seconds from now, waits for all of them, and
reports p50/p90/p99/max lateness and whether each arrived exactly once.

    .venv/bin/python -m tests.bench.reminders [--count 1000] [--window 60] [--replicas 1]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.reminders.timers import STREAM
from services.reminders.worker import DISPATCH_CONSUMER
from shared.bus import Bus, connect
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer, free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.reminders_rig import SID, TOKEN, open_book, reminder, user_wrote


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(count: int, window: float, replicas: int, lead: float, workdir: Path) -> dict[str, object]:
    nats = NatsServer(workdir / "nats").start()
    processes: list[subprocess.Popen] = []
    try:
        nc = await connect(nats.url, "bench", wait=False)
        bus = Bus(nc, stream="WHATSAPP", publish_timeout_s=5.0)
        await ensure_stream(bus.js, StreamSpec())
        async with TwilioEmulator(SID, TOKEN, status_delay_s=0.5) as emulator:
            env = {**os.environ, "NATS_URL": nats.url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                   "TWILIO_API_BASE_URL": emulator.url, "LOG_LEVEL": "warning"}
            for _ in range(replicas):
                processes.append(subprocess.Popen([sys.executable, "-m", "services.outbound"],
                                                  env={**env, "HEALTH_PORT": str(free_port())}))
            users = [f"+3465{n:07d}" for n in range(50)]
            for user in users:
                await user_wrote(bus, user)
            book = await open_book(bus)
            while True:  # every replica waiting on the dispatcher
                try:
                    info = await bus.js.consumer_info(STREAM, DISPATCH_CONSUMER)
                    if (info.num_waiting or 0) >= replicas:
                        break
                except Exception:
                    pass
                await asyncio.sleep(0.2)
            start = datetime.now(UTC) + timedelta(seconds=lead)
            items = [reminder(users[n % len(users)], f"bench {n}", start + timedelta(seconds=window * n / count))
                     for n in range(count)]
            set_started = time.perf_counter()
            for chunk in range(0, count, 100):
                await asyncio.gather(*(book.schedule(item) for item in items[chunk:chunk + 100]))
            set_s = time.perf_counter() - set_started
            if datetime.now(UTC) >= start:
                raise SystemExit(f"setting {count} reminders took {set_s:.1f}s, past the first due time: raise --lead")
            due = {f"⏰ Reminder: {item.text}": item.due_at.timestamp() for item in items}
            deadline = time.monotonic() + lead + window + 120
            while len(emulator.state.messages) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # anything sent twice would show up now
            received = [(m["body"], m["received_at"]) for m in emulator.state.messages]
        await nc.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        nats.stop()
    copies = collections.Counter(body for body, _ in received)
    lateness = [at - due[body] for body, at in received if body in due]
    return {
        "reminders": count, "window_s": window, "replicas": replicas, "set_s": round(set_s, 1),
        "received": len(received), "distinct": len(copies), "duplicates": sum(c - 1 for c in copies.values()),
        "missing": count - len(copies), "early": sum(1 for value in lateness if value < 0),
        "p50_ms": round(percentile(lateness, 0.50) * 1000, 1), "p90_ms": round(percentile(lateness, 0.90) * 1000, 1),
        "p99_ms": round(percentile(lateness, 0.99) * 1000, 1), "max_ms": round(max(lateness) * 1000, 1),
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--lead", type=float, default=40.0, help="seconds from now to the first due time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as workdir:
        print(asyncio.run(run(args.count, args.window, args.replicas, args.lead, Path(workdir))))


if __name__ == "__main__":
    main()
