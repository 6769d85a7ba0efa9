"""The chaos suite: many conversations through the whole stack while things die, then an
account of what happened, in the manner of Jepsen.

  .venv/bin/python -m tests.chaos.run [--users 30] [--scenarios all] [--postgres-down-s 60] [--cluster]

Every service runs as its own process (`python -m services.<name>`) on a real nats-server
(or, for the `leader` scenario and with `--cluster`, a local three-node JetStream cluster
with the stream and every key-value bucket on three replicas) and a durable Postgres; the
Twilio emulator runs in this process and is both the users' phone and
the ground truth of what they received. Users write bookings with unique titles
("chaos 7 3 …"), one every ~1.5 s, open loop; each scenario injects its fault in the middle
of the traffic, restarts what it killed (as `switchboard up` or Kubernetes would), stops
the traffic, waits until every acknowledged message is answered (bounded), and counts:

- attempted, acknowledged (the gateway answered 200);
- answered: the input is in the `in_reply_to` of a reply the emulator delivered (every part
  of it, split as outbound splits it);
- lost: acknowledged and never answered;
- duplicated sends: the emulator received the same reply part more often than it was composed;
- calendar events made (every message is a booking: "not made" are bookings the user was
  told failed, e.g. while the calendar was down) and duplicated calendar events (the same
  title twice);
- unconfirmed: answered inputs whose reply does not name their booking (the user was told it
  failed, or to ask again), whether or not the booking was made;
- order violations: a user's answered inputs, in reply order, not in the order they were sent;
- audit vs stream: events in `audit.events` against events in the stream.

Loopback only; bounded in time (each scenario stops its traffic after `--traffic-s` and
gives up waiting after `--settle-s`; audit is counted once it has caught up with the
stream, within the same bound).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import re
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
from services.audit.service import DURABLE as AUDIT_DURABLE
from services.calendar.migrations import migrate as migrate_calendar
from services.outbound.splitter import split_message
from shared.bus import Bus, connect
from shared.events import ReplyComposed, decode
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from shared.text import clean_text
from switchboard.cluster import NatsCluster
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
    unconfirmed: int = 0  # answered, but the reply does not confirm the booking (e.g. "ask again")
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated_sends or self.duplicated_calendar_events or self.order_violations
                    or self.audit_events != self.stream_events) and self.calendar_events > 0

    def row(self) -> str:
        audit = "equal" if self.audit_events == self.stream_events else f"{self.audit_events} vs {self.stream_events}"
        return (f"| {self.scenario} | {self.attempted} | {self.acknowledged} | {self.answered} | **{self.lost}** | "
                f"**{self.duplicated_sends}** | {self.calendar_events} ({self.answered - self.calendar_events} not "
                f"made) | {self.unconfirmed} | **{self.duplicated_calendar_events}** | "
                f"**{self.order_violations}** | {audit} |")


class Stack:
    """nats-server (one, or a three-node JetStream cluster), Postgres and the six services;
    each can be killed and started again.

    Postgres runs durable (fsync, synchronous commit), as in production: a test server
    without them loses its last commits on kill -9, which the count would report as
    bookings not made although the user was told they were.
    """

    def __init__(self, work: Path, emulator: TwilioEmulator, gateway_port: int, cluster: bool = False):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.cluster = NatsCluster(work / "nats-cluster") if cluster else None
        self.nats = NatsServer(work / "nats")
        self.postgres = LocalPostgres(work / "pg", durable=True)
        self.emulator = emulator
        self.gateway_port = gateway_port
        self.processes: dict[str, ServerProcess] = {}

    @property
    def database_url(self) -> str:
        return self.postgres.url.rsplit("/", 1)[0] + "/chaos"

    @property
    def nats_url(self) -> str:
        return self.cluster.url if self.cluster else self.nats.url

    @property
    def replicas(self) -> int:
        return len(self.cluster.nodes) if self.cluster else 1

    async def start(self) -> None:
        if self.cluster:
            self.cluster.start()
        else:
            self.nats.start()
        self.postgres.start()
        admin = await asyncpg.connect(self.postgres.url)
        try:
            await admin.execute('CREATE DATABASE "chaos"')
        finally:
            await admin.close()
        for migrate in (migrate_agent, migrate_calendar, migrate_audit):
            await migrate(self.database_url)
        nc = await connect(self.nats_url, "chaos-provision", wait=False)
        await ensure_stream(Bus(nc).js, StreamSpec(replicas=self.replicas))
        await nc.close()
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "AGENT_", "TAVILY_", "HEALTH_", "OUTBOUND_", "TWILIO_", "NATS_",
                                     "DATABASE_", "ACK_", "MAX_DELIVER", "STREAM_"))}
        common = {**keep, "NATS_URL": self.nats_url, "STREAM_REPLICAS": str(self.replicas), "DATABASE_URL": self.database_url, "TWILIO_ACCOUNT_SID": SID,
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
        if self.cluster:
            self.cluster.stop()
        self.nats.stop()


class Traffic:
    """Users writing bookings with unique titles through the emulator; what they got back."""

    def __init__(self, emulator: TwilioEmulator, users: int, tag: str):
        self.emulator = emulator
        self.users = [f"+3461{random.Random(tag).randrange(10**4):04d}{i:03d}" for i in range(users)]  # Spanish mobiles
        self.tag = tag
        self.sent: dict[str, list[str]] = collections.defaultdict(list)  # user -> acked sids, in order
        self.titles: dict[str, str] = {}  # acked sid -> the booking's title
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
                    self.titles[sid] = title
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


def parts_of(reply: ReplyComposed) -> list[tuple[str, str]]:
    """(to, body) of each WhatsApp message a reply becomes: outbound splits long ones."""
    return [(reply.data.to, part) for part in split_message(clean_text(reply.data.text))]


def delivered_texts(emulator: TwilioEmulator) -> collections.Counter[tuple[str, str]]:
    """How often the emulator received each (to, body) from the assistant."""
    return collections.Counter((m["to"].removeprefix("whatsapp:"), m["body"]) for m in emulator.state.messages
                               if m.get("direction", "outbound-api") != "inbound")


def answered_inputs(composed: list[ReplyComposed], delivered: collections.Counter[tuple[str, str]]) -> set[str]:
    """Inputs named by a reply every part of which reached the user."""
    return {sid for r in composed if all(part in delivered for part in parts_of(r)) for sid in r.data.in_reply_to}


async def audit_pending(bus: Bus) -> int:
    """Events the audit consumer has not settled yet (-1 when it cannot be asked)."""
    try:
        info = await bus.js.consumer_info(bus.stream, AUDIT_DURABLE)
    except Exception:
        return -1
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def account(scenario: str, stack: Stack, traffic: Traffic, settle_s: float) -> Account:
    result = Account(scenario, attempted=traffic.attempted,
                     acknowledged=sum(len(v) for v in traffic.sent.values()))
    nc = await connect(stack.nats_url, "chaos-account", wait=False)
    bus = Bus(nc)
    try:
        waiting_since = time.monotonic()
        deadline = waiting_since + settle_s
        while True:  # wait until every acknowledged input is answered and delivered, or give up
            composed = await replies(bus)
            answered = answered_inputs(composed, delivered_texts(stack.emulator))
            missing = [sid for sids in traffic.sent.values() for sid in sids if sid not in answered]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if not missing:
            result.notes.append(f"all answered {time.monotonic() - waiting_since:.0f} s after the traffic stopped")
        # Count from one quiet snapshot: the stages may still be working on what is left.
        previous = -1
        while time.monotonic() < deadline + 30:
            current = len(stack.emulator.state.messages) + (await bus.js.stream_info(bus.stream)).state.messages
            if current == previous:
                break
            previous = current
            await asyncio.sleep(3.0)
        composed = await replies(bus)
        delivered = delivered_texts(stack.emulator)
        answered = answered_inputs(composed, delivered)
        missing = [sid for sids in traffic.sent.values() for sid in sids if sid not in answered]
        result.answered = result.acknowledged - len(missing)
        result.lost = len(missing)
        if missing:
            result.notes.append(f"unanswered: {missing[:5]}")
        # Duplicated sends: a text delivered more often than it was composed, for this
        # scenario's users (the emulator and the stream outlive a scenario).
        ours = set(traffic.users)
        composed_count = collections.Counter(part for r in composed if r.data.to in ours for part in parts_of(r))
        delivered_count = collections.Counter({key: n for key, n in delivered.items() if key[0] in ours})
        result.duplicated_sends = sum(max(0, n - composed_count[key]) for key, n in delivered_count.items())
        # Unconfirmed: the reply composed for an input does not name its booking.
        said: dict[str, str] = {}
        for r in composed:
            for sid in r.data.in_reply_to:
                said[sid] = said.get(sid, "") + "\n" + r.data.text.lower()
        unconfirmed = [sid for sid in answered if sid in traffic.titles
                       and not re.search(re.escape(traffic.titles[sid].lower()) + r"(?!\d)", said.get(sid, ""))]
        result.unconfirmed = len(unconfirmed)
        if unconfirmed:
            result.notes.append(f"unconfirmed, e.g. {said.get(unconfirmed[0], '')[:160]!r}")
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
            # Audit catches up: its batches back off up to 30 s after an outage, so wait on the
            # condition (every stored event projected, nothing pending for its consumer), bounded.
            deadline = time.monotonic() + settle_s
            while True:
                audited = await db.fetchval("SELECT count(*) FROM audit.events")  # first: the stream only grows
                stream_count = (await bus.js.stream_info(bus.stream)).state.messages
                pending = await audit_pending(bus)
                if (audited >= stream_count and pending == 0) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            if audited < stream_count:
                result.notes.append(f"audit still {stream_count - audited} behind after {settle_s:g} s "
                                    f"({pending} pending for its consumer)")
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
        node = stack.cluster.nodes[0] if stack.cluster else stack.nats
        await asyncio.to_thread(node.kill)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(node.start)
        return f"{node.server_name} kill -9, restarted after 3 s"
    return fault


async def stream_leader(stack: Stack) -> str | None:
    nc = await connect(stack.nats_url, "chaos-leader", wait=False)
    try:
        info = await Bus(nc).js.stream_info(Bus(nc).stream)
        return info.cluster.leader if info.cluster else None
    finally:
        await nc.close()


def kill_stream_leader(down_s: float = 5.0) -> Fault:
    """kill -9 the node that leads the event stream; a new leader must take over while it
    is down; then it comes back on the same ports and data and catches up."""
    async def fault(stack: Stack) -> str:
        assert stack.cluster is not None, "the stream-leader scenario needs the cluster (--cluster)"
        leader = await stream_leader(stack)
        assert leader, "the stream has no leader"
        await asyncio.to_thread(stack.cluster.kill, leader)
        deadline = time.monotonic() + 60
        successor = None
        while time.monotonic() < deadline:  # the fault fired: another node leads the stream
            with contextlib.suppress(Exception):
                successor = await stream_leader(stack)
            if successor and successor != leader:
                break
            await asyncio.sleep(0.5)
        assert successor and successor != leader, f"no new stream leader after killing {leader}"
        await asyncio.sleep(down_s)
        node = await asyncio.to_thread(stack.cluster.restart, leader)
        await asyncio.to_thread(stack.cluster.wait_healthy, 60, [node])
        return f"stream leader {leader} kill -9; {successor} took over; {leader} back after {down_s:g} s"
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
                        help="comma-separated: kill-<service>, term-<service>, nats, postgres, leader "
                             "(default all; leader runs on a three-node cluster, the rest on one node)")
    parser.add_argument("--cluster", action="store_true",
                        help="run every scenario on a local three-node JetStream cluster (stream and buckets "
                             "with three replicas)")
    args = parser.parse_args()
    faults: dict[str, Fault] = {}
    for name in SERVICES:
        faults[f"kill-{name}"] = kill_service(name, signal.SIGKILL)
    for name in ("agent", "outbound", "transcriber"):
        faults[f"term-{name}"] = kill_service(name, signal.SIGTERM)
    faults["nats"] = kill_nats()
    faults["leader"] = kill_stream_leader()
    faults["postgres"] = postgres_down(args.postgres_down_s)
    chosen = list(faults) if args.scenarios == "all" else args.scenarios.split(",")
    unknown = [name for name in chosen if name not in faults]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    gateway_port = free_port()
    results: list[Account] = []
    started = time.monotonic()
    try:
        async with TwilioEmulator(SID, TOKEN, webhook_url=f"http://127.0.0.1:{gateway_port}/twilio/messages",
                                  status_delay_s=0.05) as emulator:
            single = [] if args.cluster else [name for name in chosen if name != "leader"]
            on_cluster = [name for name in chosen if name not in single]
            for cluster, names in ((False, single), (True, on_cluster)):
                if not names:
                    continue
                stack = Stack(work / ("cluster" if cluster else "single"), emulator, gateway_port, cluster=cluster)
                try:
                    await stack.start()
                    for name in names:
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
          "unconfirmed | duplicated calendar events | order violations | audit vs stream |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        print(result.row())
    print(f"\n{len(results)} scenarios in {time.monotonic() - started:.0f} s; "
          f"{'all clean' if all(r.clean for r in results) else 'FAULTS FOUND'}")
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
