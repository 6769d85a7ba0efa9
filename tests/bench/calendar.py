"""Calendar RPC round trip on the local backend: p50 and p99 for list and create, 1 and 20 callers.

    .venv/bin/python -m tests.bench.calendar [--seconds 4] [--database-url postgresql://…]

Everything runs on loopback: a nats-server and (unless given a database) an embedded
Postgres in a temporary directory, and `python -m services.calendar` as its own process,
exactly as deployed. Callers are asyncio tasks in this process sharing one NATS
connection, each with its own owner; latency is measured per request from send to reply
(closed loop: a caller sends its next request when the last one is answered). Each phase
runs for `--seconds` after a short warm-up; the whole run is bounded by `--deadline`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from shared.bus import connect
from shared.calendar import CalendarClient, CreateEvent, ListEvents
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import LocalPostgres, NatsServer, free_port

REPO = Path(__file__).resolve().parents[2]
BUSINESS = "+14155238886"
OWNERS = [f"+3460011{1000 + n}" for n in range(20)]
MONTH = datetime(2026, 12, 1)
PHASES = [("list", 1), ("list", 20), ("create", 1), ("create", 20)]


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> list[tuple[str, str]]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return [("CPU", f"{cpu}, {os.cpu_count()} cores"), ("OS", platform.platform()),
            ("Python", platform.python_version()), ("load before run", " ".join(map(str, os.getloadavg())))]


def who(owner: str) -> dict[str, str]:
    return {"owner": owner, "conversation": conversation_id(BUSINESS, owner)}


def list_request(caller: int, n: int) -> ListEvents:
    day = MONTH + timedelta(days=n % 28)
    return ListEvents(**who(OWNERS[caller]), start=day, end=day + timedelta(days=1))


def create_request(caller: int, n: int) -> CreateEvent:
    start = MONTH + timedelta(days=n % 28, hours=8 + n % 10, minutes=(n * 7) % 60)
    return CreateEvent(**who(OWNERS[caller]), summary=f"Bench {n}", start=start, duration_minutes=30)


async def run_phase(client: CalendarClient, op: str, callers: int, seconds: float) -> list[float]:
    make, call = (list_request, client.list) if op == "list" else (create_request, client.create)
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def caller(index: int) -> None:
        n = index * 100_000
        while time.monotonic() < stop_at:
            request = make(index, n)
            started = time.perf_counter()
            await call(request)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1

    await asyncio.gather(*(caller(i) for i in range(callers)))
    return latencies


async def seed(client: CalendarClient) -> None:
    """Two events a day for four weeks per owner: a listed day holds two events."""
    for owner in OWNERS:
        await asyncio.gather(*(
            client.create(CreateEvent(**who(owner), summary=f"Seed {day}-{hour}", duration_minutes=60,
                                      start=MONTH + timedelta(days=day, hours=hour)))
            for day in range(28) for hour in (9, 15)
        ))


def start_service(env: dict[str, str], log: Path, health_port: int) -> subprocess.Popen:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.calendar"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"calendar exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"calendar never became ready; see {log}")


async def bench(args: argparse.Namespace, workdir: Path) -> str:
    nats = NatsServer(workdir / "nats").start()
    postgres = None if args.database_url else LocalPostgres(workdir / "pg", durable=False).start()
    proc: subprocess.Popen | None = None
    try:
        base_url = args.database_url or postgres.url  # type: ignore[union-attr]
        admin = await asyncpg.connect(base_url)
        name = f"calendar_bench_{os.getpid()}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        database_url = base_url.rsplit("/", 1)[0] + f"/{name}"
        nc = await connect(nats.url, "calendar-bench", wait=False)
        await ensure_stream(nc.jetstream(), StreamSpec())
        health_port = free_port()
        env = {**os.environ, "NATS_URL": nats.url, "DATABASE_URL": database_url, "HEALTH_PORT": str(health_port),
               "HEALTH_HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
        proc = start_service(env, workdir / "calendar.log", health_port)
        client = CalendarClient(nc, timeout_s=10)
        await seed(client)
        rows = []
        for op, callers in PHASES:
            await run_phase(client, op, callers, args.warmup)
            cpu_before, wall_before = cpu_seconds(proc.pid), time.monotonic()
            latencies = sorted(await run_phase(client, op, callers, args.seconds))
            wall = time.monotonic() - wall_before
            cpu = (cpu_seconds(proc.pid) - cpu_before) / wall * 100
            rows.append(f"| {op} | {callers} | {len(latencies)} | {len(latencies) / wall:,.0f} "
                        f"| {percentile(latencies, 0.5):.2f} | {percentile(latencies, 0.99):.2f} "
                        f"| {latencies[-1]:.1f} | {cpu:.0f} |")
            print(rows[-1], flush=True)
        await nc.close()
        return "\n".join([
            "| operation | concurrent callers | requests | requests/s | p50 ms | p99 ms | max ms | service CPU % of a core |",
            "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
            "| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in machine()),
        ])
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        if postgres is not None:
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before each phase")
    parser.add_argument("--deadline", type=float, default=240.0, help="abort the whole run after this long")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a Postgres superuser URL to use instead of an embedded server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calendar-bench-") as workdir:
        report = asyncio.run(asyncio.wait_for(bench(args, Path(workdir)), args.deadline))
    print("\n" + report)


if __name__ == "__main__":
    main()
