"""Retention on a clock the test moves: events older than the limit leave the stream and
audit, replay does not bring them back, and idle agent memory is dropped."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.agent.privacy import AgentData
from services.audit.privacy import AuditData
from services.audit.replay import replay
from services.audit.service import run_audit
from shared.clock import ManualClock
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import PRIVACY_RECORDS, MessageReceived, MessageReceivedData, RetentionApplied, decode
from shared.ids import conversation_id
from shared.privacy_jetstream import StreamData
from switchboard.privacy.erasure import PrivacyDeps
from switchboard.privacy.retention import RetentionLimits, sweep_all
from switchboard.privacy.stores import StoreContext
from switchboard.privacy.worker import enforce_retention
from tests.integration.test_agent_memory import (
    BUSINESS,
    agent_settings,
    running_agent,
    send_text,
    wait_until,
)
from tests.privacy_rig import AUDIT, scan_streams, scan_tables, settled

AUDIT_ONLY = ("audit",)
CAROL, DAVE = "+34600123001", "+34600123002"  # Carol wrote 100 days ago, Dave today


def received(user: str, body: str, at: datetime) -> MessageReceived:
    return MessageReceived(conversation=conversation_id(BUSINESS, user), occurred_at=at, data=MessageReceivedData(
        message_sid="SM" + uuid.uuid4().hex, from_=f"whatsapp:{user}", to=f"whatsapp:{BUSINESS}", body=body,
        received_at=at))


async def test_old_events_leave_the_stream_and_audit_and_replay_does_not_bring_them_back(bus, database_url):
    now = datetime.now(UTC)
    carol, dave = conversation_id(BUSINESS, CAROL), conversation_id(BUSINESS, DAVE)
    for user, body, at in ((CAROL, "carol-ancient-word", now - timedelta(days=100)), (DAVE, "dave-fresh-word", now)):
        event = received(user, body, at)
        await bus.publish(event, msg_id=event.data.message_sid)
    stop = asyncio.Event()
    auditing = asyncio.create_task(run_audit(bus, database_url, stop, AUDIT))
    events = JetStreamEventLog(bus)
    ctx = StoreContext(events=events, js=bus.js, database_url=database_url)
    try:
        await settled(bus, database_url, (carol, dave))
        clock = ManualClock(start=now - timedelta(days=20))  # 20 days ago, Carol's message was 80 days old
        deps = PrivacyDeps(events=events, stores=[StreamData(events, bus.js), AuditData(ctx.engine("audit"))],
                           stream=StreamData(events, bus.js), salt="test", known_conversations=_nothing, clock=clock)
        sweeping = asyncio.create_task(enforce_retention(deps, RetentionLimits(90, 90, 90), 3600, stop, clock))
        await clock.sleeping()  # the first sweep is done: nothing was old enough
        assert await scan_streams(bus, ["carol-ancient-word"])
        assert await scan_tables(database_url, ["carol-ancient-word"], AUDIT_ONLY)

        await clock.advance(20 * 86400)  # today: Carol's message is 100 days old
        await wait_until(lambda: _recorded(bus, RetentionApplied, 2))
        await clock.sleeping()
        assert await scan_streams(bus, ["carol-ancient-word", carol]) == []
        assert await scan_tables(database_url, ["carol-ancient-word", carol], AUDIT_ONLY) == []
        assert await scan_streams(bus, ["dave-fresh-word"]) and await scan_tables(database_url, ["dave-fresh-word"], AUDIT_ONLY)
        stop.set()
        await sweeping
    finally:
        stop.set()
        await auditing
        await ctx.close()

    report = await replay(events, database_url)
    assert report.messages == 1 and report.conversations == 1  # Dave's only
    assert await scan_tables(database_url, ["carol-ancient-word", carol], AUDIT_ONLY) == []


async def _nothing(number: str) -> set[str]:
    return set()


async def _recorded(bus, kind, count: int) -> bool:
    found = await StreamData(JetStreamEventLog(bus), bus.js).messages(PRIVACY_RECORDS)
    return sum(decode(m.data).type == kind.__name__ for m in found) >= count


async def test_idle_agent_memory_is_dropped_after_the_limit(bus, database_url):
    async with running_agent(bus, agent_settings(database_url, bus)):
        await send_text(bus, CAROL, "hello")
        await wait_until(lambda: _threads(database_url, 1))
    agent = AgentData(database_url)
    now = datetime.now(UTC)
    limits = RetentionLimits(0, 0, 90)
    events = JetStreamEventLog(bus)
    assert await sweep_all([agent], limits, ManualClock(now + timedelta(days=89)), events) == {"agent": 0}
    assert (await sweep_all([agent], limits, ManualClock(now + timedelta(days=91)), events))["agent"] > 0
    assert await _threads(database_url, 0)


async def _threads(database_url: str, expected: int) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(DISTINCT thread_id) FROM agent.checkpoints") == expected
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
