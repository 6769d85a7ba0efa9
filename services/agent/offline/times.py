"""From what was said (`When`) to local wall-clock times, relative to now in the user's zone.

An hour without am/pm ("at 4", "a las 8") is the next sensible daytime occurrence: of the
hour and the hour + 12, those between 08:00 and 20:59 (an evening hint such as "dinner"
or "tonight" prefers the later, "breakfast" the earlier). With no day, the first of those
still ahead today, else tomorrow; with a day, the first sensible one. A time with no day
that has passed today means tomorrow; a day the user named is kept even when it is past
(the planner then asks before booking it).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from services.agent.offline.when import When

_EVENING = re.compile(r"\b(?:dinner|cena|cenar|drinks?|tragos|birra|cerveza|party|fiesta|cine|movie|concert|concierto|"
                      r"theater|teatro|show|bar)\b")
_MORNING = re.compile(r"\b(?:breakfast|desayuno|desayunar|gym|gimnasio|run|correr)\b")
_DAYTIME = (time(8), time(20, 59))
_WINDOWS = {"evening": (time(17), time(23, 59)), "morning": (time(5), time(12, 59))}


def hint(when: When, subject: str) -> str | None:
    if when.period:
        return "morning" if when.period == "morning" else "evening"
    if _EVENING.search(subject.lower()):
        return "evening"
    if _MORNING.search(subject.lower()):
        return "morning"
    return None


def _options(at: time, preferred: str | None, bare: bool) -> list[time]:
    """The times an hour may mean, the sensible ones first (only those when it is bare)."""
    if not bare:
        return [at]
    options = [at] + ([time(at.hour + 12, at.minute)] if at.hour < 12 else [])
    low, high = _WINDOWS.get(preferred or "", _DAYTIME)
    return [t for t in options if low <= t <= high] or options


def start_of(when: When, now: datetime, subject: str = "", recurring: bool = False) -> datetime | None:
    """The naive local start `when` means, or None without a time (and not all day).
    A repeating event takes the sensible hour on its first day even if that is past today
    (the caller moves it to the next occurrence)."""
    if when.moment:
        return when.moment
    today = now.date()
    if when.all_day and when.at is None:
        return datetime.combine(when.day, time()) if when.day else None
    if when.at is None:
        return None
    options = _options(when.at, hint(when, subject), when.bare)
    if when.day is not None and (when.day != today or recurring):
        return datetime.combine(when.day, options[0])
    if when.day is not None and when.bare:  # "today at 9" at 10:30 means 21:00
        options = options + [t for t in _options(when.at, "evening", True) if t not in options]
    for option in options:
        if datetime.combine(today, option) > now:
            return datetime.combine(today, option)
    if when.day is not None:
        return datetime.combine(today, options[0])  # today, already past: the planner asks
    return datetime.combine(today + timedelta(days=1), options[0])


def duration_of(when: When, start: datetime) -> int | None:
    if when.all_day and when.at is None:
        return max(24 * 60, when.duration_minutes or 0)
    if when.until is not None and when.at is not None:
        end = datetime.combine(start.date(), when.until)
        if when.until <= when.at:
            end += timedelta(days=1)
        return int((end - start).total_seconds() // 60)
    return when.duration_minutes


def day_range(when: When, now: datetime) -> tuple[datetime, datetime, str, date | None]:
    """(start, end, label key, day) of what a listing asks about; "this week" is the rest of it."""
    today = datetime.combine(now.date(), time())
    if when.span == "next_week":
        start = today + timedelta(days=7 - today.weekday())
        return start, start + timedelta(days=7), "next_week", None
    if when.span == "weekend":
        start = today + timedelta(days=(5 - today.weekday()) % 7) if today.weekday() < 5 else today
        end = today + timedelta(days=7 - today.weekday())
        return start, end, "weekend", None
    if when.span == "week":
        return today, today + timedelta(days=7 - today.weekday()), "week", None
    if when.span in ("month", "next_month"):
        first = today.replace(day=1)
        start = today if when.span == "month" else (first + timedelta(days=32)).replace(day=1)
        end = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        return start, end, when.span, None
    if when.day is not None:
        day = datetime.combine(when.day, time())
        return day, day + timedelta(days=1), "day", when.day
    return today, today + timedelta(days=7), "next_days", None
