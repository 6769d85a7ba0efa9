"""Reminders through the agent (the offline model, real NATS and Postgres): STOP and START,
reminders said in words, and event reminders following their event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.audit.service import run_audit
from shared.batch import BatchPolicy
from shared.events import ReminderCancelled, ReminderRescheduled, ReplyComposed
from shared.ids import conversation_id
from switchboard.sandbox.server import TwilioEmulator
from tests.fakes.calendar_rig import calendar_rig
from tests.integration.test_agent_memory import BUSINESS, OWNER_A, Recorder, agent_settings, running_agent, send_text
from tests.reminders_rig import SID, TOKEN, dispatching, reminder, user_wrote
from tests.waiting import eventually

CONVERSATION = conversation_id(BUSINESS, OWNER_A)
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
async def emulator():
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as running:
        yield running


@contextlib.asynccontextmanager
async def running_audit(bus, database_url):
    stop = asyncio.Event()
    task = asyncio.create_task(run_audit(bus, database_url, stop, BatchPolicy(batch_size=64, fetch_timeout_s=0.2)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def audited(database_url: str, event_type: str, **data: str) -> list[dict]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT payload FROM audit.events WHERE type = $1", event_type)
    finally:
        await connection.close()
    payloads = [json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"] for row in rows]
    return [p for p in payloads if all(p["data"].get(k) == v for k, v in data.items())]


def said(seen: Recorder, bus):
    async def say(text: str) -> str:
        before = len(seen.of(ReplyComposed))
        await send_text(bus, OWNER_A, text)
        await eventually(lambda: _more(seen, before), 30, f"a reply to {text!r}")
        return seen.of(ReplyComposed)[-1].data.text
    return say


async def _more(seen: Recorder, before: int) -> bool:
    return len(seen.of(ReplyComposed)) > before


def _recorded(seen: Recorder, kind: type):
    async def check() -> bool:
        return bool(seen.of(kind))
    return check


async def _status(book, item, status: str) -> bool:
    current = await book.get(item.conversation, item.reminder_id)
    return current is not None and current.status == status


async def test_stop_suppresses_reminders_and_audit_says_so_start_resumes_them(database_url, bus, emulator):
    await user_wrote(bus, OWNER_A)
    async with Recorder(bus) as seen, running_agent(bus, agent_settings(database_url, bus)), \
            dispatching(bus, emulator.url) as deps, running_audit(bus, database_url):
        say = said(seen, bus)
        assert "won't get any more reminders" in await say("STOP")
        assert await say("what time is it?")  # the user's own messages are still answered

        muted = reminder(OWNER_A, "water the plants", datetime.now(UTC) + timedelta(seconds=1))
        await deps.book.schedule(muted)
        await eventually(lambda: _status(deps.book, muted, "suppressed"), 30, "the reminder suppressed")
        await eventually(lambda: audited(database_url, "ReminderSuppressed", reason="opted_out"), 30,
                         "audit recording the suppressed reminder")
        assert await audited(database_url, "ProactiveMessagesStopped", keyword="STOP")
        assert emulator.sent_to(OWNER_A) == []

        assert "back on" in await say("START")
        answer = await say("remind me to drink water in 2 seconds")
        assert "drink water" in answer, answer
        await eventually(lambda: _sent_count(emulator, 1), 30, "the reminder after START")
        await eventually(lambda: audited(database_url, "ReminderSent"), 30, "audit recording the sent reminder")
        assert await audited(database_url, "ProactiveMessagesResumed", keyword="START")
    assert [m["body"] for m in emulator.sent_to(OWNER_A)] == ["⏰ Reminder: drink water"]


async def _sent_count(emulator, count: int) -> bool:
    return len(emulator.sent_to(OWNER_A)) >= count


async def test_an_event_reminder_moves_with_its_event_and_is_cancelled_with_it(database_url, bus, emulator):
    async with Recorder(bus) as seen, calendar_rig(bus, database_url), \
            running_agent(bus, agent_settings(database_url, bus)), dispatching(bus, emulator.url, calendar=True) as deps:
        say = said(seen, bus)
        assert "is in your calendar" in await say("Schedule dentist tomorrow at 10")
        answer = await say("remind me 30 minutes before it")
        assert "30 minutes before" in answer, answer
        [item] = await deps.book.active(CONVERSATION)
        tomorrow = (datetime.now(MADRID) + timedelta(days=1)).date()
        assert item.due_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 30, tzinfo=MADRID)
        assert item.event_id and item.minutes_before == 30

        assert "is now" in await say("move it to 11")

        async def moved() -> bool:
            current = await deps.book.get(CONVERSATION, item.reminder_id)
            return current is not None and current.due_at == item.due_at + timedelta(hours=1)

        await eventually(moved, 30, "the reminder to follow its event")
        await eventually(_recorded(seen, ReminderRescheduled), 30, "ReminderRescheduled on the stream")
        [rescheduled] = seen.of(ReminderRescheduled)
        assert rescheduled.data.reason == "event_moved" and rescheduled.data.revision == 2

        assert "Cancelled" in await say("cancel it")
        await eventually(lambda: _status(deps.book, item, "cancelled"), 30, "the reminder cancelled with its event")
        # The book changes before the event is stored and reaches the recorder: wait for it too.
        await eventually(_recorded(seen, ReminderCancelled), 30, "ReminderCancelled on the stream")
        [cancelled] = seen.of(ReminderCancelled)
        assert cancelled.data.reason == "event_cancelled"
        assert await deps.book.active(CONVERSATION) == []


async def test_reminders_listed_moved_and_cancelled_in_words_in_spanish(database_url, bus, emulator):
    async with Recorder(bus) as seen, running_agent(bus, agent_settings(database_url, bus)), \
            dispatching(bus, emulator.url) as deps:
        say = said(seen, bus)
        assert "pagar la luz" in await say("recuérdame pagar la luz mañana a las 9")
        assert "llamar a mamá" in await say("recordame llamar a mamá el viernes a las 17:00")
        listing = await say("¿qué recordatorios tengo?")
        assert "pagar la luz" in listing and "llamar a mamá" in listing
        assert "Moví" in await say("mueve el recordatorio de pagar la luz a las 10")
        assert "Cancelé" in await say("cancela el recordatorio de llamar a mamá")
        [left] = await deps.book.active(CONVERSATION)
        tomorrow = (datetime.now(MADRID) + timedelta(days=1)).date()
        assert left.text == "pagar la luz" and left.language == "es"
        assert left.due_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 10, 0, tzinfo=MADRID)


async def test_outside_the_window_with_no_template_audit_records_why_nothing_was_sent(database_url, bus, emulator):
    user = "+34600400001"
    await user_wrote(bus, user, ago=timedelta(hours=26))
    async with dispatching(bus, emulator.url, templates={}) as deps, running_audit(bus, database_url):
        item = reminder(user, "renew the passport", datetime.now(UTC) + timedelta(seconds=1))
        await deps.book.schedule(item)
        await eventually(lambda: _status(deps.book, item, "suppressed"), 30, "the reminder suppressed")
        [row] = await eventually(lambda: audited(database_url, "ReminderSuppressed", reason="no_template"), 30,
                                 "audit recording why")
    assert row["data"]["reminder_id"] == item.reminder_id and "24-hour window" in row["data"]["detail"]
    assert emulator.sent_to(user) == []
