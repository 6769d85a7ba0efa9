"""An in-memory `CalendarBackend`: the fake of the port, for tests that run with no servers.

It keeps the port's contract as the Postgres backend does (the contract suite runs on
both): owners never see each other's events, ids are idempotent on create, revisions
count changes, listings expand repeating events and are cut at `limit`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from services.calendar.ports import Created, EventChanges, NewEvent, Page, StoredEvent
from services.calendar.recurrence import occurrences
from shared.calendar import CalendarError, ErrorCode


class MemoryCalendar:
    name = "memory"

    def __init__(self) -> None:
        self.events: dict[str, tuple[str, StoredEvent]] = {}  # id -> (owner, event)

    async def create(self, owner: str, event: NewEvent) -> Created:
        if event.end <= event.start:
            raise CalendarError(ErrorCode.INVALID_RANGE)
        if event.event_id in self.events:
            holder, existing = self.events[event.event_id]
            if holder != owner:
                raise CalendarError(ErrorCode.CONFLICT, "That event id is already in use.")
            return Created(existing, existed=True)
        stored = StoredEvent(**vars(event))
        self.events[event.event_id] = (owner, stored)
        return Created(stored)

    async def get(self, owner: str, event_id: str) -> StoredEvent:
        holder, event = self.events.get(event_id, ("", None))
        if holder != owner or event is None:
            raise CalendarError(ErrorCode.NOT_FOUND)
        return event

    async def list(self, owner: str, start: datetime, end: datetime, query: str | None, limit: int) -> Page:
        wanted = (query or "").casefold()
        found = [
            occurrence
            for holder, event in self.events.values()
            if holder == owner and (not wanted or any(wanted in (text or "").casefold()
                                                      for text in (event.summary, event.description, event.location)))
            for occurrence in occurrences(event, start, end)
        ]
        found.sort(key=lambda e: (e.start, e.event_id))
        return Page(found[:limit], truncated=len(found) > limit)

    async def update(self, owner: str, event_id: str, changes: EventChanges, if_revision: str | None) -> StoredEvent:
        current = await self.get(owner, event_id)
        if if_revision is not None and if_revision != current.revision:
            raise CalendarError(ErrorCode.CONFLICT)
        updated = dataclasses.replace(changes.apply(current), revision=str(int(current.revision) + 1))
        if updated.end <= updated.start:
            raise CalendarError(ErrorCode.INVALID_RANGE)
        self.events[event_id] = (owner, updated)
        return updated

    async def delete(self, owner: str, event_id: str, if_revision: str | None) -> StoredEvent:
        current = await self.get(owner, event_id)
        if if_revision is not None and if_revision != current.revision:
            raise CalendarError(ErrorCode.CONFLICT)
        del self.events[event_id]
        return current

    async def close(self) -> None:
        return None
