"""Occurrences of a repeating event, for backends that store the rule (local, memory).

The rule repeats in the event's own zone, on the wall clock: a 09:00 weekly meeting stays
at 09:00 across a daylight-saving change. Google expands its own (`singleEvents`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from services.calendar.ports import StoredEvent

MAX_OCCURRENCES = 400  # per event and listing: a daily event over the longest range (366 days) fits


def occurrences(event: StoredEvent, start: datetime, end: datetime) -> list[StoredEvent]:
    """`event` once per occurrence overlapping [start, end) (itself if it does not repeat)."""
    if not event.recurrence:
        return [event] if event.start < end and event.end > start else []
    zone = ZoneInfo(event.time_zone)
    first = event.start.astimezone(zone).replace(tzinfo=None)
    length = event.end - event.start
    rule = rrulestr(event.recurrence, dtstart=first)
    # wall-clock starts from just before the range (an occurrence may begin before it)
    after = (start - length).astimezone(zone).replace(tzinfo=None)
    found: list[StoredEvent] = []
    for wall in rule.xafter(after, count=MAX_OCCURRENCES, inc=True):
        begins = wall.replace(tzinfo=zone).astimezone(UTC)
        if begins >= end:
            break
        if begins + length > start:
            found.append(dataclasses.replace(event, start=begins, end=begins + length))
    return found


def might_repeat_into(event: StoredEvent, end: datetime) -> bool:
    """A cheap filter before expanding: the series began before the range ends."""
    return event.recurrence is not None and event.start < end
