"""Calendar events: the calendar service created, moved or deleted an appointment."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from shared.events.envelope import Event, Payload


class CalendarEventData(Payload):
    event_id: str
    owner: str
    summary: str = ""
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None


class CalendarEventCreated(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventCreated"] = "CalendarEventCreated"
    version: Literal[1] = 1


class CalendarEventUpdated(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventUpdated"] = "CalendarEventUpdated"
    version: Literal[1] = 1


class CalendarEventDeleted(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventDeleted"] = "CalendarEventDeleted"
    version: Literal[1] = 1
