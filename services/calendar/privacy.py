"""The calendar's personal data: a user's events in the local store, and, for users whose
calendar is on Google, only the events this assistant created (found in the stream's
CalendarEventCreated records): the rest of their Google calendar is not ours to erase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.calendar.google import GoogleCalendar
from services.calendar.tables import events
from shared.calendar import CalendarError, ErrorCode
from shared.ids import normalise_address
from shared.privacy import DataSubject


def _owners(subject: DataSubject) -> list[str]:
    number = normalise_address(subject.number)
    return [number, f"whatsapp:{number}"]


class CalendarData:
    name = "calendar"

    def __init__(self, engine: AsyncEngine, google: GoogleCalendar | None = None):
        self.engine, self.google = engine, google

    async def export(self, subject: DataSubject) -> Any:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(events).where(events.c.owner.in_(_owners(subject)))
                                      .order_by(events.c.starts_at))
            local = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row._mapping.items()}
                     for row in rows]
        google = []
        owner = self._google_owner(subject)
        if owner is not None and self.google is not None:
            for event_id in sorted(subject.traces.calendar_event_ids):
                try:
                    found = await self.google.get(owner, event_id)
                except CalendarError as exc:
                    if exc.code is ErrorCode.NOT_FOUND:
                        continue
                    raise
                google.append({"event_id": found.event_id, "summary": found.summary,
                               "start": found.start.isoformat(), "end": found.end.isoformat()})
        return {"local": local, "google": google}

    async def erase(self, subject: DataSubject) -> int:
        async with self.engine.begin() as conn:
            removed = (await conn.execute(delete(events).where(events.c.owner.in_(_owners(subject))))).rowcount
        owner = self._google_owner(subject)
        if owner is not None and self.google is not None:
            for event_id in sorted(subject.traces.calendar_event_ids):
                try:
                    await self.google.delete(owner, event_id, None)
                    removed += 1
                except CalendarError as exc:
                    if exc.code is not ErrorCode.NOT_FOUND:  # gone already: a rerun
                        raise
        return int(removed)

    def _google_owner(self, subject: DataSubject) -> str | None:
        for owner in _owners(subject):
            if self.google is not None and self.google.serves(owner):
                return owner
        return None
