"""What the reminder tests share: a book on real JetStream, an in-process dispatcher, readers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, AsyncIterator

from services.outbound.ledger import SentLedger
from services.outbound.twilio_api import TwilioMessages
from services.reminders.book import ReminderBook
from services.reminders.dispatch import Dispatch
from services.reminders.model import Reminder
from services.reminders.timers import Timers, ensure_timer_stream
from services.reminders.worker import LoopOptions, run_calendar_sync, run_dispatcher
from shared.bus import Bus
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import Event, MessageReceived, MessageReceivedData, decode
from shared.ids import conversation_id

SID, TOKEN = "AC" + "7" * 32, "reminder-test-token"
BUSINESS = "+14155238886"
TEMPLATES = {"reminder": {"en": "HX00000000000000000000000000000e01", "es": "HX00000000000000000000000000000e02"}}


async def open_book(bus: Bus) -> ReminderBook:
    await ensure_timer_stream(bus.js)
    return await ReminderBook.open(JetStreamEventLog(bus), Timers(bus.js))


def reminder(user: str, text: str, due_at: datetime, **extra: Any) -> Reminder:
    return Reminder(reminder_id=uuid.uuid4().hex, conversation=conversation_id(BUSINESS, user), business=BUSINESS,
                    user=user, text=text, due_at=due_at, **extra)


async def user_wrote(bus: Bus, user: str, ago: timedelta = timedelta(0)) -> None:
    """A MessageReceived from `user`, as the gateway stores it, `ago` in the past."""
    event = MessageReceived(conversation=conversation_id(BUSINESS, user), data=MessageReceivedData(
        message_sid="SM" + uuid.uuid4().hex, from_=user, to=BUSINESS, body="hi",
        received_at=datetime.now(UTC) - ago))
    await bus.publish(event, msg_id=event.data.message_sid)


async def stream_events(bus: Bus, *types: type[Event[Any]]) -> list[Event[Any]]:
    info = await bus.js.stream_info(bus.stream)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        event = decode((await bus.js.get_msg(bus.stream, seq)).data)
        if not types or isinstance(event, types):
            found.append(event)
    return found


@contextlib.asynccontextmanager
async def dispatching(bus: Bus, emulator_url: str, templates: dict | None = None,
                      calendar: bool = False) -> AsyncIterator[Dispatch]:
    """An in-process reminder dispatcher (and calendar follower), stopped on exit."""
    events = JetStreamEventLog(bus)
    twilio = TwilioMessages(SID, TOKEN, emulator_url, timeout_s=5)
    deps = Dispatch(await open_book(bus), events, twilio, await SentLedger.open(events),
                    TEMPLATES if templates is None else templates)
    stop = asyncio.Event()
    options = LoopOptions(ack_wait_s=5, handler_timeout_s=3)
    tasks = [asyncio.create_task(run_dispatcher(bus.js, deps, stop, options))]
    if calendar:
        tasks.append(asyncio.create_task(run_calendar_sync(bus.js, bus.stream, deps, stop, options)))
    try:
        yield deps
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        await twilio.close()
