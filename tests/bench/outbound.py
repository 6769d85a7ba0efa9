"""Outbound benchmark: added latency and throughput, ReplyComposed published → emulator received.

Runs a real nats-server, the Twilio emulator as its own process, and 1 or 2 outbound
processes with pacing off. Reports p50/p99 of the added latency at a fixed rate, the
sustained throughput, and what the emulator takes on its own (direct sends through the
same twilio client, no outbound in between), so the reader sees who is the limit.

    .venv/bin/python -m tests.bench.outbound [--replies 1500] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from pathlib import Path

from services.outbound.twilio_api import TwilioMessages
from shared.bus import Bus, connect
from shared.events import ReplyComposed, ReplyComposedData
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer, free_port
from tests.bench.gateway_stack import ServerProcess, cpu_seconds, machine

SID, TOKEN = "AC" + "b" * 32, "bench-token"
BUSINESS = "+14155238886"


def users(count: int) -> list[str]:
    return [f"+3462{i:07d}" for i in range(count)]


def emulator_messages(port: int, user: str) -> list[dict]:
    query = urllib.parse.urlencode({"to": f"whatsapp:{user}"})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_sandbox/messages?{query}")
    request.add_header("Authorization", "Basic " + b64encode(f"{SID}:{TOKEN}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["messages"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def publish_replies(bus: Bus, targets: list[str], count: int, rate: float | None) -> dict[str, float]:
    """Publish `count` replies round-robin over `targets`; returns reply id → publish time."""
    published: dict[str, float] = {}
    interval = 1 / rate if rate else 0.0
    started = time.perf_counter()
    for n in range(count):
        if interval:
            await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
        user = targets[n % len(targets)]
        reply_id = uuid.uuid4().hex
        event = ReplyComposed(
            conversation=conversation_id(BUSINESS, user),
            data=ReplyComposedData(reply_id=reply_id, in_reply_to=(f"SM{n}",), from_=BUSINESS, to=user, text=f"bench {reply_id}", model="bench"),
        )
        published[reply_id] = time.time()
        await bus.publish(event, msg_id=f"reply:{reply_id}")
    return published


def collect(port: int, targets: list[str], expected: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    received: dict[str, float] = {}
    while time.monotonic() < deadline:
        received = {
            m["body"].split()[-1]: m["received_at"] for user in targets for m in emulator_messages(port, user)
        }
        if len(received) >= expected:
            break
        time.sleep(0.5)
    return received


async def emulator_alone(port: int, count: int, concurrency: int = 16) -> float:
    client = TwilioMessages(SID, TOKEN, f"http://127.0.0.1:{port}")
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await client.send(BUSINESS, "+34699999999", f"direct {n}", None)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    return count / elapsed


async def run(replicas: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    nats = NatsServer(workdir / f"nats-{replicas}").start()
    emulator_port = free_port()
    env = {**os.environ, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "LOG_LEVEL": "warning"}
    emulator = ServerProcess(
        "sandbox", [sys.executable, "-m", "switchboard.sandbox"], emulator_port, workdir / f"sandbox-{replicas}.log",
        {**env, "SANDBOX_PORT": str(emulator_port)},
    ).start()
    workers = []
    nc = await connect(nats.url, "bench", wait=False)
    bus = Bus(nc)
    try:
        await ensure_stream(bus.js, StreamSpec())
        for n in range(replicas):
            port = free_port()
            workers.append(ServerProcess(
                f"outbound-{n}", [sys.executable, "-m", "services.outbound"], port, workdir / f"outbound-{replicas}-{n}.log",
                {**env, "NATS_URL": nats.url, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{emulator_port}",
                 "OUTBOUND_PACING": "off", "HEALTH_PORT": str(port)},
            ).start(ready_path="/readyz"))
        # Warm up: every partition's consumer bound, the HTTP pool open. A cold worker's
        # first replies take about a second; this measures the steady state.
        warm_users = users(96)[64:]
        warm = await publish_replies(bus, warm_users, 64, None)
        collect(emulator_port, warm_users, len(warm), 60)

        latency_users = users(20)
        published = await publish_replies(bus, latency_users, args.latency_replies, args.rate)
        received = collect(emulator_port, latency_users, len(published), 60)
        added_ms = [(received[r] - t) * 1000 for r, t in published.items() if r in received]
        if args.verbose:
            print("latency by publish order (ms):", [round(x) for x in added_ms])

        burst_users = users(64)[20:]
        started = time.time()
        cpu_before = [cpu_seconds(w.pid) for w in workers], cpu_seconds(emulator.pid)
        burst = await publish_replies(bus, burst_users, args.replies, None)
        got = collect(emulator_port, burst_users, len(burst), 120)
        window = (max(got.values()) - started) if got else 1.0
        throughput = len(got) / window if got else 0.0
        # Who was busy: CPU used during the run, as a share of one core.
        outbound_cpu = sum(cpu_seconds(w.pid) - b for w, b in zip(workers, cpu_before[0], strict=True)) / window
        emulator_cpu = (cpu_seconds(emulator.pid) - cpu_before[1]) / window
        alone = await emulator_alone(emulator_port, args.replies)
    finally:
        await nc.close()
        for worker in workers:
            worker.stop()
        emulator.stop()
        nats.stop()
    return {
        "replicas": replicas, "latency_n": len(added_ms), "p50_ms": statistics.median(added_ms),
        "p99_ms": percentile(added_ms, 0.99), "lost": len(published) - len(added_ms) + len(burst) - len(got),
        "throughput": throughput, "emulator_alone": alone,
        "outbound_cpu": outbound_cpu, "emulator_cpu": emulator_cpu,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=1500, help="replies in the throughput run")
    parser.add_argument("--latency-replies", type=int, default=500, help="replies in the fixed-rate latency run")
    parser.add_argument("--rate", type=float, default=50.0, help="replies/s in the latency run")
    parser.add_argument("--verbose", action="store_true", help="print every latency sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [await run(replicas, args, Path(tmp)) for replicas in (1, 2)]
    info = machine()
    print(f"\nmachine: {info.cpu}, {info.cores} cores, Python {info.python}, nats-server {info.nats_server}\n")
    print("| outbound replicas | added latency p50 | p99 | throughput (replies/s) | emulator alone (msgs/s) | CPU outbound / emulator | lost |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['replicas']} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['throughput']:.0f} | "
            f"{r['emulator_alone']:.0f} | {r['outbound_cpu']:.0%} / {r['emulator_cpu']:.0%} | {r['lost']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
