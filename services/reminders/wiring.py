"""Reminders inside the outbound worker: the book, the dispatch dependencies, both loops."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.reminders.book import ReminderBook
from services.reminders.dispatch import Dispatch, ReminderSender
from services.reminders.timers import Timers, ensure_timer_stream
from services.reminders.worker import LoopOptions, run_calendar_sync, run_dispatcher

if TYPE_CHECKING:
    from services.outbound.config import OutboundSettings
    from services.outbound.ledger import SentLedger
    from services.outbound.pacing import SenderPacer
    from shared.bus import Bus
    from shared.eventlog import EventLog


async def open_dispatch(bus: Bus, events: EventLog, sender: ReminderSender, ledger: SentLedger,
                        settings: OutboundSettings, pacer: SenderPacer | None = None) -> Dispatch:
    await ensure_timer_stream(bus.js, settings.stream_replicas)
    book = await ReminderBook.open(events, Timers(bus.js, settings.publish_timeout_s), settings.stream_replicas)
    return Dispatch(book, events, sender, ledger, settings.reminder_templates, settings.status_callback, pacer=pacer)


async def run_reminders(bus: Bus, events: EventLog, sender: ReminderSender, ledger: SentLedger,
                        settings: OutboundSettings, stop: asyncio.Event, pacer: SenderPacer | None = None) -> None:
    """Send due reminders and follow calendar changes until `stop`."""
    deps = await open_dispatch(bus, events, sender, ledger, settings, pacer)
    options = LoopOptions(concurrency=settings.reminder_concurrency, ack_wait_s=settings.ack_wait_s,
                          handler_timeout_s=min(settings.handler_timeout_s, settings.ack_wait_s * 2 / 3))
    await asyncio.gather(
        run_dispatcher(bus.js, deps, stop, options, settings.stream_replicas),
        run_calendar_sync(bus.js, bus.stream, deps, stop, options),
    )
