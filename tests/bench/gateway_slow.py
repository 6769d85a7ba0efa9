"""Valid webhooks while 1,500 slow or hung-up clients hold the gateway (issue 11, item 10).

Starts its own nats-server (JetStream, temporary directory) and one gateway process
(`python -m services.gateway`, LOG_LEVEL=warning) on loopback, as `tests.bench.gateway`
does. Then, each phase stopping by itself:

  1. baseline: signed webhooks at --rate for --baseline-s, nothing else running
  2. attack: `tests.bench.slow_clients` (a child process) opens --clients slow-head,
     slow-body, hang-up and idle clients; once all have connected, signed webhooks at
     --rate for --attack-s while they keep their slots busy

Every measured webhook opens its own connection (as a new Twilio request would, and the
hardest case: it has to be accepted next to the slow ones). Latency runs from the
intended send time (open loop) to the answer's status line, over the webhooks answered
200 (other answers are counted by status; no answer within --request-timeout-s is status
0). Every 200 is checked against the stream.

  .venv/bin/python -m tests.bench.gateway_slow                      # this checkout's gateway
  .venv/bin/python -m tests.bench.gateway_slow --gateway-dir /tmp/old   # another checkout's
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
import uvloop

from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer
from tests.bench.gateway_stack import ServerProcess, cpu_seconds, gateway_process, http_get, machine_busy_seconds
from tests.bench.gateway_stored import settled_state, stored_msg_ids
from tests.bench.gateway_webhooks import build_requests
from tests.bench.open_loop import percentile
from tests.bench.slow_clients import raise_fd_limit

TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://bench.switchboard.test"
STREAM = "WHATSAPP"


@dataclass
class Phase:
    name: str
    statuses: collections.Counter = field(default_factory=collections.Counter)
    latency_ms: list[float] = field(default_factory=list)  # webhooks answered 200 only
    late_ms: list[float] = field(default_factory=list)  # intended send time to connect() starting
    ok_sids: list[str] = field(default_factory=list)
    gateway_cpu_pct: float = 0.0
    other_cpu_pct: float = 0.0
    slow_clients_cpu_pct: float = 0.0
    gateway_p99_le_ms: float = 0.0  # the gateway's own ack histogram: the bucket holding its p99
    waiting_for_cpu_pct: dict[str, float] = field(default_factory=dict)  # runnable, no CPU free
    wall_s: float = 0.0

    def row(self) -> dict[str, object]:
        lat = self.latency_ms
        return {
            "phase": self.name, "sent": sum(self.statuses.values()),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "p50_ms": round(percentile(lat, 50), 2), "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(max(lat, default=0.0), 2),
            "client_late_p99_ms": round(percentile(self.late_ms, 99), 2),
            "gateway_ack_p99_le_ms": self.gateway_p99_le_ms,
            "gateway_cpu_pct": round(self.gateway_cpu_pct), "slow_clients_cpu_pct": round(self.slow_clients_cpu_pct),
            "other_cpu_pct": round(self.other_cpu_pct),
            "waiting_for_cpu_pct": {k: round(v) for k, v in self.waiting_for_cpu_pct.items()},
        }


async def one_webhook(raw: bytes, port: int, intended: float, timeout_s: float) -> tuple[int, float, float]:
    """Send one request on a new connection: (status or 0, ms from `intended` to the status line,
    ms from `intended` to when this client got round to connecting: its own lag)."""
    writer = None
    late_ms = (time.perf_counter() - intended) * 1000
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            line = await reader.readline()
        status = int(line[9:12]) if line.startswith(b"HTTP/1.1 ") else 0
    except (OSError, TimeoutError, ValueError):
        status = 0
    finally:
        if writer is not None:
            writer.close()
    return status, (time.perf_counter() - intended) * 1000, late_ms


async def measure(phase: Phase, raws: list[bytes], sids: list[str], port: int, rate: float,
                  timeout_s: float, gateway_pid: int) -> None:
    """Open loop: request i is due at start + i/rate, whatever happened to the earlier ones."""
    cpu0, busy0, own0, t0 = cpu_seconds(gateway_pid), machine_busy_seconds(), time.process_time(), time.perf_counter()
    start = time.perf_counter() + 0.05
    tasks = []
    for index, raw in enumerate(raws):
        intended = start + index / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_webhook(raw, port, intended, timeout_s)))
    for sid, (status, ms, late_ms) in zip(sids, await asyncio.gather(*tasks), strict=True):
        phase.statuses[status] += 1
        phase.late_ms.append(late_ms)
        if status == 200:
            phase.latency_ms.append(ms)
            phase.ok_sids.append(sid)
    phase.wall_s = time.perf_counter() - t0
    gateway = cpu_seconds(gateway_pid) - cpu0
    ours = gateway + (time.process_time() - own0)
    phase.gateway_cpu_pct = gateway / phase.wall_s * 100
    # Everything else: other work on the machine, nats-server and the slow clients.
    phase.other_cpu_pct = max(0.0, machine_busy_seconds() - busy0 - ours) / phase.wall_s * 100


def runqueue_wait_s(pid: int) -> float:
    """Time all threads of `pid` have spent runnable but waiting for a CPU (/proc schedstat)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


_BUCKET = re.compile(r'^switchboard_webhook_ack_seconds_bucket\{endpoint="messages",le="([^"]+)"\} ([0-9.e+]+)$', re.M)


def ack_buckets(port: int) -> dict[float, float]:
    """The gateway's cumulative ack-time histogram for inbound messages: upper bound (s) -> count."""
    _, text = http_get(port, "/metrics")
    return {float(le): float(count) for le, count in _BUCKET.findall(text)}


def p99_bucket_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """Upper bound (ms) of the first bucket holding 99% of the answers between two readings."""
    deltas = sorted((le, after.get(le, 0) - before.get(le, 0)) for le in after)
    total = deltas[-1][1] if deltas else 0
    for le, count in deltas:
        if total and count >= 0.99 * total:
            return le * 1000
    return float("inf")


class SlowBench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.run_tag = random.getrandbits(24) << 8
        self.failures: list[str] = []

    async def start(self) -> None:
        self.nats_server = NatsServer(self.workdir / "nats").start()
        self.nc = await nats.connect(self.nats_server.url, name="bench")
        self.js = self.nc.jetstream()
        await ensure_stream(self.js, StreamSpec(name=STREAM))
        self.gateway: ServerProcess = gateway_process(
            self.workdir, nats_url=self.nats_server.url, token=TOKEN, public_base_url=PUBLIC_BASE_URL
        )
        if self.args.gateway_dir:
            self.gateway.cwd = Path(self.args.gateway_dir)
            self.gateway.env = {**(self.gateway.env or {}), "PYTHONPATH": str(self.gateway.cwd)}
        for pair in self.args.gateway_env:
            key, _, value = pair.partition("=")
            self.gateway.env = {**(self.gateway.env or {}), key: value}
        self.gateway.start(ready_path="/readyz")

    async def stop(self) -> None:
        self.gateway.stop()
        await self.nc.close()
        self.nats_server.stop()

    async def phase(self, name: str, seconds: float, slow_pid: int | None = None) -> Phase:
        self.run_tag += 1
        port = self.gateway.port
        signed = build_requests(int(self.args.rate * seconds), token=TOKEN, public_base_url=PUBLIC_BASE_URL,
                                host=f"127.0.0.1:{port}", run_tag=self.run_tag)
        _, first_seq = await settled_state(self.js, STREAM)
        phase = Phase(name)
        buckets = ack_buckets(port)
        slow0 = cpu_seconds(slow_pid) if slow_pid else 0.0
        pids = {"gateway": self.gateway.pid, "nats": self.nats_server.proc.pid, "bench": os.getpid()}  # type: ignore[union-attr]
        waits = {name: runqueue_wait_s(pid) for name, pid in pids.items()}
        await measure(phase, signed.raw, signed.sids, port, self.args.rate, self.args.request_timeout_s, self.gateway.pid)
        phase.waiting_for_cpu_pct = {name: (runqueue_wait_s(pid) - waits[name]) / phase.wall_s * 100 for name, pid in pids.items()}
        phase.gateway_p99_le_ms = p99_bucket_ms(buckets, ack_buckets(port))
        if slow_pid:
            phase.slow_clients_cpu_pct = (cpu_seconds(slow_pid) - slow0) / phase.wall_s * 100
            phase.other_cpu_pct = max(0.0, phase.other_cpu_pct - phase.slow_clients_cpu_pct)
        _, last_seq = await settled_state(self.js, STREAM)
        stored = await stored_msg_ids(self.js, STREAM, first_seq + 1, last_seq)
        lost = [sid for sid in phase.ok_sids if sid not in stored]
        if lost:
            self.failures.append(f"{name}: {len(lost)} acknowledged webhooks not in the stream, e.g. {lost[:3]}")
        return phase

    async def attack(self) -> tuple[Phase, dict[str, object]]:
        args = self.args
        duration = args.ramp_s + args.attack_s + args.ready_wait_s
        # Niced: on a loopback bench the slow clients share the CPUs with the gateway, which a
        # remote attacker would not; at nice 10 their own CPU time does not look like the gateway's.
        cmd = ["nice", "-n", str(args.slow_nice), sys.executable, "-m", "tests.bench.slow_clients", "--port", str(self.gateway.port),
               "--clients", str(args.clients), "--ramp-s", str(args.ramp_s), "--duration-s", str(duration)]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), args.ramp_s + args.ready_wait_s)
            if not line.startswith(b"ready"):
                raise RuntimeError(f"slow clients did not start: {line!r}")
            say(f"slow clients connected ({line.decode().split()[1]} open); measuring for {args.attack_s:g}s")
            phase = await self.phase(f"{args.clients} slow clients", args.attack_s, proc.pid)
            proc.terminate()  # it would stop by itself at `duration`; no need to wait
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        except BaseException:
            if proc.returncode is None:
                proc.kill()
            raise
        lines = out.decode().strip().splitlines()
        return phase, (json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {})


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> dict[str, object]:
    limits = raise_fd_limit(args.clients + 1024)  # children (gateway, slow clients) inherit it
    say(f"open-file limit (soft, hard): {limits}")
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        bench = SlowBench(args, Path(tmp))
        await bench.start()
        try:
            baseline = await bench.phase("baseline", args.baseline_s)
            say(f"baseline: {baseline.row()}")
            attacked, clients = await bench.attack()
            alive = bench.gateway.proc is not None and bench.gateway.proc.poll() is None
        finally:
            await bench.stop()
            log = (Path(tmp) / "gateway.log").read_text(errors="replace")
    rows = [baseline.row(), attacked.row()]
    ratio = attacked.row()["p99_ms"] / max(0.01, float(baseline.row()["p99_ms"]))  # type: ignore[operator]
    report = {
        "gateway_dir": args.gateway_dir or str(Path(__file__).parents[2]), "gateway_env": args.gateway_env,
        "rate": args.rate, "clients": args.clients, "slow_nice": args.slow_nice, "fd_limit": limits, "rows": rows,
        "p99_ratio": round(ratio, 1), "slow_clients": clients, "gateway_alive": alive,
        "gateway_log_lines": len(log.splitlines()), "tracebacks": log.count("Traceback"),
        "failures": bench.failures, "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "load": os.getloadavg(),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=20, help="valid webhooks per second")
    parser.add_argument("--baseline-s", type=float, default=15)
    parser.add_argument("--attack-s", type=float, default=30)
    parser.add_argument("--ramp-s", type=float, default=3)
    parser.add_argument("--ready-wait-s", type=float, default=30, help="how long all clients may take to connect")
    parser.add_argument("--slow-nice", type=int, default=10, help="niceness of the slow-client process (0: same as ours)")
    parser.add_argument("--request-timeout-s", type=float, default=30)
    parser.add_argument("--gateway-dir", help="run the gateway from this checkout (default: this one)")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    report = uvloop.run(run(args))
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    sys.exit(1 if report["failures"] else 0)


if __name__ == "__main__":
    main()
