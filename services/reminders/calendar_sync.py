"""Calendar changes and their reminders: a moved event moves its reminders, a cancelled one
cancels them, and a new event gets the user's default reminder if they set one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.reminders.book import ReminderBook
from services.reminders.model import Reminder, reminder_id_for
from shared.clock import Clock
from shared.events import CalendarEventCreated, CalendarEventDeleted, CalendarEventUpdated, Event


async def on_calendar_change(event: Event[Any], book: ReminderBook, clock: Clock) -> None:
    chain = {"correlation_id": event.correlation_id or event.id, "causation_id": event.id}
    data = event.data
    if isinstance(event, CalendarEventDeleted):
        for reminder in await book.for_event(event.conversation, data.event_id):
            await book.cancel(event.conversation, reminder.reminder_id, "event_cancelled", chain)
    elif isinstance(event, CalendarEventUpdated) and data.start is not None:
        for reminder in await book.for_event(event.conversation, data.event_id):
            due = data.start - timedelta(minutes=reminder.minutes_before or 0)
            if due != reminder.due_at:
                await book.move(event.conversation, reminder.reminder_id, due, "event_moved", chain)
    elif isinstance(event, CalendarEventCreated) and data.start is not None:
        prefs = await book.preferences_of(event.conversation)
        minutes = prefs.default_minutes_before
        if not minutes or not prefs.business or not prefs.user:
            return
        due = data.start - timedelta(minutes=minutes)
        if due <= clock.now() or await book.for_event(event.conversation, data.event_id):
            return
        await book.schedule(Reminder(
            reminder_id=reminder_id_for("event_default", event.conversation, data.event_id),
            conversation=event.conversation, business=prefs.business, user=prefs.user,
            text=data.summary or "your event", due_at=due, time_zone=data.time_zone or prefs.time_zone,
            language=prefs.language, event_id=data.event_id, minutes_before=minutes, source="event_default",
        ), chain)
