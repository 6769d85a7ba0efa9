"""Rebuilding the audit read models from the stream, the source of truth.

Everything happens in one transaction, so readers see the old read models until the
new ones are complete, and a failed replay changes nothing:

1. `LOCK TABLE audit.events IN EXCLUSIVE MODE`: live audit writers wait at their first
   insert, so no event can be projected twice or slip between the rebuild and them.
2. Read the stream's last sequence (after the lock, so every earlier event is ours).
3. Empty `audit.messages` and `audit.conversations`.
4. Read the stream from its first event to that sequence (`EventLog.read_all`) in chunks,
   so memory stays bounded; record any event `audit.events` is missing, and project
   every event.

Live writers then go on: their events up to that sequence are already recorded, so they
project nothing twice; later ones are new to them. The projection merges are
order-independent, so the rebuilt rows equal the live ones row for row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import AsyncGenerator

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit.database import create_engine
from services.audit.metrics import REPLAYS
from services.audit.projection import project, record
from services.audit.records import EventRecord, to_record
from services.audit.schema import upgrade
from services.audit.tables import conversations, messages
from shared.eventlog import EventLog
from shared.logging import get_logger

log = get_logger(__name__)

CHUNK = 500


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


async def replay(event_log: EventLog, database_url: str, chunk_size: int = CHUNK) -> ReplayReport:
    """Rebuild `audit.messages` and `audit.conversations` from the stream; record missing events."""
    started = time.perf_counter()
    engine = create_engine(database_url, pool_size=1)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(text("LOCK TABLE audit.events IN EXCLUSIVE MODE"))
            last_seq = await event_log.last_seq()
            await connection.execute(text("TRUNCATE audit.messages, audit.conversations"))
            read = recorded = projected = 0
            async with contextlib.aclosing(read_stream(event_log, last_seq, chunk_size)) as chunks:
                async for records in chunks:
                    read += len(records)
                    recorded += len(await record(connection, records))
                    events = [r.event for r in records if r.event is not None]
                    await project(connection, events)
                    projected += len(events)
            report = ReplayReport(
                stream=event_log.name,
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


async def read_stream(event_log: EventLog, last_seq: int, chunk_size: int) -> AsyncGenerator[list[EventRecord], None]:
    """Yield the stream's messages up to `last_seq` as records, `chunk_size` at a time."""
    if last_seq == 0:
        return
    records: list[EventRecord] = []
    async with contextlib.aclosing(event_log.read_all(1, last_seq)) as messages:
        async for message in messages:
            records.append(to_record(message.seq, message.subject, message.data, message.headers, message.stored_at))
            if len(records) >= chunk_size:
                yield records
                records = []
    if records:
        yield records


async def _count(connection: AsyncConnection, table) -> int:
    return (await connection.execute(select(func.count()).select_from(table))).scalar_one()
