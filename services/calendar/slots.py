"""Free time: the gaps between busy intervals, optionally inside daily hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


def merge(busy: Iterable[Interval]) -> list[Interval]:
    """Sort and join overlapping or touching intervals."""
    merged: list[Interval] = []
    for start, end in sorted(busy):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def gaps(busy: Iterable[Interval], start: datetime, end: datetime) -> Iterator[Interval]:
    """The parts of [start, end) not covered by `busy`."""
    cursor = start
    for busy_start, busy_end in merge(busy):
        if busy_end <= cursor:
            continue
        if busy_start >= end:
            break
        if busy_start > cursor:
            yield cursor, busy_start
        cursor = max(cursor, busy_end)
    if cursor < end:
        yield cursor, end


def daily_windows(
    start: datetime, end: datetime, wall_zone: ZoneInfo, day_start: time | None, day_end: time | None
) -> Iterator[Interval]:
    """[start, end) cut to the daily hours `day_start`..`day_end` in `wall_zone`."""
    if day_start is None and day_end is None:
        yield start, end
        return
    opening, closing = day_start or time(0), day_end
    day = start.astimezone(wall_zone).date() - timedelta(days=1)
    last = end.astimezone(wall_zone).date()
    while day <= last:
        window_start = datetime.combine(day, opening, wall_zone)
        window_end = (
            datetime.combine(day, closing, wall_zone)
            if closing is not None and closing > opening
            else datetime.combine(day + timedelta(days=1), closing or time(0), wall_zone)
        )
        clipped = (max(window_start, start), min(window_end, end))
        if clipped[0] < clipped[1]:
            yield clipped
        day += timedelta(days=1)


def free_slots(
    busy: Iterable[Interval],
    start: datetime,
    end: datetime,
    duration: timedelta,
    wall_zone: ZoneInfo,
    day_start: time | None = None,
    day_end: time | None = None,
    limit: int = 10,
) -> list[Interval]:
    """Free intervals at least `duration` long inside [start, end), earliest first."""
    busy = merge(busy)
    found: list[Interval] = []
    for window_start, window_end in daily_windows(start, end, wall_zone, day_start, day_end):
        for gap_start, gap_end in gaps(busy, window_start, window_end):
            if gap_end - gap_start >= duration:
                found.append((gap_start.astimezone(UTC), gap_end.astimezone(UTC)))
                if len(found) >= limit:
                    return found
    return found
