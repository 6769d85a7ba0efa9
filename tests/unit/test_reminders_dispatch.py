"""Deciding what a due reminder does, on the in-memory event log with a hand-driven clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.outbound.ledger import SentLedger
from services.outbound.twilio_api import SendError
from services.reminders.book import ReminderBook
from services.reminders.calendar_sync import on_calendar_change
from services.reminders.dispatch import Dispatch, fire
from services.reminders.model import Reminder
from services.reminders.timers import DueTimer
from shared.clock import ManualClock
from shared.eventlog import PublishFailed
from shared.eventlog_memory import InMemoryEventLog
from shared.events import (
    CalendarEventCreated,
    CalendarEventData,
    MessageReceived,
    MessageReceivedData,
    ReminderRescheduled,
    ReminderSent,
    ReminderSuppressed,
    decode,
)
from shared.ids import conversation_id
from tests.fakes.reminders import MemoryTimers, RecordingSender

BUSINESS, USER = "+14155238886", "+34600111222"
CONVERSATION = conversation_id(BUSINESS, USER)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
TEMPLATES = {"reminder": {"en": "HX" + "a" * 32}}


@pytest.fixture
async def rig():
    clock = ManualClock(NOW)
    events = InMemoryEventLog(clock=clock)
    timers = MemoryTimers()
    book = await ReminderBook.open(events, timers)
    sender = RecordingSender()
    deps = Dispatch(book, events, sender, await SentLedger.open(events), TEMPLATES, clock=clock)
    return deps, events, timers, sender, clock


def make(text: str = "pay the bill", due: datetime = NOW, **extra) -> Reminder:
    return Reminder(reminder_id="r" + text.replace(" ", ""), conversation=CONVERSATION, business=BUSINESS, user=USER,
                    text=text, due_at=due, time_zone="Europe/Madrid", **extra)


def wrote(events: InMemoryEventLog, at: datetime) -> None:
    event = MessageReceived(conversation=CONVERSATION, data=MessageReceivedData(
        message_sid="SM1", from_=USER, to=BUSINESS, body="hi", received_at=at))
    events.append(event.subject, event.to_bytes())


def of(events: InMemoryEventLog, kind: type) -> list:
    return [e for e in (decode(m.data) for m in events.messages) if isinstance(e, kind)]


async def due(deps: Dispatch, item: Reminder, revision: int = 1) -> str:
    return await fire(DueTimer(CONVERSATION, item.reminder_id, revision), deps)


async def test_inside_the_window_free_form_text_is_sent_once(rig):
    deps, events, timers, sender, _ = rig
    wrote(events, NOW - timedelta(hours=23))
    item = await deps.book.schedule(make())
    assert timers.set_at[(CONVERSATION, item.reminder_id)] == (1, NOW)
    assert await due(deps, item) == "sent"
    assert await due(deps, item) == "stale"  # a redelivered timer sends nothing more
    assert sender.sent == [{"to": USER, "body": "⏰ Reminder: pay the bill"}]
    [sent] = of(events, ReminderSent)
    assert sent.data.mode == "freeform" and sent.data.sent_at == NOW


async def test_outside_the_window_the_template_goes_with_its_variables(rig):
    deps, events, _, sender, _ = rig
    wrote(events, NOW - timedelta(hours=24))
    item = await deps.book.schedule(make())
    assert await due(deps, item) == "sent_template"
    assert sender.sent == [{"to": USER, "content_sid": "HX" + "a" * 32, "variables": {"1": "pay the bill", "2": "09:00"}}]


async def test_with_no_template_for_the_language_nothing_is_sent_and_why_is_recorded(rig):
    deps, events, _, sender, _ = rig
    item = await deps.book.schedule(make(language="es"))  # the user never wrote: outside the window
    assert await due(deps, item) == "suppressed_no_template"
    assert sender.sent == []
    [suppressed] = of(events, ReminderSuppressed)
    assert suppressed.data.reason == "no_template" and "never wrote" in suppressed.data.detail


async def test_opted_out_users_get_nothing_until_they_opt_in(rig):
    deps, events, _, sender, clock = rig
    wrote(events, NOW)
    await deps.book.set_opted_out(CONVERSATION, USER, True, "STOP", msg_id="opt:1")
    first = await deps.book.schedule(make("first"))
    assert await due(deps, first) == "suppressed_opted_out"
    await deps.book.set_opted_out(CONVERSATION, USER, False, "START", msg_id="opt:2")
    second = await deps.book.schedule(make("second"))
    assert await due(deps, second) == "sent"
    assert [m["body"] for m in sender.sent] == ["⏰ Reminder: second"]
    assert [e.data.reason for e in of(events, ReminderSuppressed)] == ["opted_out"]


async def test_inside_quiet_hours_the_reminder_waits_for_their_end(rig):
    deps, events, timers, sender, _ = rig
    wrote(events, NOW)
    await deps.book.set_preferences(CONVERSATION, {"quiet_start": "22:00", "quiet_end": "09:30",
                                                   "time_zone": "Europe/Madrid"}, msg_id="prefs:1")
    item = await deps.book.schedule(make())
    assert await due(deps, item) == "deferred_quiet_hours"
    end = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 09:30 Madrid
    assert timers.set_at[(CONVERSATION, item.reminder_id)] == (2, end)
    assert await due(deps, item, revision=1) == "stale"  # the old timer no longer counts
    [moved] = of(events, ReminderRescheduled)
    assert moved.data.reason == "quiet_hours" and moved.data.due_at == end
    assert sender.sent == []


async def test_a_permanent_twilio_refusal_is_recorded_and_not_retried(rig):
    deps, events, _, sender, _ = rig
    wrote(events, NOW)
    sender.fail_with = SendError("outside the window", 63016, 400, permanent=True)
    item = await deps.book.schedule(make())
    assert await due(deps, item) == "suppressed_send_failed"
    [suppressed] = of(events, ReminderSuppressed)
    assert "63016" in suppressed.data.detail


async def test_a_transient_failure_is_retried_by_redelivery(rig):
    deps, events, _, sender, _ = rig
    wrote(events, NOW)
    sender.fail_with = SendError("busy", 20429, 429, permanent=False)
    item = await deps.book.schedule(make())
    with pytest.raises(SendError):
        await due(deps, item)
    sender.fail_with = None
    assert await due(deps, item) == "sent"
    assert len(sender.sent) == 1


async def test_a_new_event_gets_the_default_reminder(rig):
    deps, events, timers, _, clock = rig
    await deps.book.set_preferences(CONVERSATION, {"default_minutes_before": 15, "business": BUSINESS, "user": USER,
                                                   "time_zone": "Europe/Madrid"}, msg_id="prefs:2")
    start = NOW + timedelta(days=1)
    created = CalendarEventCreated(conversation=CONVERSATION, data=CalendarEventData(
        event_id="ev1", owner=USER, summary="Dentist", start=start, end=start + timedelta(hours=1),
        time_zone="Europe/Madrid"))
    await on_calendar_change(created, deps.book, clock)
    await on_calendar_change(created, deps.book, clock)  # redelivered: still one
    [item] = await deps.book.active(CONVERSATION)
    assert (item.text, item.due_at, item.source, item.minutes_before) == ("Dentist", start - timedelta(minutes=15),
                                                                         "event_default", 15)


async def test_a_timer_redelivered_after_the_send_was_recorded_publishes_the_same_fact_and_sends_nothing(rig):
    deps, events, _, sender, _ = rig
    wrote(events, NOW - timedelta(days=2))
    item = await deps.book.schedule(make())
    # The process died after Twilio accepted the template and the ledger recorded it.
    await deps.ledger.record(f"reminder-{item.reminder_id}-1", 1, "sent:SM" + "9" * 32 + "|HX" + "a" * 32)
    assert await due(deps, item) == "sent_template"
    assert sender.sent == []
    [sent] = of(events, ReminderSent)
    assert sent.data.twilio_sid == "SM" + "9" * 32 and sent.data.content_sid == "HX" + "a" * 32


class FailsFirstReminderSent:
    """The event log, but the first ReminderSent publish fails (no PubAck)."""

    def __init__(self, inner: InMemoryEventLog):
        self.inner = inner
        self.failed = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def publish(self, event, msg_id: str) -> int:
        if isinstance(event, ReminderSent) and not self.failed:
            self.failed += 1
            raise PublishFailed("no PubAck within 2.0s")
        return await self.inner.publish(event, msg_id)


async def test_a_send_whose_bookkeeping_fails_is_counted_once_when_the_timer_comes_back(rig):
    deps, events, _, sender, _ = rig
    wrote(events, NOW - timedelta(hours=1))
    flaky = FailsFirstReminderSent(events)
    deps = dataclasses.replace(deps, events=flaky)
    item = await deps.book.schedule(make())

    def sent_total() -> float:
        return REGISTRY.get_sample_value("switchboard_reminders_total", {"outcome": "sent"}) or 0.0

    before = sent_total()
    with pytest.raises(PublishFailed):
        await due(deps, item)  # Twilio accepted it; the ReminderSent event did not get stored
    assert flaky.failed == 1 and len(sender.sent) == 1
    assert sent_total() == before + 1  # counted when Twilio accepted it
    assert await due(deps, item) == "sent"  # the redelivered timer finishes the bookkeeping
    assert len(sender.sent) == 1 and len(of(events, ReminderSent)) == 1
    assert sent_total() == before + 1  # and is not counted twice
