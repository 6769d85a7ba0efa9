"""Owners and their time zones.

An owner is a phone number in E.164 form. Their zone is, in order: the zone the request
names, the zone of their phone number (libphonenumber's prefix data), the service
default. A naive time is wall-clock time in that zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from shared.calendar import CalendarError, ErrorCode
from shared.ids import normalise_address

# When a number's prefix spans several zones (a Spanish or British mobile), prefer the zone
# of the country's example landline (Madrid, London), then mainland zones over islands.
# A prefix spanning more than a few hours (a Russian mobile) says nothing useful.
_ISLAND_REGIONS = ("Atlantic/", "Pacific/", "Indian/")
_MAX_GUESS_SPREAD = timedelta(hours=3)
_REFERENCE_DAY = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
_UNKNOWN_ZONE = "Etc/Unknown"


@lru_cache(maxsize=4096)
def normalise_owner(owner: str) -> str:
    """The owner's E.164 number; `forbidden` when it is not a phone number at all."""
    try:
        number = phonenumbers.parse(normalise_address(owner), None)
    except phonenumbers.NumberParseException as exc:
        raise CalendarError(ErrorCode.FORBIDDEN, "I can't tell whose calendar this is.") from exc
    if not phonenumbers.is_possible_number(number):
        raise CalendarError(ErrorCode.FORBIDDEN, "I can't tell whose calendar this is.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def zone_of_number(owner: str) -> str | None:
    """The most likely zone of an E.164 number, or None when its prefix does not say."""
    try:
        number = phonenumbers.parse(owner, None)
    except phonenumbers.NumberParseException:
        return None
    known = [zone for zone in number_zones.time_zones_for_number(number) if zone != _UNKNOWN_ZONE]
    if len(known) > 1 and _spread(known) > _MAX_GUESS_SPREAD:
        return None
    if len(known) > 1:
        typical = _typical_zones(phonenumbers.region_code_for_number(number))
        known = [zone for zone in known if zone in typical] or known
    mainland = [zone for zone in known if not zone.startswith(_ISLAND_REGIONS)]
    chosen = (mainland or known or [None])[0]
    return chosen if chosen is None or _exists(chosen) else None


def _spread(names: list[str]) -> timedelta:
    offsets = [_REFERENCE_DAY.astimezone(ZoneInfo(name)).utcoffset() for name in names if _exists(name)]
    return max(offsets) - min(offsets) if offsets else timedelta(0)  # type: ignore[type-var,operator]


@lru_cache(maxsize=512)
def _typical_zones(region: str | None) -> frozenset[str]:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE) if region else None
    return frozenset(number_zones.time_zones_for_number(example)) if example else frozenset()


@lru_cache(maxsize=1024)
def _exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or `invalid_request` naming it."""
    if not _exists(name):
        raise CalendarError(ErrorCode.INVALID_REQUEST, f"I don't know the time zone {name!r}.")
    return ZoneInfo(name)


def owner_zone(owner: str, requested: str | None, default: str) -> ZoneInfo:
    if requested:
        return zone(requested)
    return zone(zone_of_number(owner) or default)


def to_utc(moment: datetime, wall_zone: ZoneInfo) -> datetime:
    """An instant in UTC; a naive `moment` is wall-clock time in `wall_zone`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=wall_zone)
    return moment.astimezone(timezone.utc)
