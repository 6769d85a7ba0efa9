"""The chaos suite: many conversations through the whole stack while things die, then an
account of what happened, in the manner of Jepsen.

  .venv/bin/python -m tests.chaos.run [--users 30] [--scenarios all] [--postgres-down-s 60]

Every service runs as its own process (`python -m services.<name>`) on a real nats-server
and Postgres; the Twilio emulator runs in this process and is both the users' phone and
the ground truth of what they received. Users write bookings with unique titles
("chaos 7 3 …"), one every ~1.5 s, open loop; each scenario injects its fault in the middle
of the traffic, restarts what it killed (as `switchboard up` or Kubernetes would), stops
the traffic, waits until every acknowledged message is answered (bounded), and counts:

- attempted, acknowledged (the gateway answered 200);
- answered: the input is in the `in_reply_to` of a reply the emulator delivered;
- lost: acknowledged and never answered;
- duplicated sends: the emulator received the same reply text more often than it was composed;
- calendar events made (every message is a booking: "not made" are bookings the user was
  told failed, e.g. while the calendar was down) and duplicated calendar events (the same
  title twice);
- order violations: a user's answered inputs, in reply order, not in the order they were sent;
- audit vs stream: events in `audit.events` against events in the stream.

Loopback only; bounded in time (each scenario stops its traffic after `--traffic-s` and
gives up waiting after `--settle-s`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import asyncpg

from services.agent.migrations import migrate as migrate_agent
from services.audit.migrations import migrate as migrate_audit
from services.calendar.migrations import migrate as migrate_calendar
from shared.bus import Bus, connect
from shared.events import ReplyComposed, decode
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import LocalPostgres, NatsServer, free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.bench.gateway_stack import ServerProcess

SID, TOKEN = "AC" + "7" * 32, "chaos-token"
BUSINESS = "+14155238886"
SERVICES = ("gateway", "transcriber", "calendar", "agent", "outbound", "audit")


@dataclass
class Account:
    scenario: str
    attempted: int = 0
    acknowledged: int = 0
    answered: int = 0
    lost: int = 0
    duplicated_sends: int = 0
    duplicated_calendar_events: int = 0
    order_violations: int = 0
    audit_events: int = 0
    stream_events: int = 0
    calendar_events: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated_sends or self.duplicated_calendar_events or self.order_violations
                    or self.audit_events != self.stream_events) and self.calendar_events > 0

    def row(self) -> str:
        audit = "equal" if self.audit_events == self.stream_events else f"{self.audit_events} vs {self.stream_events}"
        return (f"| {self.scenario} | {self.attempted} | {self.acknowledged} | {self.answered} | **{self.lost}** | "
                f"**{self.duplicated_sends}** | {self.calendar_events} ({self.answered - self.calendar_events} not "
                f"made) | **{self.duplicated_calendar_events}** | "
                f"**{self.order_violations}** | {audit} |")


class Stack:
    """nats-server, Postgres and the six services; each can be killed and started again."""

    def __init__(self, work: Path, emulator: TwilioEmulator, gateway_port: int):
        self.work = work
        self.nats = NatsServer(work / "nats")
        self.postgres = LocalPostgres(work / "pg", durable=False)
        self.emulator = emulator
        self.gateway_port = gateway_port
        self.processes: dict[str, ServerProcess] = {}

    @property
    def database_url(self) -> str:
        return self.postgres.url.rsplit("/", 1)[0] + "/chaos"

    async def start(self) -> None:
        self.nats.start()
        self.postgres.start()
        admin = await asyncpg.connect(self.postgres.url)
        try:
            await admin.execute('CREATE DATABASE "chaos"')
        finally:
            await admin.close()
        for migrate in (migrate_agent, migrate_calendar, migrate_audit):
            await migrate(self.database_url)
        nc = await connect(self.nats.url, "chaos-provision", wait=False)
        await ensure_stream(Bus(nc).js, StreamSpec())
        await nc.close()
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "AGENT_", "TAVILY_", "HEALTH_", "OUTBOUND_", "TWILIO_", "NATS_",
                                     "DATABASE_", "ACK_", "MAX_DELIVER"))}
        common = {**keep, "NATS_URL": self.nats.url, "DATABASE_URL": self.database_url, "TWILIO_ACCOUNT_SID": SID,
                  "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE_URL": self.emulator.url, "LOG_LEVEL": "info",
                  "LOG_FORMAT": "console", "SWITCHBOARD_ENV": "local", "HEALTH_HOST": "127.0.0.1",
                  "ACK_WAIT_S": "6", "DEFAULT_TIMEZONE": "Europe/Madrid"}
        specific = {
            "gateway": {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(self.gateway_port),
                        "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.gateway_port}"},
            "transcriber": {"TRANSCRIBER_ENGINE": "openai", "OPENAI_API_KEY": "sk-unused"},
            "calendar": {},
            "agent": {"AGENT_MODEL": "offline", "AGENT_DEBOUNCE_S": "0"},
            "outbound": {"OUTBOUND_PACING": "off"},
            "audit": {},
        }
        for name in SERVICES:
            port = self.gateway_port if name == "gateway" else free_port()
            env = {**common, **specific[name]}
            if name != "gateway":
                env["HEALTH_PORT"] = str(port)
            self.processes[name] = ServerProcess(name, [sys.executable, "-m", f"services.{name}"], port,
                                                 self.work / f"{name}.log", env)
            self.processes[name].start(ready_path="/readyz", timeout=120)

    def restart(self, name: str) -> None:
        self.processes[name].start(ready_path="/readyz", timeout=180)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[name].proc
        assert proc is not None
        os.killpg(proc.pid, sig)
        proc.wait(60)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.postgres.stop()
        self.nats.stop()


class Traffic:
    """Users writing bookings with unique titles through the emulator; what they got back."""

    def __init__(self, emulator: TwilioEmulator, users: int, tag: str):
        self.emulator = emulator
        self.users = [f"+3461{random.Random(tag).randrange(10**4):04d}{i:03d}" for i in range(users)]  # Spanish mobiles
        self.tag = tag
        self.sent: dict[str, list[str]] = collections.defaultdict(list)  # user -> acked sids, in order
        self.attempted = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async def user(index: int, number: str) -> None:
            rng = random.Random(f"{self.tag}{index}")
            await asyncio.sleep(rng.uniform(0, 1.5))
            n = 0
            while not self.stop.is_set():
                title = f"chaos {self.tag} {index} {n}"
                self.attempted += 1
                try:
                    status, sid = await self.emulator.send_inbound(number, BUSINESS,
                                                                   f"schedule {title} tomorrow at {9 + n % 8}")
                except Exception:
                    status, sid = 0, ""
                if status == 200:
                    self.sent[number].append(sid)
                n += 1
                await asyncio.sleep(rng.uniform(1.0, 2.0))

        await asyncio.gather(*(user(i, u) for i, u in enumerate(self.users)))


async def replies(bus: Bus) -> list[ReplyComposed]:
    info = await bus.js.stream_info(bus.stream)
    found = []
    sub = await bus.js.subscribe("wa.reply.>", ordered_consumer=True, stream=bus.stream)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2.0)
            except TimeoutError:
                break
            event = decode(msg.data)
            if isinstance(event, ReplyComposed):
                found.append(event)
            if msg.metadata.num_pending == 0 or msg.metadata.sequence.stream >= info.state.last_seq:
                break
    finally:
        await sub.unsubscribe()
    return found


async def account(scenario: str, stack: Stack, traffic: Traffic, settle_s: float) -> Account:
    result = Account(scenario, attempted=traffic.attempted,
                     acknowledged=sum(len(v) for v in traffic.sent.values()))
    nc = await connect(stack.nats.url, "chaos-account", wait=False)
    bus = Bus(nc)
    try:
        deadline = time.monotonic() + settle_s
        while True:  # wait until every acknowledged input is answered and delivered, or give up
            composed = await replies(bus)
            delivered = {(m["to"].removeprefix("whatsapp:"), m["body"]) for m in stack.emulator.state.messages
                         if m.get("direction", "outbound-api") != "inbound"}
            answered = {sid for r in composed if (r.data.to, r.data.text) in delivered for sid in r.data.in_reply_to}
            missing = [sid for sids in traffic.sent.values() for sid in sids if sid not in answered]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        # Count from one quiet snapshot: the stages may still be working on what is left.
        previous = -1
        while time.monotonic() < deadline + 30:
            current = len(stack.emulator.state.messages) + (await bus.js.stream_info(bus.stream)).state.messages
            if current == previous:
                break
            previous = current
            await asyncio.sleep(3.0)
        composed = await replies(bus)
        delivered = {(m["to"].removeprefix("whatsapp:"), m["body"]) for m in stack.emulator.state.messages
                     if m.get("direction", "outbound-api") != "inbound"}
        answered = {sid for r in composed if (r.data.to, r.data.text) in delivered for sid in r.data.in_reply_to}
        missing = [sid for sids in traffic.sent.values() for sid in sids if sid not in answered]
        result.answered = result.acknowledged - len(missing)
        result.lost = len(missing)
        if missing:
            result.notes.append(f"unanswered: {missing[:5]}")
        # Duplicated sends: a text delivered more often than it was composed, for this
        # scenario's users (the emulator and the stream outlive a scenario).
        ours = set(traffic.users)
        composed_count = collections.Counter((r.data.to, r.data.text) for r in composed if r.data.to in ours)
        delivered_count = collections.Counter(
            (m["to"].removeprefix("whatsapp:"), m["body"]) for m in stack.emulator.state.messages
            if m.get("direction", "outbound-api") != "inbound" and m["to"].removeprefix("whatsapp:") in ours)
        result.duplicated_sends = sum(max(0, n - composed_count[key]) for key, n in delivered_count.items())
        # Order: each user's answered inputs, in the order replies were composed.
        for user, sids in traffic.sent.items():
            conversation = conversation_id(BUSINESS, user)
            order = [sid for r in composed if r.conversation == conversation for sid in r.data.in_reply_to
                     if sid in answered]
            expected = [sid for sid in sids if sid in answered]
            if order != expected:
                result.order_violations += 1
                result.notes.append(f"order for {conversation}: {order} != {expected}")
        # Calendar: the same booking twice.
        db = await asyncpg.connect(stack.database_url)
        try:
            dupes = await db.fetchval(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM calendar.events "
                "WHERE summary ILIKE $1 GROUP BY owner, lower(summary)) AS t", f"%chaos {traffic.tag} %")
            result.duplicated_calendar_events = int(dupes)
            result.calendar_events = int(await db.fetchval(
                "SELECT count(*) FROM calendar.events WHERE summary ILIKE $1", f"%chaos {traffic.tag} %"))
            if not result.calendar_events:
                sample = await db.fetch("SELECT summary FROM calendar.events ORDER BY created_at DESC LIMIT 2")
                result.notes.append(f"no calendar events; replies like {[r.data.text[:80] for r in composed[-2:]]}, "
                                    f"events like {[r['summary'] for r in sample]}")
            stream_count = (await bus.js.stream_info(bus.stream)).state.messages
            deadline = time.monotonic() + 60
            while True:  # audit catches up
                audited = await db.fetchval("SELECT count(*) FROM audit.events")
                if audited >= stream_count or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            result.audit_events, result.stream_events = int(audited), int(stream_count)
        finally:
            await db.close()
    finally:
        await nc.close()
    return result


Fault = Callable[[Stack], Awaitable[str]]


def kill_service(name: str, sig: int) -> Fault:
    async def fault(stack: Stack) -> str:
        before = stack.processes[name].pid
        # In a thread: a SIGTERMed service drains, and may need the emulator (this loop) meanwhile.
        await asyncio.to_thread(stack.kill, name, sig)
        await asyncio.sleep(1.0)  # down for a moment, as a pod being rescheduled
        await asyncio.to_thread(stack.restart, name)
        assert stack.processes[name].pid != before, "the fault did not fire"
        return f"{name} {'kill -9' if sig == signal.SIGKILL else 'SIGTERM'} (pid {before}) and restart"
    return fault


def kill_nats() -> Fault:
    async def fault(stack: Stack) -> str:
        await asyncio.to_thread(stack.nats.kill)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(stack.nats.start)
        return "nats-server kill -9, restarted after 3 s"
    return fault


def postgres_down(seconds: float) -> Fault:
    async def fault(stack: Stack) -> str:
        assert stack.postgres.proc is not None
        os.killpg(stack.postgres.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(stack.postgres.proc.wait, 30)
        stack.postgres.proc = None
        await asyncio.sleep(seconds)
        (stack.postgres.data_dir / "postmaster.pid").unlink(missing_ok=True)
        await asyncio.to_thread(stack.postgres.start)
        return f"Postgres kill -9, down {seconds:g} s"
    return fault


async def scenario(name: str, stack: Stack, fault: Fault, users: int, traffic_s: float, settle_s: float) -> Account:
    traffic = Traffic(stack.emulator, users, tag=name.replace(" ", "")[:12].lower() + str(random.randrange(1000)))
    running = asyncio.create_task(traffic.run())
    await asyncio.sleep(traffic_s / 3)
    description = await fault(stack)
    await asyncio.sleep(traffic_s / 3)
    traffic.stop.set()
    await running
    result = await account(name, stack, traffic, settle_s)
    result.notes.insert(0, description)
    return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--traffic-s", type=float, default=18)
    parser.add_argument("--settle-s", type=float, default=120)
    parser.add_argument("--postgres-down-s", type=float, default=60)
    parser.add_argument("--scenarios", default="all",
                        help="comma-separated: kill-<service>, term-<service>, nats, postgres (default all)")
    args = parser.parse_args()
    faults: dict[str, Fault] = {}
    for name in SERVICES:
        faults[f"kill-{name}"] = kill_service(name, signal.SIGKILL)
    for name in ("agent", "outbound", "transcriber"):
        faults[f"term-{name}"] = kill_service(name, signal.SIGTERM)
    faults["nats"] = kill_nats()
    faults["postgres"] = postgres_down(args.postgres_down_s)
    chosen = list(faults) if args.scenarios == "all" else args.scenarios.split(",")
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    gateway_port = free_port()
    results: list[Account] = []
    started = time.monotonic()
    try:
        async with TwilioEmulator(SID, TOKEN, webhook_url=f"http://127.0.0.1:{gateway_port}/twilio/messages",
                                  status_delay_s=0.05) as emulator:
            stack = Stack(work, emulator, gateway_port)
            try:
                await stack.start()
                for name in chosen:
                    result = await scenario(name, stack, faults[name], args.users, args.traffic_s, args.settle_s)
                    results.append(result)
                    print(result.row(), "  " + "; ".join(result.notes[:3]), flush=True)
            finally:
                stack.stop()
    finally:
        print(f"\nlogs in {work}" if any(not r.clean for r in results) else "")
        if all(r.clean for r in results):
            shutil.rmtree(work, ignore_errors=True)
    print("\n| scenario | attempted | acknowledged | answered | lost | duplicated sends | calendar events | "
          "duplicated calendar events | order violations | audit vs stream |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        print(result.row())
    print(f"\n{len(results)} scenarios in {time.monotonic() - started:.0f} s; "
          f"{'all clean' if all(r.clean for r in results) else 'FAULTS FOUND'}")
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
