"""Gateway acknowledgement benchmark (issue 2): signed webhooks in, PubAck, 200 out.

Starts its own nats-server (JetStream, file storage, a temporary directory) and ONE
gateway process (`python -m services.gateway`, LOG_LEVEL=warning) on loopback ports,
provisions the WHATSAPP stream, and pre-signs distinct webhooks (one MessageSid each).
Then, each run stopping by itself:

  1. open loop at --rate against a do-nothing static responder (the generator alone)
  2. open loop at --rate against the gateway: p50/p90/p99/max from intended send time
  3. open loop at each of --extra-rates against the gateway
  4. wrk against the static responder (the generator alone) and a FastAPI no-op route
  5. wrk against the gateway: the highest sustained rate

After every gateway run it counts the events the run added to the stream and compares
them with the 200s the generator saw; after open-loop runs it also looks up every
acknowledged MessageSid in the stream. Any acknowledged event missing fails the run.

  .venv/bin/python -m tests.bench.gateway            (or: bash tests/bench/run.sh)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
import uvloop

from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer
from tests.bench.gateway_report import RunResult, as_dict, machine_table, results_table, verdicts
from tests.bench.gateway_stack import (
    ServerProcess,
    cpu_seconds,
    gateway_process,
    machine,
    machine_busy_seconds,
    responder_process,
    wait_until_quiet,
    webhook_outcomes,
)
from tests.bench.gateway_stored import settled_state, stored_msg_ids
from tests.bench.gateway_webhooks import build_requests, write_for_wrk
from tests.bench.open_loop import percentile, run_open_loop
from tests.bench.wrk import run_wrk, write_script

TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://bench.switchboard.test"
STREAM = "WHATSAPP"


@dataclass
class StreamSnapshot:
    messages: int = 0
    last_seq: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class CpuSnapshot:
    seconds: dict[str, float]
    at: float


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.run_tag = random.getrandbits(24) << 8  # distinct sids per bench and per run
        self.nats_server: NatsServer | None = None
        self.nc = None
        self.gateway: ServerProcess | None = None
        self.responders: dict[str, ServerProcess] = {}
        self.script = write_script(workdir)
        self.failures: list[str] = []

    async def start(self) -> None:
        self.nats_server = NatsServer(self.workdir / "nats").start()
        self.nc = await nats.connect(self.nats_server.url, name="bench")
        self.js = self.nc.jetstream()
        await ensure_stream(self.js, StreamSpec(name=STREAM))
        self.gateway = gateway_process(
            self.workdir, nats_url=self.nats_server.url, token=TOKEN, public_base_url=PUBLIC_BASE_URL,
            command=shlex.split(self.args.gateway_cmd) if self.args.gateway_cmd else None,
        ).start(ready_path="/readyz")
        for kind in () if self.args.gateway_only else ("static", "fastapi"):
            self.responders[kind] = responder_process(kind, self.workdir).start()

    async def stop(self) -> None:
        for server in [self.gateway, *self.responders.values()]:
            if server is not None:
                server.stop()
        if self.nc is not None:
            await self.nc.close()
        if self.nats_server is not None:
            self.nats_server.stop()

    def next_tag(self) -> int:
        self.run_tag += 1
        return self.run_tag

    def requests(self, count: int, port: int):
        return build_requests(
            count, token=TOKEN, public_base_url=PUBLIC_BASE_URL, host=f"127.0.0.1:{port}", run_tag=self.next_tag()
        )

    def our_processes(self) -> dict[str, int]:
        servers = {"gateway": self.gateway, **self.responders}
        pids = {name: server.pid for name, server in servers.items() if server is not None}
        pids["nats"] = self.nats_server.proc.pid  # type: ignore[union-attr]
        return pids

    async def wait_quiet(self) -> float:
        """Let other work on the machine finish first: the runs share two cores with it."""
        pids = list(self.our_processes().values())
        load = await asyncio.to_thread(
            wait_until_quiet, pids, threshold=self.args.quiet_threshold, max_wait_s=self.args.quiet_wait
        )
        if load > self.args.quiet_threshold:
            say(f"the machine is still busy ({load:.0f}% of a core used by other processes); running anyway")
        return load

    async def stream_snapshot(self, server: ServerProcess) -> StreamSnapshot:
        """The stream once it has settled, and the gateway's webhook counters."""
        if server is not self.gateway:
            return StreamSnapshot()
        messages, last_seq = await settled_state(self.js, STREAM)
        return StreamSnapshot(messages, last_seq, webhook_outcomes(server.port))

    def cpu_snapshot(self, server: ServerProcess) -> CpuSnapshot:
        seconds = {name: cpu_seconds(pid) for name, pid in self.our_processes().items()}
        seconds["server"] = cpu_seconds(server.pid)
        seconds["bench"] = time.process_time()
        seconds["machine"] = machine_busy_seconds()
        return CpuSnapshot(seconds, time.perf_counter())

    def cpu_percent(self, before: CpuSnapshot, after: CpuSnapshot, wrk_cpu_s: float | None) -> dict[str, float]:
        """CPU per process over the run, in % of one core; `other` is everything not ours."""
        wall_s = after.at - before.at
        used = {key: after.seconds[key] - before.seconds[key] for key in before.seconds}
        ours = sum(value for key, value in used.items() if key not in ("server", "machine")) + (wrk_cpu_s or 0.0)
        generator = wrk_cpu_s if wrk_cpu_s is not None else used["bench"]
        percent = {"server": used["server"], "nats": used["nats"], "generator": generator,
                   "other": max(0.0, used["machine"] - ours)}
        return {key: value / wall_s * 100 for key, value in percent.items()}

    def check_stored(self, run: RunResult, before: StreamSnapshot, after: StreamSnapshot) -> None:
        run.stored = after.messages - before.messages
        run.metrics_stored = after.outcomes.get("stored", 0) - before.outcomes.get("stored", 0)
        run.duplicates = after.outcomes.get("duplicate", 0) - before.outcomes.get("duplicate", 0)
        if run.stored < run.ok:
            self.failures.append(
                f"{run.name}: {run.ok} acknowledged but only {run.stored} events stored: {run.ok - run.stored} LOST"
            )
        if run.duplicates:
            self.failures.append(f"{run.name}: {run.duplicates} duplicate MessageSids sent; the run is not valid")

    async def open_loop(self, name: str, target: str, server: ServerProcess, rate: float, duration_s: float) -> RunResult:
        gateway = server is self.gateway
        warmup = int(rate * self.args.warmup)
        signed = self.requests(warmup + int(rate * duration_s), server.port)
        await self.wait_quiet()
        before = await self.stream_snapshot(server)
        cpu_before = self.cpu_snapshot(server)
        result = await run_open_loop(signed.raw, "127.0.0.1", server.port, rate=rate, warmup=warmup)
        cpu_after = self.cpu_snapshot(server)
        after = await self.stream_snapshot(server)
        ok = sum(1 for status in result.statuses if status == 200)
        lat = result.from_intended_ms
        run = RunResult(
            name=name, target=target, generator=f"open loop {rate:g}/s",
            duration_s=result.duration_s, requests=result.answered, ok=ok, failed=len(result.statuses) - ok,
            rate=result.answered / result.duration_s, offered_rate=rate,
            latency_ms={"p50": percentile(lat, 50), "p90": percentile(lat, 90), "p99": percentile(lat, 99),
                        "max": max(lat, default=0.0)},
            latency_basis="from intended send",
            cpu_percent=self.cpu_percent(cpu_before, cpu_after, None),
        )
        run.notes.append(
            f"{len(lat)} timed after {warmup} warm-up; p99 from actual send {percentile(result.from_sent_ms, 99):.2f} ms; "
            f"{result.connections} connections, at most {result.max_in_flight} in flight, "
            f"{result.late_sends} sends >5 ms late"
        )
        if gateway:
            self.check_stored(run, before, after)
            stored_ids = await stored_msg_ids(self.js, STREAM, before.last_seq + 1, after.last_seq)
            missing = [signed.sids[i] for i in result.ok_indices if signed.sids[i] not in stored_ids]
            run.ids_checked = True
            if missing:
                self.failures.append(f"{name}: {len(missing)} acknowledged MessageSids not in the stream, e.g. {missing[:3]}")
        return run

    async def saturate(self, name: str, target: str, server: ServerProcess, connections: int, data_dir: Path) -> RunResult:
        gateway = server is self.gateway
        threads = self.args.threads
        await self.wait_quiet()
        before = await self.stream_snapshot(server)
        cpu_before = self.cpu_snapshot(server)
        result = await run_wrk(
            f"http://127.0.0.1:{server.port}/twilio/messages", self.script, data_dir,
            threads=threads, connections=connections, duration_s=self.args.duration,
        )
        cpu_after = self.cpu_snapshot(server)
        after = await self.stream_snapshot(server)
        run = RunResult(
            name=name, target=target, generator=f"wrk -t{threads} -c{connections} -d{self.args.duration}s",
            duration_s=result.duration_s, requests=result.requests, ok=result.ok,
            failed=result.non_2xx + result.socket_errors + result.timeouts, rate=result.rate,
            latency_ms=result.latency_ms, latency_basis="from send (closed loop)",
            cpu_percent=self.cpu_percent(cpu_before, cpu_after, result.cpu_s),
        )
        run.notes.append(
            f"p99.9 {result.latency_ms['p999']:.2f} ms; {result.sent} requests sent, {result.requests} answered "
            f"({result.non_2xx} non-2xx, {result.socket_errors} socket errors, {result.timeouts} timeouts)"
        )
        if gateway:
            if result.wrapped:
                self.failures.append(f"{name}: wrk ran out of distinct requests ({result.wrapped} repeats); raise --max-rate")
            self.check_stored(run, before, after)
        return run

    def wrk_pool(self, name: str, count: int) -> Path:
        directory = self.workdir / f"wrk-{name}"
        write_for_wrk(self.requests(count, self.gateway.port), directory, self.args.threads)  # type: ignore[union-attr]
        return directory

    async def run_all(self) -> list[RunResult]:
        args, runs = self.args, []
        static, fastapi, gateway = self.responders.get("static"), self.responders.get("fastapi"), self.gateway
        assert gateway is not None
        if not args.gateway_only:
            say(f"open loop {args.rate:g}/s against the static responder ({args.latency_duration:g}s)")
            runs.append(await self.open_loop(
                "generator alone, fixed rate", "static responder", static, args.rate, args.latency_duration
            ))
        say(f"open loop {args.rate:g}/s against the gateway ({args.warmup:g}s warm-up + {args.latency_duration:g}s)")
        runs.append(await self.open_loop("latency at fixed rate", "gateway", gateway, args.rate, args.latency_duration))
        for rate in args.extra_rates:
            say(f"open loop {rate:g}/s against the gateway ({args.warmup:g}s warm-up + {args.extra_duration:g}s)")
            runs.append(await self.open_loop(f"fixed rate {rate:g}/s", "gateway", gateway, rate, args.extra_duration))
        pools = {c: self.wrk_pool(f"c{c}", int(args.max_rate * (args.duration + 2))) for c in args.connections}
        if not args.gateway_only:
            most = max(args.connections)
            say(f"wrk -c{most} against the static responder and the FastAPI no-op ({args.duration}s each)")
            runs.append(await self.saturate("generator alone, saturation", "static responder", static, most, pools[most]))
            runs.append(await self.saturate("framework alone, saturation", "FastAPI no-op", fastapi, most, pools[most]))
        for connections, pool in pools.items():
            say(f"wrk -c{connections} against the gateway ({args.duration}s)")
            runs.append(await self.saturate(f"saturation c{connections}", "gateway", gateway, connections, pool))
        return runs


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def rates(text: str) -> list[float]:
        return [float(x) for x in text.split(",") if x.strip()]

    def counts(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300, help="fixed rate of the latency run, req/s (default 300)")
    parser.add_argument("--latency-duration", type=float, default=20, help="timed seconds of the latency run (default 20)")
    parser.add_argument("--extra-rates", type=rates, default=[1000.0],
                        help="more fixed rates to run against the gateway, comma-separated; '' for none (default 1000)")
    parser.add_argument("--extra-duration", type=float, default=15, help="timed seconds of each extra-rate run (default 15)")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds before each fixed-rate run (default 2)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of each wrk run (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=counts, default=[8, 64],
                        help="wrk connections, comma-separated: one saturation run each (default 8,64)")
    parser.add_argument("--max-rate", type=float, default=4000,
                        help="highest gateway rate to prepare distinct requests for (default 4000/s)")
    parser.add_argument("--quiet-threshold", type=float, default=15,
                        help="before each run, wait until other processes use less than this %% of a core (default 15)")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="longest wait for a quiet machine before running anyway, seconds (default 120)")
    parser.add_argument("--gateway-only", action="store_true",
                        help="skip the generator-alone and framework-alone runs (to compare gateway changes quickly)")
    parser.add_argument("--gateway-cmd",
                        help="run this instead of `python -m services.gateway` (to measure a change on a scratch copy); "
                             "it gets the same environment")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, nats store)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is not met")
    args = parser.parse_args(argv)
    longest = max([args.latency_duration, args.extra_duration, float(args.duration)]) + args.warmup
    if longest > 30:
        parser.error("every run must stop within 30 s (duration + warm-up)")
    return args


async def main_async(args: argparse.Namespace) -> int:
    # SIGTERM cancels the run like Ctrl-C does, so the servers started below are stopped.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # type: ignore[union-attr]
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    bench = Bench(args, workdir)
    try:
        say(f"starting nats-server and the gateway in {workdir}")
        await bench.start()
        runs = await bench.run_all()
    finally:
        await bench.stop()
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = verdicts(runs, args.rate, args.quiet_threshold)
    print("## Gateway acknowledgement (issue 2)\n")
    print(machine_table(info.rows()) + "\n")
    print(results_table(runs) + "\n")
    print("\n".join(lines) + "\n")
    print("Notes per run:")
    for run in runs:
        print(f"- {run.name} ({run.target}): " + "; ".join(run.notes))
    if args.json:
        args.json.write_text(json.dumps({"machine": info.__dict__, "runs": as_dict(runs), "verdicts": lines}, indent=2))
    if bench.failures:
        print("\nFAILED:", file=sys.stderr)
        for failure in bench.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    if args.strict and any("NOT met" in line for line in lines):
        return 3
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return uvloop.run(main_async(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        say("interrupted; the servers it started are stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
