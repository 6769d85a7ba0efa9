"""Agent replicas as operators run them (`python -m services.agent`), and users who wait.

`AgentFleet` starts N replicas as child processes on the test's nats-server and database,
pointed at a fake OpenAI-compatible server, and knows when they have all joined (their
heartbeats in the stage's member bucket). `converse` plays users in a closed loop: each
sends a message, waits for the reply to it, then sends the next, so every message is its
own turn and the run's ideal length follows from the configured concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from shared.bus import Bus
from shared.events import ReplyComposed, decode
from shared.ids import conversation_id
from switchboard.infra import free_port, port_open
from tests.integration.test_agent_memory import BUSINESS, send_text
from tests.waiting import scaled

ROOT = Path(__file__).resolve().parents[1]
_CLEAN = ("DATABASE_URL", "OPENAI_", "AGENT_", "TAVILY_", "DEFAULT_TIMEZONE", "HEALTH_", "ACK_WAIT", "MAX_DELIVER",
          "NATS_", "STREAM_", "CONSUMER_")


@contextlib.contextmanager
def llm_process(latency: float, key: str = "sk-fleet") -> Iterator[FakeLLM]:
    """The fake OpenAI server in its own process, so its threads do not share our GIL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_chat", "--port", str(port),
                             "--latency", str(latency), "--key", key], cwd=ROOT)
    try:
        while not port_open("127.0.0.1", port):
            if proc.poll() is not None:
                raise RuntimeError("the fake LLM did not start")
            time.sleep(0.05)
        yield FakeLLM(f"http://127.0.0.1:{port}/v1", key, port)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class FakeLLM:
    base_url: str
    api_key: str
    port: int

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_fake/stats", timeout=5) as response:
            return json.loads(response.read())


class AgentFleet:
    def __init__(self, bus: Bus, database_url: str, llm_url: str, llm_key: str, logs: Path, **env: str):
        self.bus = bus
        self.logs = logs
        base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN)}
        base.update(NATS_URL=bus.nc.connected_url.geturl(), DATABASE_URL=database_url, STREAM_NAME=bus.stream,
                    HEALTH_PORT="0", HEALTH_HOST="127.0.0.1", LOG_FORMAT="console", LOG_LEVEL="info",
                    OPENAI_API_KEY=llm_key, OPENAI_BASE_URL=llm_url, AGENT_MODEL="openai:gpt-4o-mini",
                    AGENT_DEBOUNCE_S="0", AGENT_LLM_ATTEMPTS="1", DEFAULT_TIMEZONE="UTC")
        base.update(env)
        self.env = base
        self.procs: list[subprocess.Popen] = []

    def start(self, replicas: int) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for i in range(len(self.procs), len(self.procs) + replicas):
            log = (self.logs / f"agent-{i}.log").open("w")
            self.procs.append(subprocess.Popen([sys.executable, "-m", "services.agent"], cwd=ROOT, env=self.env,
                                               stdout=log, stderr=log))

    async def members(self) -> int:
        try:
            kv = await self.bus.js.key_value(f"{self.bus.stream}_MEMBERS_agent_text")
            return len(await kv.keys())
        except Exception:
            return 0

    async def wait_joined(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while await self.members() < count:
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    raise AssertionError(f"agent {i} exited {proc.returncode}:\n{self.log(i)[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"only {await self.members()} of {count} agents joined")
            await asyncio.sleep(0.2)

    def log(self, i: int) -> str:
        return (self.logs / f"agent-{i}.log").read_text(errors="replace")

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class Run:
    sent: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # conversation -> sids
    replies: dict[str, list[ReplyComposed]] = field(default_factory=lambda: defaultdict(list))
    waits: list[tuple[float, float]] = field(default_factory=list)  # (sent at, waited s), monotonic
    wall_s: float = 0.0

    @property
    def all_replies(self) -> list[ReplyComposed]:
        return [r for rs in self.replies.values() for r in rs]

    def problems(self) -> list[str]:
        """Lost, duplicated or out-of-order replies, described."""
        found = []
        for conversation, sids in self.sent.items():
            answered = [sid for r in self.replies[conversation] for sid in r.data.in_reply_to]
            if answered != sids:
                found.append(f"{conversation}: sent {sids}, answered {answered}")
        return found


async def converse(bus: Bus, users: int, messages: int, timeout_s: float = 600, tag: str = "",
                   first_user: int = 0) -> Run:
    """`users` conversations in a closed loop of `messages` each; every stored reply recorded."""
    run = Run()
    waiting: dict[str, asyncio.Event] = {}

    async def record(msg) -> None:
        event = decode(msg.data)
        if isinstance(event, ReplyComposed):
            run.replies[event.conversation].append(event)
            for sid in event.data.in_reply_to:
                if sid in waiting:
                    waiting[sid].set()

    from nats.js.api import DeliverPolicy

    sub = await bus.js.subscribe("wa.reply.>", ordered_consumer=True, cb=record, stream=bus.stream,
                                 deliver_policy=DeliverPolicy.NEW)
    tag = tag or uuid.uuid4().hex[:6]

    async def user(i: int) -> None:
        number = f"+3461{first_user + i:07d}"
        for k in range(messages):
            sid = f"SM{tag}{i:05d}{k:03d}"
            waiting[sid] = asyncio.Event()
            run.sent[conversation_id(BUSINESS, number)].append(sid)
            sent_at = time.monotonic()
            await send_text(bus, number, f"message {k} from user {i}", message_sid=sid)
            await asyncio.wait_for(waiting[sid].wait(), timeout_s)
            run.waits.append((sent_at, time.monotonic() - sent_at))

    started = time.monotonic()
    try:
        await asyncio.gather(*(user(i) for i in range(users)))
        run.wall_s = time.monotonic() - started
        await asyncio.sleep(0)  # let the last callbacks land
    finally:
        await sub.unsubscribe()
    return run
