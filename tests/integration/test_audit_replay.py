"""Rebuilding the audit read models from the stream gives the live rows, row for row."""

from __future__ import annotations

import asyncio

import asyncpg

from services.audit.replay import replay
from shared.bus import Bus
from shared.eventlog_jetstream import JetStreamEventLog
from shared.ids import conversation_id
from tests.integration.test_audit import (
    ALICE,
    BOB,
    BUSINESS,
    caught_up,
    composed,
    publish,
    received,
    running_audit,
    scalar,
    sent,
    snapshot,
    status,
)


async def populate(bus: Bus) -> int:
    """A realistic stream: two conversations, replies in parts, callbacks out of order, garbage."""
    await publish(
        bus,
        received(ALICE, "SMa1", body="lunch tomorrow?", when=0),
        received(BOB, "SMb1", body="hi", media=1, when=1),
        composed(ALICE, "ra", when=2),
        status(ALICE, "SMa-out2", "delivered", when=9),  # before its MessageSent
        sent(ALICE, "SMa-out1", reply_id="ra", part=1, parts=2, when=3),
        sent(ALICE, "SMa-out2", reply_id="ra", part=2, parts=2, when=4),
        status(ALICE, "SMa-out1", "read", when=8),
        status(ALICE, "SMa-out1", "sent", when=5),
        composed(BOB, "rb", when=6),
        sent(BOB, "SMb-out1", reply_id="rb", when=7),
        status(BOB, "SMb-out1", "undelivered", error_code=63016, when=10),
    )
    await bus.js.publish(f"wa.status.{conversation_id(BUSINESS, BOB)}", b"not an event", headers={"Sb-Type": "DeliveryStatusChanged"})
    return 12


async def execute(database_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_replay_reproduces_the_read_models_row_for_row(bus, database_url):
    total = await populate(bus)
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    live = await snapshot(database_url)
    assert len(live["messages"]) == 5 and len(live["conversations"]) == 2

    report = await replay(JetStreamEventLog(bus), database_url)
    assert await snapshot(database_url) == live
    assert (report.events_read, report.events_recorded, report.undecodable, report.last_seq) == (total, 0, 1, total)
    assert (report.events_projected, report.messages, report.conversations) == (total - 1, 5, 2)


async def test_replay_repairs_damaged_read_models_and_fills_missing_events(bus, database_url):
    await populate(bus)
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    live = await snapshot(database_url)

    await execute(
        database_url,
        "DELETE FROM audit.messages WHERE message_sid = 'SMa1'",
        "UPDATE audit.messages SET status = 'queued', body = 'tampered' WHERE message_sid = 'SMa-out1'",
        "INSERT INTO audit.messages (message_sid, direction, status, updated_at) VALUES ('SMghost', 'inbound', 'read', now())",
        "UPDATE audit.conversations SET event_count = 999, first_activity_at = now()",
        # History is append-only; only someone who disables the guard can lose events.
        "ALTER TABLE audit.events DISABLE TRIGGER events_append_only",
        "DELETE FROM audit.events WHERE stream_seq IN (2, 5, 12)",
        "ALTER TABLE audit.events ENABLE TRIGGER events_append_only",
    )
    assert await snapshot(database_url) != live

    report = await replay(JetStreamEventLog(bus), database_url)
    assert report.events_recorded == 3
    restored = await snapshot(database_url)
    # recorded_at aside, the refilled events are the ones audit first wrote.
    assert restored == live


async def test_replay_on_an_empty_database_builds_everything(bus, database_url):
    total = await populate(bus)
    report = await replay(JetStreamEventLog(bus), database_url)
    assert (report.events_recorded, report.messages, report.conversations) == (total, 5, 2)
    assert await scalar(database_url, "SELECT status FROM audit.messages WHERE message_sid = 'SMa-out1'") == "read"
    # A live audit started afterwards finds every event recorded and projects none twice.
    before = await snapshot(database_url)
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    assert await snapshot(database_url) == before


async def test_replay_of_an_empty_stream(bus, database_url):
    report = await replay(JetStreamEventLog(bus), database_url)
    assert (report.events_read, report.last_seq, report.messages, report.conversations) == (0, 0, 0, 0)


async def test_replay_while_audit_runs_and_events_keep_coming(bus, database_url):
    users = [f"+3462000{i:04d}" for i in range(5)]

    async def traffic(rounds: range) -> None:
        for n in rounds:
            for user in users:
                await publish(bus, received(user, f"SM{n}-{user}", when=n), sent(user, f"SMo{n}-{user}", when=n + 0.5),
                              status(user, f"SMo{n}-{user}", "delivered", when=n + 0.7))
            await asyncio.sleep(0.01)

    async with running_audit(bus, database_url):
        writer = asyncio.create_task(traffic(range(40)))
        await asyncio.sleep(0.3)
        first = await replay(JetStreamEventLog(bus), database_url)
        await writer
        await caught_up(bus, database_url)
    assert 0 < first.last_seq < 40 * 5 * 3
    live = await snapshot(database_url)
    assert len(live["events"]) == 40 * 5 * 3
    assert sum(c["event_count"] for c in live["conversations"]) == 40 * 5 * 3  # nothing projected twice or lost

    await replay(JetStreamEventLog(bus), database_url)
    assert await snapshot(database_url) == live
