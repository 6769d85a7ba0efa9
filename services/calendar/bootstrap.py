"""Composition root: build the backends and the micro service from settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.calendar.config import CalendarSettings
from services.calendar.google import GoogleCalendar
from services.calendar.google_credentials import CredentialStore
from services.calendar.handlers import Calendar
from services.calendar.local import PostgresCalendar, open_engine
from services.calendar.migrations import migrate
from services.calendar.routing import Backends
from services.calendar.service import CalendarService
from shared.bus import Bus
from shared.database_role import check_database_role
from shared.eventlog_jetstream import JetStreamEventLog
from shared.logging import get_logger
from shared.runtime import run_worker

log = get_logger(__name__)


def build_backends(settings: CalendarSettings) -> Backends:
    local = PostgresCalendar(open_engine(settings.database_url, settings.db_pool_size))
    return Backends(local, build_google(settings))


def build_google(settings: CalendarSettings) -> GoogleCalendar | None:
    """The Google backend, when some owners' calendars are on Google."""
    calendars = settings.owner_calendars
    if not calendars:
        return None
    store = CredentialStore.from_file(
        settings.google_credentials, token_uri=settings.google_token_uri, subject=settings.google_subject  # type: ignore[arg-type]
    )
    return GoogleCalendar(
        store, calendars, api_endpoint=settings.google_api_endpoint,
        timeout_s=settings.google_timeout_s, send_invitations=settings.send_invitations,
    )


def build_service(settings: CalendarSettings, bus: Bus, backends: Backends) -> CalendarService:
    """The micro service on the bus's connection; changes are published through the event-log port."""
    deps = Calendar(
        backends=backends, events=JetStreamEventLog(bus), default_time_zone=settings.default_time_zone,
        max_range=timedelta(days=settings.max_range_days),
    )
    return CalendarService(
        bus.nc, deps, concurrency=settings.concurrency, request_timeout_s=settings.request_timeout_s
    )


async def serve(
    settings: CalendarSettings, bus: Bus, stop: asyncio.Event, serving: asyncio.Event | None = None
) -> None:
    """Migrate, serve the `calendar` micro service until `stop`, then finish what is in hand."""
    serving = serving or asyncio.Event()
    await check_database_role(settings.database_url, "asyncpg", "calendar", settings.environment)
    await migrate(settings.database_url)
    backends = build_backends(settings)
    service = build_service(settings, bus, backends)
    await service.start()
    serving.set()
    log.info("calendar_serving", google_owners=len(settings.owner_calendars))
    try:
        await stop.wait()
    finally:
        serving.clear()
        await service.stop(settings.drain_timeout_s)
        await backends.close()


async def main(settings: CalendarSettings, stop: asyncio.Event | None = None) -> None:
    serving = asyncio.Event()

    async def work(bus: Bus, stopping: asyncio.Event) -> None:
        await serve(settings, bus, stopping, serving)

    await run_worker("calendar", settings, work, checks={"serving": serving.is_set}, stop=stop)
