"""Every store that holds users' data, in the order an erasure visits them.

A new store (another service's table, a new bucket) adds ONE `StoreEntry`: a module and
a factory that builds its `shared.privacy.PersonalDataStore`. Entries whose module is
not installed here are skipped. The stores before the stream find what to erase
(MessageSids, reply ids, calendar event ids) in it, so a run killed before the stream
is done finds them again when it is run again. Audit comes after the stream: once the
stream is purged and the audit consumer has acknowledged everything up to the cut,
nothing erased can still be on its way into audit's tables.
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventlog import EventLog
from shared.privacy import PersonalDataStore
from shared.privacy_jetstream import ProgressData, StreamData, SubjectsData


@dataclass
class StoreContext:
    """What the factories build stores from; engines are made once and disposed by `close`.

    Each service's store connects as that service (`<SERVICE>_DATABASE_URL`, else
    `database_url` / `DATABASE_URL`): under per-service roles an erasure deletes from each
    schema with its owner's role, and needs no role that can touch every schema.
    """

    events: EventLog
    js: JetStreamContext
    database_url: str | None
    environ: dict[str, str] = field(default_factory=dict)
    engines: list[AsyncEngine] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def url_for(self, service: str) -> str | None:
        from switchboard.provisioning import service_database_url

        fallback = {"DATABASE_URL": self.database_url} if self.database_url else {}
        return service_database_url({**self.environ, **fallback}, service)

    def engine(self, service: str) -> AsyncEngine:
        from services.audit.database import create_engine

        url = self.url_for(service)
        if not url:
            raise ValueError(f"{service.upper()}_DATABASE_URL or DATABASE_URL is not set")
        engine = create_engine(url, pool_size=2)
        self.engines.append(engine)
        return engine

    async def close(self) -> None:
        for engine in self.engines:
            await engine.dispose()
        for close in self.closers:
            await close()


def _gateway(ctx: StoreContext) -> PersonalDataStore:
    from services.gateway.privacy import SeenData

    return SeenData(ctx.js)


def _outbound(ctx: StoreContext) -> PersonalDataStore:
    from services.outbound.privacy import SentLedgerData

    return SentLedgerData(ctx.js)


def _calendar(ctx: StoreContext) -> PersonalDataStore:
    from services.calendar.privacy import CalendarData

    return CalendarData(ctx.engine("calendar"), _google(ctx))


def _google(ctx: StoreContext) -> Any:
    if not ctx.environ.get("CALENDAR_GOOGLE_OWNERS"):
        return None
    from services.calendar.bootstrap import build_google
    from services.calendar.config import CalendarSettings

    google = build_google(CalendarSettings())  # from the environment, as the calendar service reads it
    if google is not None:
        ctx.closers.append(google.close)
    return google


def _agent(ctx: StoreContext) -> PersonalDataStore:
    from services.agent.privacy import AgentData

    url = ctx.url_for("agent")
    if not url:
        raise ValueError("AGENT_DATABASE_URL or DATABASE_URL is not set")
    return AgentData(url)


def _audit(ctx: StoreContext) -> PersonalDataStore:
    from services.audit.privacy import AuditData
    from services.audit.service import DURABLE

    async def caught_up(seq: int) -> None:
        await consumer_passed(ctx.js, ctx.events.name, DURABLE, seq)

    return AuditData(ctx.engine("audit"), caught_up)


async def consumer_passed(js: JetStreamContext, stream: str, durable: str, seq: int, timeout_s: float = 120) -> None:
    """Wait until a consumer has acknowledged everything up to `seq` (it may hold a batch read
    before the stream was purged); a missing consumer holds nothing."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            return
        if info.ack_floor.stream_seq >= seq or (info.delivered.stream_seq >= seq and not info.num_ack_pending):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the {durable} consumer has not caught up with sequence {seq} yet; run the erasure "
                               "again (it resumes)")
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class StoreEntry:
    name: str
    module: str  # skipped when this module is not installed (each image has its own extras)
    build: Callable[[StoreContext], PersonalDataStore]
    database_of: str | None = None  # the service whose Postgres role it uses


STORES: tuple[StoreEntry, ...] = (
    StoreEntry("gateway_seen", "services.gateway", _gateway),
    StoreEntry("outbound_sent", "services.outbound", _outbound),
    # Reminders (branch `reminders`): skipped until `services.reminders` is installed. The
    # bucket keys and timer subjects are that service's (book.py, timers.py).
    StoreEntry("reminders", "services.reminders", lambda ctx: SubjectsData(
        "reminders", ctx.js, "KV_REMINDERS", ("$KV.REMINDERS.{conversation}.*", "$KV.REMINDERS.index.{conversation}"))),
    StoreEntry("reminder_preferences", "services.reminders", lambda ctx: SubjectsData(
        "reminder_preferences", ctx.js, "KV_REMINDER_PREFS", ("$KV.REMINDER_PREFS.{conversation}",))),
    StoreEntry("reminder_timers", "services.reminders", lambda ctx: SubjectsData(
        "reminder_timers", ctx.js, "REMINDER_TIMERS", ("timers.*.{conversation}.*",))),
    StoreEntry("calendar", "services.calendar", _calendar, database_of="calendar"),
    StoreEntry("agent", "services.agent", _agent, database_of="agent"),
    StoreEntry("stream", "shared", lambda ctx: StreamData(ctx.events, ctx.js)),
    StoreEntry("progress", "shared", lambda ctx: ProgressData(ctx.js, ctx.events.name)),
    StoreEntry("audit", "services.audit", _audit, database_of="audit"),
)


def installed(entry: StoreEntry) -> bool:
    try:
        return importlib.util.find_spec(entry.module) is not None
    except ModuleNotFoundError:
        return False


def database_services(entries: tuple[StoreEntry, ...] = STORES) -> list[str]:
    """The services whose Postgres the installed stores use."""
    return [entry.database_of for entry in entries if entry.database_of and installed(entry)]


def build_stores(ctx: StoreContext, entries: tuple[StoreEntry, ...] = STORES) -> list[PersonalDataStore]:
    """The stores to visit here, in order; refuses when a store's database is not configured
    (an erasure that skipped a store would report success and leave its data)."""
    missing = [e.database_of for e in entries if e.database_of and installed(e) and not ctx.url_for(e.database_of)]
    if missing:
        raise ValueError("no database URL for " + ", ".join(f"{s} ({s.upper()}_DATABASE_URL or DATABASE_URL)"
                                                            for s in missing))
    return [entry.build(ctx) for entry in entries if installed(entry)]
