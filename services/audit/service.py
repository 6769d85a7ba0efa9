"""The audit worker: record every `wa.>` event and keep the read models, batch by batch.

Order does not matter here (every write is keyed or order-independent), so audit reads
the whole stream with one durable batch consumer shared by all replicas, and writes each
batch in one transaction: new events into `audit.events`, and only those into the read
models. A redelivered batch finds its events recorded and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.database import DatabaseHealth, create_engine, is_unreachable
from services.audit.metrics import EVENTS
from services.audit.projection import project, record
from services.audit.records import EventRecord, from_msg
from services.audit.schema import upgrade
from shared.batch import BatchConsumer, BatchPolicy
from shared.bus import Bus
from shared.database_role import check_role
from shared.ids import SUBJECT_ROOT
from shared.logging import get_logger

log = get_logger(__name__)

DURABLE = "audit"
EVERY_EVENT = f"{SUBJECT_ROOT}.>"


async def write_batch(msgs: list[Msg], engine: AsyncEngine, health: DatabaseHealth) -> None:
    """Record a batch in one transaction and project what was new. Safe to run twice.

    If the batch fails for any reason but an unreachable database, its events are written
    one by one, and one that the read models refuse on its own (a number too large for
    its column, a constraint) is recorded without projection, its reason in `error`: one
    bad event never holds its batch, or itself, in a retry loop.
    """
    records = [from_msg(msg) for msg in msgs]
    try:
        try:
            new = await _write(engine, records)
        except Exception as exc:
            if is_unreachable(exc):
                raise
            log.warning("audit_batch_refused", size=len(records), error=str(exc)[:300])
            new = [r for one in records for r in await _write_alone(engine, one)]
    except Exception as exc:
        if is_unreachable(exc):
            health.report(False)
        raise
    health.report(True)
    undecodable = sum(r.event is None for r in new)
    EVENTS.labels("recorded").inc(len(new) - undecodable)
    EVENTS.labels("undecodable").inc(undecodable)
    EVENTS.labels("duplicate").inc(len({r.stream_seq for r in records}) - len(new))


async def _write(engine: AsyncEngine, records: list[EventRecord]) -> list[EventRecord]:
    async with engine.begin() as connection:
        new = await record(connection, records)
        await project(connection, [r.event for r in new if r.event is not None])
    return new


async def _write_alone(engine: AsyncEngine, one: EventRecord) -> list[EventRecord]:
    """One event in its own transaction; recorded without projection if it is refused."""
    try:
        return await _write(engine, [one])
    except Exception as exc:
        if is_unreachable(exc):
            raise
        reason = f"not projected: {exc}"[:1000]
        log.error("audit_event_unprojectable", stream_seq=one.stream_seq, type=one.row.get("type"), error=reason[:300])
        EVENTS.labels("unprojectable").inc()
    try:
        return await _write(engine, [EventRecord({**one.row, "error": reason}, None)])
    except Exception as exc:
        if is_unreachable(exc):
            raise
        # Even the row is refused (e.g. a version number past INTEGER): keep what surely fits.
        bare = {**one.row, "version": None, "error": f"{reason}; row refused: {exc}"[:1000]}
        return await _write(engine, [EventRecord(bare, None)])


async def migrate_when_reachable(
    engine: AsyncEngine, stop: asyncio.Event, health: DatabaseHealth, environment: str = "local"
) -> bool:
    """Check the database role, then migrate, waiting for Postgres if it is not up yet.
    False if stopped first; `PrivilegedDatabaseRole` for a superuser in production."""
    delay = 0.5
    while not stop.is_set():
        try:
            await check_role(engine, "audit", environment)
            await upgrade(engine)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            health.report(False)
            log.warning("database_unavailable", error=str(exc), retry_in_s=delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)
            continue
        health.report(True)
        return True
    return False


async def run_audit(
    bus: Bus,
    database_url: str,
    stop: asyncio.Event,
    policy: BatchPolicy = BatchPolicy(),
    health: DatabaseHealth | None = None,
    pool_size: int = 4,
    environment: str = "local",
) -> None:
    """Migrate the schema, then record every event until `stop` is set, finishing the batch in hand."""
    health = health or DatabaseHealth()
    engine = create_engine(database_url, pool_size)
    watcher: asyncio.Task | None = None
    try:
        if not await migrate_when_reachable(engine, stop, health, environment):
            return
        watcher = asyncio.create_task(health.watch(engine, stop))
        handler = functools.partial(write_batch, engine=engine, health=health)
        await BatchConsumer(bus, DURABLE, EVERY_EVENT, handler, policy).run(stop)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await engine.dispose()
