"""Which backend holds an owner's calendar: Google when configured for them, else local."""

from __future__ import annotations

from dataclasses import dataclass

from services.calendar.google import GoogleCalendar
from services.calendar.ports import CalendarBackend


@dataclass
class Backends:
    local: CalendarBackend
    google: GoogleCalendar | None = None

    def for_owner(self, owner: str) -> CalendarBackend:
        if self.google is not None and self.google.serves(owner):
            return self.google
        return self.local

    async def close(self) -> None:
        await self.local.close()
        if self.google is not None:
            await self.google.close()
