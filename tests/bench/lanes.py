"""Conversations in parallel (issue 10): replies/s against agent replicas, idle cost per
partition count, pipeline overhead, and how long a lone message waits.

Starts its own nats-server and Postgres in a temporary directory; every service runs as
its own process, as `switchboard up` runs them. Loopback only, bounded in time.

  .venv/bin/python -m tests.bench.lanes replicas [--users 500] [--messages 3] [--latency 1,3] [--replicas 1,2,4]
  .venv/bin/python -m tests.bench.lanes idle [--partitions 16,256] [--seconds 30]
  .venv/bin/python -m tests.bench.lanes pipeline [--runs 5] [--users 20]
  .venv/bin/python -m tests.bench.lanes wait [--users 5] [--messages 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from shared.bus import Bus, connect
from shared.consumer import AckPolicy, PartitionedConsumer
from shared.logging import configure_logging
from shared.pinned import PULLS
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import LocalPostgres, NatsServer
from tests.agent_fleet import AgentFleet, converse, llm_process
from tests.bench.agent_pipeline import pipeline_latency
from tests.bench.gateway_stack import cpu_seconds, machine


async def replicas_bench(work: Path, users: int, messages: int, latencies: list[float], counts: list[int],
                         concurrency: int, extra_env: dict[str, str] | None = None) -> None:
    extra_env = extra_env or {}
    postgres = LocalPostgres(work / "pg", durable=False).start()
    try:
        print("| LLM latency | replicas × AGENT_CONCURRENCY | turns | wall | replies/s | ideal replies/s | "
              "vs 1 replica | agent CPU per turn | driver CPU | load before |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        first_user = 0
        for latency in latencies:
            nats = NatsServer(work / f"nats-{latency}").start()  # a fresh stream for each latency
            nc = await connect(nats.url, "bench", wait=False)
            bus = Bus(nc)
            await ensure_stream(bus.js, StreamSpec())
            first = None
            with llm_process(latency) as llm:
                fleet = AgentFleet(bus, postgres.url, llm.base_url, llm.api_key, work / f"logs-{latency}",
                                   AGENT_CONCURRENCY=str(concurrency), LOG_LEVEL="warning", **extra_env)
                try:
                    for count in counts:
                        fleet.start(count - len(fleet.procs))
                        await fleet.wait_joined(count)
                        await asyncio.sleep(2 * AckPolicy().member_ttl_s / 3)  # every replica sees every other
                        load = os.getloadavg()[0]
                        cpu0 = sum(cpu_seconds(p.pid) for p in fleet.procs)
                        driver0 = time.process_time()
                        run = await converse(bus, users, messages, tag=f"r{count}l{latency}", first_user=first_user)
                        first_user += users
                        cpu = sum(cpu_seconds(p.pid) for p in fleet.procs) - cpu0
                        driver = (time.process_time() - driver0) / run.wall_s * 100
                        turns = users * messages
                        rate = turns / run.wall_s
                        first = first or rate
                        ideal = min(count * concurrency, users) / latency
                        problems = run.problems()
                        print(f"| {latency:g} s | {count} × {concurrency} | {turns} | {run.wall_s:.1f} s | "
                              f"{rate:.1f} | {ideal:.1f} | {rate / first:.2f}× | {cpu / turns * 1000:.1f} ms | "
                              f"{driver:.0f} % | {load:.1f} |" + (f" PROBLEMS: {len(problems)}" if problems else ""), flush=True)
                finally:
                    fleet.stop()
            await nc.close()
            nats.stop()
    finally:
        postgres.stop()


async def idle_bench(work: Path, partition_counts: list[int], seconds: float) -> None:
    print("| partitions | stages × replicas | pull requests/s | consumer CPU | nats-server CPU |")
    print("|---:|---:|---:|---:|---:|")
    for partitions in partition_counts:
        nats = NatsServer(work / f"nats-{partitions}").start()
        try:
            nc = await connect(nats.url, "bench", wait=False)
            await ensure_stream(Bus(nc).js, StreamSpec(partitions=partitions))
            stop = asyncio.Event()

            async def nothing(event, delivery) -> None:
                return None

            # Three ordered stages (transcriber, agent, outbound), one replica each, defaults.
            consumers = [PartitionedConsumer(Bus(nc), name, kind, nothing, AckPolicy())
                         for name, kind in (("transcriber", "received"), ("agent", "text"), ("outbound", "reply"))]
            tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
            while sum(len(c.owned) for c in consumers) < 3 * partitions:
                await asyncio.sleep(0.1)
            await asyncio.sleep(AckPolicy().pull_expires_s)  # settled
            pulls0 = sum(PULLS.labels(c.name)._value.get() for c in consumers)
            cpu0, nats0, t0 = time.process_time(), cpu_seconds(nats.proc.pid), time.perf_counter()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - t0
            pulls = sum(PULLS.labels(c.name)._value.get() for c in consumers) - pulls0
            ours = (time.process_time() - cpu0) / elapsed * 100
            theirs = (cpu_seconds(nats.proc.pid) - nats0) / elapsed * 100
            print(f"| {partitions} | 3 × 1 | {pulls / elapsed:.1f} | {ours:.1f} % | {theirs:.1f} % |", flush=True)
            stop.set()
            await asyncio.gather(*tasks)
            await nc.close()
        finally:
            nats.stop()


async def pipeline_bench(work: Path, runs: int, users: int, messages: int, think_s: float) -> None:
    postgres = LocalPostgres(work / "pg", durable=False).start()
    try:
        for run in range(runs):
            nats = NatsServer(work / f"nats-pipeline-{run}").start()
            try:
                nc = await connect(nats.url, "bench", wait=False)
                await ensure_stream(Bus(nc).js, StreamSpec())
                await nc.close()
                print(f"\nRun {run + 1} of {runs}:\n")
                (work / f"run{run}").mkdir(parents=True, exist_ok=True)
                # New users each run: the agent's memory (Postgres) outlives each run's stream.
                print(await pipeline_latency(work / f"run{run}", nats.url, nats.proc.pid,
                                             postgres.url, users, messages, think_s,
                                             user_offset=1000 * run), flush=True)
            finally:
                nats.stop()
    finally:
        postgres.stop()


async def wait_bench(work: Path, users: int, messages: int) -> None:
    """The default quiet windows, at low load: a lone complete message, and bursts."""
    postgres = LocalPostgres(work / "pg", durable=False).start()
    nats = NatsServer(work / "nats-wait").start()
    try:
        nc = await connect(nats.url, "bench", wait=False)
        await ensure_stream(Bus(nc).js, StreamSpec())
        await nc.close()
        (work / "wait").mkdir(parents=True, exist_ok=True)
        print(await pipeline_latency(work / "wait", nats.url, nats.proc.pid, postgres.url, users, messages, 2.0,
                                     agent_env={"AGENT_MODEL": "offline"},
                                     texts=("book the dentist on friday at 3pm", "what do I have tomorrow?",
                                            "what time is it in Buenos Aires?")), flush=True)
    finally:
        nats.stop()
        postgres.stop()


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("replicas", "idle", "pipeline", "wait"))
    parser.add_argument("--users", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--latency", default="1,3")
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--partitions", default="16,256")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--think-s", type=float, default=1.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the agents (repeatable)")
    args = parser.parse_args()
    configure_logging("lanes-bench", "warning", "console")
    facts = machine()
    print(f"machine: {facts.cpu}, {facts.cores} cores, Python {facts.python}; load {os.getloadavg()[0]:.1f}\n")
    work = Path(tempfile.mkdtemp(prefix="lanes-bench-"))
    try:
        if args.what == "replicas":
            await replicas_bench(work, args.users or 500, args.messages or 3, floats(args.latency),
                                 [int(x) for x in args.replicas.split(",")], args.concurrency,
                                 dict(item.split("=", 1) for item in args.env))
        elif args.what == "idle":
            await idle_bench(work, [int(x) for x in args.partitions.split(",")], args.seconds)
        elif args.what == "pipeline":
            await pipeline_bench(work, args.runs, args.users or 20, args.messages or 15, args.think_s)
        else:
            await wait_bench(work, args.users or 5, args.messages or 6)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
