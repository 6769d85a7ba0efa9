"""Agent benchmarks (issue 5): overhead per turn at 10, 100 and 1,000 turns, and the
pipeline latency from webhook to emulator receipt at 20 concurrent conversations.

Starts its own nats-server and Postgres in a temporary directory.

  .venv/bin/python -m tests.bench.agent [--turns 1000] [--unbounded] [--users 20] [--messages 15]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from shared.bus import Bus, connect
from shared.logging import configure_logging
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import LocalPostgres, NatsServer
from tests.bench.agent_overhead import Window, measure
from tests.bench.agent_pipeline import pipeline_latency
from tests.bench.gateway_stack import machine


def overhead_table(title: str, windows: list[Window]) -> str:
    lines = [f"**{title}**", "",
             "| turns so far | overhead per turn, median | p90 | checkpoints stored | checkpoint blobs | messages kept |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {w.length:,} | {w.median_ms:.1f} ms | {w.p90_ms:.1f} ms | {w.checkpoints} | {w.stored_kb:,.0f} KiB "
              f"| {w.messages_kept} |" for w in windows]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--unbounded", action="store_true", help="also measure with compaction and pruning off")
    parser.add_argument("--users", type=int, default=20, help="concurrent conversations in the pipeline run")
    parser.add_argument("--messages", type=int, default=15, help="messages each user sends in the pipeline run")
    parser.add_argument("--think-s", type=float, default=1.0, help="mean pause between a reply and the next message")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    configure_logging("agent-bench", "warning", "console")
    lengths = tuple(n for n in (10, 100, 1000) if n <= args.turns)
    facts = machine()
    print(f"machine: {facts.cpu}, {facts.cores} cores, Python {facts.python}")
    work = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    finished = False
    try:
        nats = NatsServer(work / "nats").start()
        postgres = LocalPostgres(work / "pg", durable=False).start()
        try:
            nc = await connect(nats.url, "bench", wait=False)
            bus = Bus(nc)
            await ensure_stream(bus.js, StreamSpec())
            await measure(bus, postgres.url, "+34600009999", 20, ())  # warm-up: imports, pool, caches
            started = time.perf_counter()
            bounded = await measure(bus, postgres.url, "+34600000001", args.turns, lengths)
            print(overhead_table(f"Bounded (defaults: AGENT_CONTEXT_TOKENS=6000, AGENT_HISTORY_TURNS=24, "
                                 f"AGENT_PRUNE_EVERY=20), "
                                 f"{time.perf_counter() - started:.0f} s", bounded))
            if bounded[-1].median_ms > 1.5 * bounded[0].median_ms:
                print(f"\nTARGET MISSED: {bounded[-1].median_ms:.1f} ms > 1.5 x {bounded[0].median_ms:.1f} ms")
            if args.unbounded:
                unbounded = await measure(bus, postgres.url, "+34600000002", args.turns, lengths,
                                          AGENT_CONTEXT_TOKENS=1_000_000, AGENT_HISTORY_TURNS=10_000,
                                          AGENT_PRUNE_EVERY=0)
                print("\n" + overhead_table("Unbounded (no compaction, no pruning), for comparison", unbounded))
            await nc.close()
            if not args.skip_pipeline:  # a fresh stream: the services must not replay the inputs above
                pipeline_nats = NatsServer(work / "nats-pipeline").start()
                try:
                    nc = await connect(pipeline_nats.url, "bench", wait=False)
                    await ensure_stream(Bus(nc).js, StreamSpec())
                    await nc.close()
                    result = await pipeline_latency(work, pipeline_nats.url, pipeline_nats.proc.pid, postgres.url,
                                                    args.users, args.messages, args.think_s)
                finally:
                    pipeline_nats.stop()
                print("\n" + result)
            finished = True
        finally:
            postgres.stop()
            nats.stop()
    finally:
        if finished:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
