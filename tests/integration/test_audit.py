"""The audit worker on a real nats-server and a real Postgres: record, project, stay idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any, AsyncIterator

import asyncpg
import pytest
from nats.js.errors import NotFoundError

import services.audit.service as audit_service
from services.audit.database import DatabaseHealth, create_engine
from services.audit.projection import project
from services.audit.schema import migrate
from services.audit.service import DURABLE, run_audit, write_batch
from services.audit.tables import messages
from shared.batch import BatchPolicy
from shared.bus import Bus, connect
from shared.events import (
    DeliveryStatusChanged,
    DeliveryStatusChangedData,
    Event,
    Media,
    MessageReceived,
    MessageReceivedData,
    MessageSent,
    MessageSentData,
    ReplyComposed,
    ReplyComposedData,
)
from shared.ids import conversation_id
from tests.waiting import scaled

BUSINESS = "+14155238886"
ALICE, BOB = "+34600111222", "+34600333444"
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
FAST = BatchPolicy(batch_size=64, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05, 0.1, 0.2), isolate_after=3)


# --- building events ------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def received(user: str, sid: str, body: str = "hi", when: float = 0, media: int = 0) -> MessageReceived:
    return MessageReceived(
        conversation=conversation_id(BUSINESS, user),
        occurred_at=at(when),
        data=MessageReceivedData(
            message_sid=sid, from_=user, to=BUSINESS, body=body, received_at=at(when),
            media=tuple(Media(url=f"https://media.example/{sid}/{i}", content_type="image/jpeg") for i in range(media)),
        ),
    )


def composed(user: str, reply_id: str, when: float = 0) -> ReplyComposed:
    return ReplyComposed(
        conversation=conversation_id(BUSINESS, user),
        occurred_at=at(when),
        data=ReplyComposedData(reply_id=reply_id, in_reply_to=("SM1",), from_=BUSINESS, to=user, text="hello", model="test"),
    )


def sent(user: str, twilio_sid: str, reply_id: str = "r1", part: int = 1, parts: int = 1, when: float = 0) -> MessageSent:
    return MessageSent(
        conversation=conversation_id(BUSINESS, user),
        occurred_at=at(when),
        data=MessageSentData(
            reply_id=reply_id, part=part, parts=parts, twilio_sid=twilio_sid, from_=BUSINESS, to=user,
            body=f"reply {reply_id} part {part}",
        ),
    )


def status(user: str, twilio_sid: str, value: str, when: float = 0, error_code: int | None = None) -> DeliveryStatusChanged:
    return DeliveryStatusChanged(
        conversation=conversation_id(BUSINESS, user),
        occurred_at=at(when),
        data=DeliveryStatusChangedData(
            twilio_sid=twilio_sid, status=value, error_code=error_code, from_=BUSINESS, to=user, reported_at=at(when)
        ),
    )


def msg_id(event: Event) -> str:
    return f"test:{event.id}"


async def publish(bus: Bus, *events: Event) -> None:
    for event in events:
        await bus.publish(event, msg_id=msg_id(event))


# --- running audit and reading its tables ------------------------------------------------


@contextlib.asynccontextmanager
async def running_audit(bus: Bus, database_url: str, policy: BatchPolicy = FAST) -> AsyncIterator[DatabaseHealth]:
    """An in-process audit worker, stopped (finishing its batch) on exit."""
    stop = asyncio.Event()
    health = DatabaseHealth()
    task = asyncio.create_task(run_audit(bus, database_url, stop, policy, health))
    try:
        yield health
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(database_url)
    try:
        return [dict(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def scalar(database_url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def eventually(check, timeout: float = 15.0) -> None:
    """Poll the async `check` until it returns true."""
    deadline = time.monotonic() + scaled(timeout)
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def caught_up(bus: Bus, database_url: str) -> None:
    """Wait until every stream message is recorded and audit has acknowledged all of them."""
    last = (await bus.js.stream_info(bus.stream)).state.messages

    async def done() -> bool:
        try:
            if await scalar(database_url, "SELECT count(*) FROM audit.events") != last:
                return False
        except asyncpg.UndefinedTableError:  # not migrated yet
            return False
        try:
            info = await bus.js.consumer_info(bus.stream, DURABLE)
        except NotFoundError:  # not created yet
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(done)


MESSAGE_COLUMNS = [column.name for column in messages.columns]

# Every column but recorded_at, which says when audit wrote the row.
EVENT_COLUMNS = (
    "stream_seq, subject, msg_id, type, version, conversation, event_id, correlation_id, causation_id, "
    "occurred_at, stored_at, payload, error"
)


async def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every audit row, in key order (recorded_at aside)."""
    connection = await asyncpg.connect(database_url)
    try:
        return {
            table: [dict(row) for row in await connection.fetch(f"SELECT {columns} FROM audit.{table} ORDER BY {key}")]
            for table, columns, key in (
                ("events", EVENT_COLUMNS, "stream_seq"),
                ("messages", "*", "message_sid"),
                ("conversations", "*", "conversation"),
            )
        }
    finally:
        await connection.close()


# --- tests -------------------------------------------------------------------------------


async def test_every_event_is_recorded_once_and_messages_are_projected(bus, database_url):
    chain = [
        received(ALICE, "SMin1", body="book a table", media=2, when=0),
        composed(ALICE, "r1", when=1),
        sent(ALICE, "SMout1", reply_id="r1", when=2),
        status(ALICE, "SMout1", "delivered", when=3),
    ]
    await publish(bus, *chain)
    async with running_audit(bus, database_url) as health:
        await caught_up(bus, database_url)
        assert health.ok

    rows = await query(database_url, "SELECT * FROM audit.events ORDER BY stream_seq")
    assert [r["stream_seq"] for r in rows] == [1, 2, 3, 4]
    assert [r["type"] for r in rows] == ["MessageReceived", "ReplyComposed", "MessageSent", "DeliveryStatusChanged"]
    first = rows[0]
    conversation = conversation_id(BUSINESS, ALICE)
    assert first["conversation"] == conversation
    assert first["subject"].startswith("wa.received.") and first["subject"].endswith(conversation)
    assert first["event_id"] == chain[0].id and first["version"] == 1 and first["msg_id"] == msg_id(chain[0])
    assert first["occurred_at"] == at(0) and first["stored_at"] is not None and first["error"] is None
    assert '"message_sid": "SMin1"' in first["payload"]

    messages = {r["message_sid"]: r for r in await query(database_url, "SELECT * FROM audit.messages")}
    assert set(messages) == {"SMin1", "SMout1"}
    inbound, outbound = messages["SMin1"], messages["SMout1"]
    assert (inbound["direction"], inbound["status"], inbound["from_number"], inbound["to_number"]) == (
        "inbound", "received", ALICE, BUSINESS,
    )
    assert (inbound["body"], inbound["media_count"], inbound["conversation"]) == ("book a table", 2, conversation)
    assert (outbound["direction"], outbound["status"], outbound["reply_id"], outbound["part"]) == ("outbound", "delivered", "r1", 1)
    assert (outbound["from_number"], outbound["to_number"], outbound["body"]) == (BUSINESS, ALICE, "reply r1 part 1")
    assert outbound["created_at"] == at(2) and outbound["status_at"] == at(3) and outbound["updated_at"] == at(3)


async def test_the_same_msg_id_three_times_is_one_row(bus, database_url):
    event = received(ALICE, "SMdup")
    acks = [await bus.publish(event, msg_id="SMdup") for _ in range(3)]
    assert [a.duplicate for a in acks] == [None, True, True]
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    assert await scalar(database_url, "SELECT count(*) FROM audit.events") == 1
    assert await scalar(database_url, "SELECT count(*) FROM audit.messages WHERE message_sid = 'SMdup'") == 1
    assert await scalar(database_url, "SELECT inbound_count FROM audit.conversations") == 1


async def test_a_redelivered_batch_changes_nothing(bus, database_url):
    await publish(
        bus, received(ALICE, "SMa", when=0), sent(ALICE, "SMb", when=1), status(ALICE, "SMb", "read", when=2),
        received(BOB, "SMc", when=3),
    )
    # Write the whole stream directly, twice, as a batch that came back would be.
    await migrate(database_url)
    sub = await bus.js.pull_subscribe("wa.>", stream=bus.stream)
    msgs = await sub.fetch(10, timeout=1)
    assert len(msgs) == 4
    engine = create_engine(database_url)
    try:
        await write_batch(msgs, engine, DatabaseHealth())
        before = await snapshot(database_url)
        await write_batch(msgs, engine, DatabaseHealth())
        await write_batch(msgs[1:3], engine, DatabaseHealth())
        assert await snapshot(database_url) == before
    finally:
        await engine.dispose()
    # And the audit consumer, which sees every one of them again, changes nothing either.
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    assert await snapshot(database_url) == before
    assert before["conversations"][0]["event_count"] + before["conversations"][1]["event_count"] == 4


async def test_a_batch_that_fails_half_way_is_rolled_back_and_retried(bus, database_url, monkeypatch):
    failures = []
    real_project = audit_service.project

    async def flaky_project(connection, events):
        await real_project(connection, events)
        if not failures:
            failures.append(len(events))
            raise RuntimeError("the database went away mid-batch")

    monkeypatch.setattr(audit_service, "project", flaky_project)
    await publish(bus, *(received(ALICE, f"SM{i}", when=i) for i in range(5)))
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    assert failures == [5]
    rows = await query(database_url, "SELECT * FROM audit.conversations")
    assert (rows[0]["inbound_count"], rows[0]["event_count"]) == (5, 5)
    assert await scalar(database_url, "SELECT count(*) FROM audit.messages") == 5


async def test_status_callbacks_in_any_order_keep_the_highest_status(bus, database_url):
    await publish(
        bus,
        sent(ALICE, "SMout", when=0),
        status(ALICE, "SMout", "read", when=3),
        status(ALICE, "SMout", "delivered", when=2),
        status(ALICE, "SMout", "sent", when=1),
    )
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    row = (await query(database_url, "SELECT * FROM audit.messages WHERE message_sid = 'SMout'"))[0]
    assert (row["status"], row["status_at"], row["updated_at"]) == ("read", at(3), at(3))
    assert row["body"] == "reply r1 part 1"


async def test_a_status_before_its_message_sent_makes_a_row_that_message_sent_completes(bus, database_url):
    async with running_audit(bus, database_url):
        await publish(bus, status(ALICE, "SMearly", "delivered", when=5, error_code=None))
        await caught_up(bus, database_url)
        early = (await query(database_url, "SELECT * FROM audit.messages WHERE message_sid = 'SMearly'"))[0]
        assert (early["direction"], early["status"], early["status_at"]) == ("outbound", "delivered", at(5))
        assert early["body"] is None and early["reply_id"] is None and early["created_at"] is None

        await publish(bus, sent(ALICE, "SMearly", reply_id="r9", part=2, parts=3, when=4))
        await caught_up(bus, database_url)
    row = (await query(database_url, "SELECT * FROM audit.messages WHERE message_sid = 'SMearly'"))[0]
    assert (row["status"], row["status_at"]) == ("delivered", at(5))  # not lowered to `sent`
    assert (row["reply_id"], row["part"], row["parts"], row["body"]) == ("r9", 2, 3, "reply r9 part 2")
    assert (row["from_number"], row["to_number"], row["created_at"], row["updated_at"]) == (BUSINESS, ALICE, at(4), at(5))


async def test_the_last_error_code_is_kept(bus, database_url):
    await publish(
        bus,
        sent(ALICE, "SMerr", when=0),
        status(ALICE, "SMerr", "undelivered", when=2, error_code=30008),
        status(ALICE, "SMerr", "failed", when=1, error_code=30003),
        status(ALICE, "SMerr", "queued", when=0.5),
    )
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    row = (await query(database_url, "SELECT * FROM audit.messages"))[0]
    assert (row["status"], row["error_code"], row["error_status"]) == ("undelivered", 30008, "undelivered")


@pytest.mark.parametrize("same_batch", [False, True])
async def test_message_rows_do_not_depend_on_the_order_events_are_projected(database_url, same_batch):
    """What lets live replicas and a replay agree: every permutation ends in the same row."""
    events = [
        sent(ALICE, "SMp", when=1),
        status(ALICE, "SMp", "failed", when=3, error_code=30003),
        status(ALICE, "SMp", "read", when=6),
        status(ALICE, "SMp", "read", when=5),  # a repeated status keeps its first report time
    ]
    await migrate(database_url)
    engine = create_engine(database_url)
    results = set()
    try:
        async with engine.connect() as connection:
            for order in itertools.permutations(events):
                await connection.exec_driver_sql("TRUNCATE audit.messages, audit.conversations")
                for batch in [order] if same_batch else [[event] for event in order]:
                    await project(connection, batch)
                rows = await connection.exec_driver_sql("SELECT * FROM audit.messages, audit.conversations")
                results.add(tuple(rows.one()))
            await connection.rollback()
    finally:
        await engine.dispose()
    assert len(results) == 1
    row = dict(zip(MESSAGE_COLUMNS, next(iter(results)), strict=False))  # then the conversation columns
    assert (row["status"], row["status_at"], row["error_code"], row["error_status"]) == ("read", at(5), 30003, "failed")
    assert (row["created_at"], row["updated_at"], row["body"]) == (at(1), at(6), "reply r1 part 1")


async def test_conversations_count_messages_and_track_first_and_last_activity(bus, database_url):
    # Published out of time order: first/last activity must not depend on arrival.
    await publish(
        bus,
        received(ALICE, "SMa2", when=10),
        received(ALICE, "SMa1", when=0),
        composed(ALICE, "ra", when=11),
        sent(ALICE, "SMa-out1", reply_id="ra", part=1, parts=2, when=12),
        sent(ALICE, "SMa-out2", reply_id="ra", part=2, parts=2, when=13),
        status(ALICE, "SMa-out1", "delivered", when=20),
        received(BOB, "SMb1", when=5),
    )
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    rows = {r["conversation"]: r for r in await query(database_url, "SELECT * FROM audit.conversations")}
    alice, bob = rows[conversation_id(BUSINESS, ALICE)], rows[conversation_id(BUSINESS, BOB)]
    assert (alice["business_number"], alice["user_number"]) == (BUSINESS, ALICE)
    assert (alice["inbound_count"], alice["outbound_count"], alice["event_count"]) == (2, 2, 6)
    assert (alice["first_activity_at"], alice["last_activity_at"]) == (at(0), at(20))
    assert (bob["inbound_count"], bob["outbound_count"], bob["event_count"]) == (1, 0, 1)
    assert (bob["first_activity_at"], bob["last_activity_at"], bob["user_number"]) == (at(5), at(5), BOB)


async def test_two_replicas_record_every_event_exactly_once(bus, database_url, nats_server):
    users = [f"+3461000{i:04d}" for i in range(8)]
    events = [received(user, f"SM{n}-{user}", when=n) for n in range(40) for user in users]
    connections = [await connect(nats_server.url, f"audit-{i}", wait=False) for i in range(2)]
    policy = BatchPolicy(batch_size=16, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05,))
    try:
        async with contextlib.AsyncExitStack() as stack:
            for nc in connections:
                await stack.enter_async_context(running_audit(Bus(nc), database_url, policy))
            await asyncio.gather(*(publish(bus, *events[i::4]) for i in range(4)))
            await caught_up(bus, database_url)
    finally:
        for nc in connections:
            await nc.close()
    assert await scalar(database_url, "SELECT count(*) FROM audit.events") == len(events)
    assert await scalar(database_url, "SELECT count(*) FROM audit.messages") == len(events)
    totals = await query(database_url, "SELECT sum(inbound_count) AS inbound, sum(event_count) AS events FROM audit.conversations")
    assert totals == [{"inbound": len(events), "events": len(events)}]  # nothing projected twice


async def test_undecodable_payloads_are_recorded_not_lost(bus, database_url):
    conversation = conversation_id(BUSINESS, ALICE)
    subject = f"wa.received.{conversation}"
    await bus.js.publish(subject, b"\xff\xfe not json", headers={"Sb-Type": "MessageReceived"})
    await bus.js.publish(subject, b'{"type": "SomethingNew", "version": 1}')
    await bus.js.publish(subject, b'{"type": "MessageReceived", "version": 1, "conversation": "x"}')
    await bus.js.publish(subject, b"[1, 2, 3]")
    await publish(bus, received(ALICE, "SMafter"))
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)

    rows = await query(database_url, "SELECT * FROM audit.events ORDER BY stream_seq")
    assert len(rows) == 5
    garbage, unknown, invalid, array, good = rows
    assert garbage["type"] == "MessageReceived" and garbage["conversation"] == conversation
    assert garbage["payload"] == '{"raw_base64": "//4gbm90IGpzb24="}' and "not JSON" in garbage["error"]
    assert unknown["type"] == "SomethingNew" and '"SomethingNew"' in unknown["payload"]
    assert invalid["type"] == "MessageReceived" and invalid["event_id"] is None and "undecodable" in invalid["error"]
    assert array["type"] == "unknown" and array["payload"] == '{"value": [1, 2, 3]}'
    assert good["type"] == "MessageReceived" and good["error"] is None
    assert [r["message_sid"] for r in await query(database_url, "SELECT * FROM audit.messages")] == ["SMafter"]
    assert await scalar(database_url, "SELECT event_count FROM audit.conversations") == 1


async def test_nul_characters_are_stored_replaced(bus, database_url):
    await publish(bus, received(ALICE, "SMnul", body="a\x00b"))
    async with running_audit(bus, database_url):
        await caught_up(bus, database_url)
    event = (await query(database_url, "SELECT payload, error FROM audit.events"))[0]
    assert "a\ufffdb" in event["payload"] and "NUL" in event["error"]
    assert await scalar(database_url, "SELECT body FROM audit.messages") == "a\ufffdb"
