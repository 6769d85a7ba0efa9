"""The port every calendar backend implements, and the records that cross it.

Backends deal in UTC instants plus the event's zone name; turning those into the owner's
wall-clock time is the handlers' job. Every method takes the owner and must never return
or change another owner's event: an event id of someone else's is simply `not_found`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    summary: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    time_zone: str  # the event's own IANA zone
    description: str | None = None
    location: str | None = None
    attendees: tuple[str, ...] = ()
    revision: str = "1"
    all_day: bool = False
    recurrence: str | None = None  # RRULE body; `start`/`end` are the first occurrence's




@dataclass(frozen=True)
class NewEvent:
    event_id: str
    summary: str
    start: datetime
    end: datetime
    time_zone: str
    description: str | None = None
    location: str | None = None
    attendees: tuple[str, ...] = ()
    all_day: bool = False
    recurrence: str | None = None


@dataclass(frozen=True)
class EventChanges:
    """Fields to change; `None` leaves a field as it is."""

    summary: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None
    description: str | None = None
    location: str | None = None

    def apply(self, event: StoredEvent) -> StoredEvent:
        values = {name: value for name, value in vars(self).items() if value is not None}
        return StoredEvent(**{**vars(event), **values})


@dataclass(frozen=True)
class Created:
    event: StoredEvent
    existed: bool = False  # an idempotent retry found the event already created


@dataclass
class Page:
    events: list[StoredEvent] = field(default_factory=list)
    truncated: bool = False


class CalendarBackend(Protocol):
    """Where one owner's events live."""

    name: str

    async def create(self, owner: str, event: NewEvent) -> Created:
        """Store `event`; if its id already exists for this owner, return that one."""
        ...

    async def get(self, owner: str, event_id: str) -> StoredEvent:
        """The owner's event, or `CalendarError(not_found)`."""
        ...

    async def list(self, owner: str, start: datetime, end: datetime, query: str | None, limit: int) -> Page:
        """The owner's events overlapping [start, end), by start time; a repeating event
        once per occurrence in the range (same id, the occurrence's start and end)."""
        ...

    async def update(self, owner: str, event_id: str, changes: EventChanges, if_revision: str | None) -> StoredEvent:
        """Apply `changes`; `conflict` if `if_revision` is given and no longer current."""
        ...

    async def delete(self, owner: str, event_id: str, if_revision: str | None) -> StoredEvent:
        """Remove the event and return what it was."""
        ...

    async def close(self) -> None: ...
