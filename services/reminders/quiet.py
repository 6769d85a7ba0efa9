"""Quiet hours: the user's "don't message me after 10pm", in their own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.reminders.model import Preferences


def parse_hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def quiet_until(prefs: Preferences, now: datetime, zone: str | None = None) -> datetime | None:
    """The UTC time quiet hours end, if `now` falls inside them; None otherwise.

    Quiet hours may wrap midnight ("22:00"–"08:00"). Only one side set means nothing.
    """
    if not prefs.quiet_start or not prefs.quiet_end:
        return None
    tz = ZoneInfo(zone or prefs.time_zone)
    local = now.astimezone(tz)
    start, end = parse_hhmm(prefs.quiet_start), parse_hhmm(prefs.quiet_end)
    if start == end:
        return None
    at = local.time()
    wraps = start > end
    inside = (at >= start or at < end) if wraps else (start <= at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
