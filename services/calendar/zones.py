"""Owners and their time zones.

An owner is a phone number in E.164 form. Their zone is, in order: the zone the request
names, the zone of their phone number (`shared.phones.zone_of_number`, the rule the agent
uses too), the service default. A naive time is wall-clock time in that zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers

from shared.calendar import CalendarError, ErrorCode
from shared.ids import normalise_address
from shared.phones import is_zone, zone_of_number


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


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or `invalid_request` naming it."""
    if not is_zone(name):
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
    return moment.astimezone(UTC)
