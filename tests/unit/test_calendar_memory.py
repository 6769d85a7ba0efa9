"""The in-memory calendar backend behind the real handlers: the contract's all-day and
repeating-event cases (tests/integration/test_calendar_contract.py runs them on Postgres
and Google), in milliseconds."""

from __future__ import annotations

from datetime import timedelta

from services.calendar import handlers
from services.calendar.memory import MemoryCalendar
from services.calendar.routing import Backends
from shared.calendar import CreateEvent, DeleteEvent, ListEvents
from shared.eventlog_memory import InMemoryEventLog
from shared.ids import conversation_id

OWNER = "+34600111222"
WHO = {"owner": OWNER, "business": "+14155238886", "conversation": conversation_id("+14155238886", OWNER)}


def deps() -> handlers.Calendar:
    return handlers.Calendar(backends=Backends(local=MemoryCalendar()), events=InMemoryEventLog())


async def test_all_day_and_repeating_events():
    calendar = deps()
    birthday = (await handlers.create_event(CreateEvent(**WHO, summary="Birthday", start="2026-12-01T15:00",
                                                        all_day=True), calendar)).event
    assert (birthday.start.isoformat(), birthday.end.isoformat()) == ("2026-12-01T00:00:00+01:00",
                                                                      "2026-12-02T00:00:00+01:00")
    standup = (await handlers.create_event(CreateEvent(**WHO, summary="Standup", start="2026-12-01T09:00",
                                                       duration_minutes=30, recurrence="FREQ=WEEKLY;BYDAY=TU"),
                                           calendar)).event
    assert standup.recurrence == "FREQ=WEEKLY;BYDAY=TU"
    listed = await handlers.list_events(ListEvents(**WHO, start="2026-12-01T08:00", end="2027-06-02T00:00",
                                                   query="stand"), calendar)
    assert len(listed.events) == 27 and {e.event_id for e in listed.events} == {standup.event_id}
    assert listed.events[-1].start.isoformat() == "2027-06-01T09:00:00+02:00"
    assert all(e.end - e.start == timedelta(minutes=30) for e in listed.events)
    await handlers.delete_event(DeleteEvent(**WHO, event_id=standup.event_id), calendar)
    left = await handlers.list_events(ListEvents(**WHO, start="2026-12-01T00:00", end="2026-12-31T00:00"), calendar)
    assert [e.summary for e in left.events] == ["Birthday"]
