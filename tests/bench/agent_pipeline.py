"""Pipeline latency: a signed webhook leaves the Twilio emulator → gateway → transcriber →
agent (offline model, no debounce) → outbound → the emulator receives the reply.

Every service runs as its own process (`python -m services.<name>`), as `switchboard up`
runs them; the emulator runs in this process so the send and receive times come from
one clock. N users talk at once, each waiting for the answer and a short pause before
its next message (a closed loop: 20 conversations in flight, not a flood). Pauses and
start times are random, so the users do not send in lockstep.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import statistics
import sys
import time
from pathlib import Path

from services.agent.migrations import migrate as migrate_agent
from services.calendar.migrations import migrate as migrate_calendar
from shared.bus import Bus, connect
from shared.events import MessageReceived, MessageSent, MessageTranscribed, ReplyComposed, decode
from switchboard.infra import free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.bench.gateway_stack import ServerProcess, cpu_seconds

SID, TOKEN = "AC" + "5" * 32, "agent-bench-token"
BUSINESS = "+14155238886"
MESSAGES = ("what time is it?", "what do I have tomorrow?", "thanks!")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def services(work: Path, nats_url: str, database_url: str, gateway_port: int, emulator_url: str,
             agent_env: dict[str, str] | None = None) -> list[ServerProcess]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENT_", "TAVILY_", "HEALTH_", "OUTBOUND_"))}
    common = {**keep, "NATS_URL": nats_url, "DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": SID,
              "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE_URL": emulator_url, "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
              "SWITCHBOARD_ENV": "local", "HEALTH_HOST": "127.0.0.1"}
    specs = {
        "gateway": ({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(gateway_port),
                     "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}"}, gateway_port),
        # Typed text never reaches a speech engine; `openai` just avoids loading Whisper.
        "transcriber": ({"TRANSCRIBER_ENGINE": "openai", "OPENAI_API_KEY": "sk-unused"}, None),
        "calendar": ({}, None),
        "agent": (agent_env if agent_env is not None else {"AGENT_MODEL": "offline", "AGENT_DEBOUNCE_S": "0"}, None),
        "outbound": ({"OUTBOUND_PACING": "off"}, None),
    }
    processes = []
    for name, (env, port) in specs.items():
        port = port or free_port()
        if name != "gateway":
            env = {**env, "HEALTH_PORT": str(port)}
        processes.append(ServerProcess(name, [sys.executable, "-m", f"services.{name}"], port,
                                       work / f"{name}.log", {**common, **env}))
    return processes


async def pipeline_latency(work: Path, nats_url: str, nats_pid: int, database_url: str, users: int, messages: int,
                           think_s: float, agent_env: dict[str, str] | None = None,
                           texts: tuple[str, ...] = MESSAGES, user_offset: int = 0) -> str:
    await migrate_agent(database_url)
    await migrate_calendar(database_url)
    gateway_port = free_port()
    received: dict[str, list[float]] = collections.defaultdict(list)
    arrived: dict[str, asyncio.Event] = collections.defaultdict(asyncio.Event)
    async with TwilioEmulator(SID, TOKEN, webhook_url=f"http://127.0.0.1:{gateway_port}/twilio/messages",
                              status_delay_s=0.05) as emulator:
        record = emulator.state.record

        async def timed_record(message: dict) -> dict:
            received[message["to"]].append(time.perf_counter())
            arrived[message["to"]].set()
            return await record(message)

        emulator.state.record = timed_record
        processes = services(work, nats_url, database_url, gateway_port, emulator.url, agent_env)
        try:
            for process in processes:
                process.start(ready_path="/readyz", timeout=90)
            await asyncio.sleep(2)  # every partition's consumer bound
            latencies: list[float] = []

            async def talk(user: str, rng: random.Random) -> None:
                address = f"whatsapp:{user}"
                await asyncio.sleep(rng.uniform(0, think_s))  # people do not all type at the same instant
                for n in range(messages + 1):
                    arrived[address].clear()
                    expected = len(received[address]) + 1
                    started = time.perf_counter()
                    status, sid = await emulator.send_inbound(user, BUSINESS, texts[n % len(texts)])
                    assert status == 200, status
                    while len(received[address]) < expected:
                        try:
                            await asyncio.wait_for(arrived[address].wait(), 30)
                        except TimeoutError:
                            raise RuntimeError(f"no reply to {user}'s message {n} ({sid}) within 30 s") from None
                        arrived[address].clear()
                    if n:  # the first message of each user warms up its conversation
                        latencies.append((received[address][expected - 1] - started) * 1000)
                    await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))

            load_before = os.getloadavg()[0]
            pids = {process.name: process.pid for process in processes} | {"emulator and driver": os.getpid(),
                                                                           "nats-server": nats_pid}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            await asyncio.gather(*(talk(f"+3461{user_offset + i:07d}", random.Random(i)) for i in range(users)))
            elapsed = time.perf_counter() - started
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / elapsed * 100 for name, pid in pids.items()}
            load_after = os.getloadavg()[0]
            bursts = await burst_replies(emulator, received, arrived) if agent_env is not None else []
            stages = await stage_breakdown(nats_url)
        finally:
            for process in reversed(processes):
                process.stop()
    return "\n".join([
        f"**Pipeline, webhook sent → reply received by the emulator**: {users} concurrent conversations, "
        f"{len(latencies)} messages measured ({len(latencies) / elapsed:.1f}/s offered; after each reply a pause of "
        f"{0.5 * think_s:g}–{1.5 * think_s:g} s, uniformly random), offline model, agent settings "
        f"{agent_env if agent_env is not None else {'AGENT_DEBOUNCE_S': '0'}}, load average {load_before:.1f} before, "
        f"{load_after:.1f} after",
        "",
        "| p50 | p90 | p99 | max | mean |",
        "|---:|---:|---:|---:|---:|",
        f"| {statistics.median(latencies):.1f} ms | {percentile(latencies, 0.9):.1f} ms | "
        f"{percentile(latencies, 0.99):.1f} ms | {max(latencies):.1f} ms | {statistics.fmean(latencies):.1f} ms |",
        "",
        *([f"Bursts of three messages typed 1 s apart: replies per burst {bursts} (one each is right)", ""]
          if bursts else []),
        "CPU during the run, % of one core: " + ", ".join(f"{name} {value:.0f}" for name, value in cpu.items())
        + " (Postgres not counted).",
        "",
        "Where the time goes, from the events' own timestamps (median / p90 per message):",
        "",
        "| stage | median | p90 |",
        "|---|---:|---:|",
        *(f"| {name} | {statistics.median(v):.1f} ms | {percentile(v, 0.9):.1f} ms |" for name, v in stages.items() if v),
    ])


async def burst_replies(emulator: TwilioEmulator, received: dict[str, list[float]],
                        arrived: dict[str, asyncio.Event], bursts: int = 3) -> list[int]:
    """Users who send three messages 1 s apart: how many replies each burst got."""
    counts = []
    for i in range(bursts):
        user = f"+3469{i:07d}"
        address = f"whatsapp:{user}"
        for n, text in enumerate(("hi", "can you book the dentist", "friday at 3pm")):
            if n:
                await asyncio.sleep(1.0)
            status, _ = await emulator.send_inbound(user, BUSINESS, text)
            assert status == 200, status
        await asyncio.wait_for(arrived[address].wait(), 30)
        await asyncio.sleep(4.0)  # a second reply, if the burst were split, would come within this
        counts.append(len(received[address]))
    return counts


async def stage_breakdown(nats_url: str) -> dict[str, list[float]]:
    """Per message: webhook stored → text published → reply composed → first part sent."""
    nc = await connect(nats_url, "bench-read", wait=False)
    try:
        bus = Bus(nc)
        info = await bus.js.stream_info(bus.stream)
        events = [decode((await bus.js.get_msg(bus.stream, seq)).data)
                  for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()
    received = {e.id: e for e in events if isinstance(e, MessageReceived)}
    texts = {e.correlation_id: e for e in events if isinstance(e, MessageTranscribed)}
    replies = {e.correlation_id: e for e in events if isinstance(e, ReplyComposed)}
    sent = {}
    for e in events:
        if isinstance(e, MessageSent) and e.correlation_id not in sent:
            sent[e.correlation_id] = e
    stages: dict[str, list[float]] = {"gateway stored → transcriber published": [],
                                      "transcriber → agent composed the reply": [],
                                      "  of which the agent's own turn (latency_ms)": [],
                                      "agent composed → outbound got Twilio's answer": []}
    ms = lambda a, b: (b.occurred_at - a.occurred_at).total_seconds() * 1000  # noqa: E731
    for correlation, event in received.items():
        text, reply, out = texts.get(correlation), replies.get(correlation), sent.get(correlation)
        if text and reply and out:
            stages["gateway stored → transcriber published"].append(ms(event, text))
            stages["transcriber → agent composed the reply"].append(ms(text, reply))
            stages["  of which the agent's own turn (latency_ms)"].append(reply.data.latency_ms or 0.0)
            stages["agent composed → outbound got Twilio's answer"].append(ms(reply, out))
    return stages
