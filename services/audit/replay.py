"""Rebuilding the audit read models from the stream, the source of truth.

Everything happens in one transaction, so readers see the old read models until the
new ones are complete, and a failed replay changes nothing:

1. `LOCK TABLE audit.events IN EXCLUSIVE MODE`: live audit writers wait at their first
   insert, so no event can be projected twice or slip between the rebuild and them.
2. Read the stream's last sequence (after the lock, so every earlier event is ours).
3. Empty `audit.messages` and `audit.conversations`.
4. Read the stream from its first event to that sequence in chunks (an ephemeral
   consumer, so memory stays bounded), record any event `audit.events` is missing, and
   project every event.

Live writers then go on: their events up to that sequence are already recorded, so they
project nothing twice; later ones are new to them. The projection merges are
order-independent, so the rebuilt rows equal the live ones row for row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from typing import AsyncIterator

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit.database import create_engine
from services.audit.metrics import REPLAYS
from services.audit.projection import project, record
from services.audit.records import EventRecord, from_msg
from services.audit.schema import upgrade
from services.audit.tables import conversations, messages
from shared.bus import Bus
from shared.logging import get_logger

log = get_logger(__name__)

CHUNK = 500
FETCH_TIMEOUT_S = 2.0


@dataclasses.dataclass(frozen=True)
class ReplayReport:
    """What a replay read and rebuilt."""

    stream: str
    last_seq: int  # the stream's last sequence when the rebuild began; later events are the live writers'
    events_read: int
    events_recorded: int  # events audit.events was missing, now recorded
    events_projected: int
    undecodable: int  # recorded, but nothing to project
    messages: int
    conversations: int
    seconds: float


async def replay(bus: Bus, database_url: str, chunk_size: int = CHUNK) -> ReplayReport:
    """Rebuild `audit.messages` and `audit.conversations` from the stream; record missing events."""
    started = time.perf_counter()
    engine = create_engine(database_url, pool_size=1)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(text("LOCK TABLE audit.events IN EXCLUSIVE MODE"))
            last_seq = (await bus.js.stream_info(bus.stream)).state.last_seq
            await connection.execute(text("TRUNCATE audit.messages, audit.conversations"))
            read = recorded = projected = 0
            async with contextlib.aclosing(read_stream(bus, last_seq, chunk_size)) as chunks:
                async for records in chunks:
                    read += len(records)
                    recorded += len(await record(connection, records))
                    events = [r.event for r in records if r.event is not None]
                    await project(connection, events)
                    projected += len(events)
            report = ReplayReport(
                stream=bus.stream,
                last_seq=last_seq,
                events_read=read,
                events_recorded=recorded,
                events_projected=projected,
                undecodable=read - projected,
                messages=await _count(connection, messages),
                conversations=await _count(connection, conversations),
                seconds=round(time.perf_counter() - started, 3),
            )
    finally:
        await engine.dispose()
    REPLAYS.inc()
    log.info("replay_done", **{k: v for k, v in dataclasses.asdict(report).items() if k != "stream"})
    return report


async def read_stream(bus: Bus, last_seq: int, chunk_size: int) -> AsyncIterator[list[EventRecord]]:
    """Yield the stream's messages up to `last_seq` as records, `chunk_size` at a time."""
    if last_seq == 0:
        return
    name = f"audit-replay-{uuid.uuid4().hex[:12]}"
    await bus.js.add_consumer(
        bus.stream,
        ConsumerConfig(
            name=name,
            description="audit replay: every event once, in order",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            mem_storage=True,
            inactive_threshold=60.0,  # cleaned up by the server if this process dies
        ),
    )
    sub = await bus.js.pull_subscribe_bind(consumer=name, stream=bus.stream)
    try:
        seen = 0
        while seen < last_seq:
            try:
                msgs = await sub.fetch(chunk_size, timeout=FETCH_TIMEOUT_S)
            except (TimeoutError, NatsTimeoutError):
                # The last events may have been deleted from the stream: stop when none are left.
                if (await sub.consumer_info()).num_pending == 0:
                    return
                continue
            records: list[EventRecord] = []
            for msg in msgs:
                seen = msg.metadata.sequence.stream
                if seen <= last_seq:
                    records.append(from_msg(msg))
            if records:
                yield records
    finally:
        await sub.unsubscribe()
        try:
            await bus.js.delete_consumer(bus.stream, name)
        except Exception as exc:  # it expires by itself; not worth failing the replay over
            log.warning("replay_consumer_not_deleted", error=str(exc))


async def _count(connection: AsyncConnection, table) -> int:
    return (await connection.execute(select(func.count()).select_from(table))).scalar_one()
