"""Phone number -> country -> time zone: the one rule every service uses.

`zone_of_number` is the default time zone of a user (the agent's clock, the calendar's
wall-clock times) until they choose one. The rule, in order:

1. The number's own zone, when libphonenumber's prefix data gives exactly one
   (a Madrid or Canarian landline, a Californian or New York number, any one-zone country).
2. Otherwise the country's most populous zone from `MOST_POPULOUS_ZONE`, when the prefix
   lists it among its zones or lists none at all (mobiles in Russia, Australia, Spain,
   Kazakhstan; new mobile ranges libphonenumber cannot place, as in Chile). Numbers that
   share a country code with a bigger country (+44 in Jersey or Guernsey) use that country's.
3. Otherwise, when the prefix lists several zones, the first one it lists; when it lists
   none, the zone of the country's example landline if the country has one zone.
4. Otherwise None (a non-geographic number, or not a phone number): the caller's default.

Mexican mobiles written the old way (+52 1 ...) are read without the 1, so they are placed
like the same number written today. `phonenumbers` is imported only when a number is
looked up: it is not a base dependency (the agent and calendar extras install it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.ids import normalise_address

# Region -> the zone most of its people live in, for countries with several zones
# (libphonenumber lists a single zone for every Argentine number, so AR only fills rule 2).
MOST_POPULOUS_ZONE: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney", "BR": "America/Sao_Paulo",
    "CA": "America/Toronto", "CD": "Africa/Kinshasa", "CL": "America/Santiago", "EC": "America/Guayaquil",
    "ES": "Europe/Madrid", "GB": "Europe/London", "ID": "Asia/Jakarta", "KZ": "Asia/Almaty",
    "MN": "Asia/Ulaanbaatar", "MX": "America/Mexico_City", "NZ": "Pacific/Auckland", "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow", "US": "America/New_York",
}
_UNKNOWN_ZONE = "Etc/Unknown"


@lru_cache(maxsize=4096)
def zone_of_number(number: str) -> str | None:
    """The default IANA time zone of a phone number (E.164, `whatsapp:` allowed), or None."""
    import phonenumbers
    from phonenumbers import timezone as number_zones

    try:
        parsed = _modern_mexican_mobile(phonenumbers.parse(normalise_address(number), None))
    except phonenumbers.NumberParseException:
        return None
    zones = [zone for zone in number_zones.time_zones_for_number(parsed) if zone != _UNKNOWN_ZONE and is_zone(zone)]
    if len(zones) == 1:
        return zones[0]
    main = _most_populous_zone(parsed)
    if main and (not zones or main in zones):
        return main
    if zones:
        return zones[0]
    region = phonenumbers.region_code_for_number(parsed)
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE) if region else None
    country = [z for z in number_zones.time_zones_for_number(example) if z != _UNKNOWN_ZONE] if example else []
    return country[0] if len(country) == 1 and is_zone(country[0]) else None


def _most_populous_zone(parsed: Any) -> str | None:
    import phonenumbers

    region = phonenumbers.region_code_for_number(parsed)
    main_region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return MOST_POPULOUS_ZONE.get(region or "") or MOST_POPULOUS_ZONE.get(main_region or "")


def _modern_mexican_mobile(parsed: Any) -> Any:
    """+52 1 XX XXXX XXXX (the mobile prefix Mexico dropped in 2019) without the 1."""
    import phonenumbers

    national = str(parsed.national_number)
    if parsed.country_code == 52 and len(national) == 11 and national.startswith("1"):
        return phonenumbers.parse(f"+52{national[1:]}", None)
    return parsed


@lru_cache(maxsize=1024)
def is_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=4096)
def country_of_number(number: str) -> str | None:
    """The ISO 3166 region of a phone number (E.164, `whatsapp:` allowed), or None.

    It says how the user writes dates (the US month/day, Argentina day/month) and which
    language to expect before they have written anything.
    """
    import phonenumbers

    try:
        parsed = _modern_mexican_mobile(phonenumbers.parse(normalise_address(number), None))
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if region and region != "ZZ" else None
