"""One phone number -> time zone rule (shared.phones), used by the agent and the calendar alike."""

from __future__ import annotations

import pytest

from shared import phones
from shared.phones import MOST_POPULOUS_ZONE, is_zone, zone_of_number

NUMBERS = [
    # number, expected zone, why
    ("+79161234567", "Europe/Moscow", "Russian mobile: 16 zones, the most populous"),
    ("+74951234567", "Europe/Moscow", "Moscow landline: its own zone"),
    ("+61412345678", "Australia/Sydney", "Australian mobile: the whole continent, the most populous"),
    ("+61298765432", "Australia/Sydney", "Sydney landline: its own zone"),
    ("+61892345678", "Australia/Adelaide", "+61 8 is shared by Adelaide and Perth, not Sydney: the first listed (rule 3)"),
    ("+77012345678", "Asia/Almaty", "Kazakh mobile: shares +7 with Russia, Kazakhstan's zone"),
    ("+56912345678", "America/Santiago", "Chilean mobile libphonenumber cannot place"),
    ("+5215512345678", "America/Mexico_City", "Mexican mobile written the old way (+52 1)"),
    ("+5216641234567", "America/Tijuana", "old-style Tijuana mobile: read without the 1"),
    ("+525512345678", "America/Mexico_City", "the same Mexico City number written today"),
    ("+34612345678", "Europe/Madrid", "Spanish mobile: Madrid, not the Canaries"),
    ("+34922123456", "Atlantic/Canary", "Canarian landline: its own zone"),
    ("+447400123456", "Europe/London", "UK mobile: not Jersey, Guernsey or the Isle of Man"),
    ("+447911123456", "Europe/London", "a +44 range libphonenumber files under Guernsey"),
    ("+12125551234", "America/New_York", "New York"),
    ("+14155552671", "America/Los_Angeles", "San Francisco"),
    ("+5511987654321", "America/Sao_Paulo", "Brazil"),
    ("+4915112345678", "Europe/Berlin", "Germany, one zone"),
    ("+819012345678", "Asia/Tokyo", "Japan"),
    ("+64211234567", "Pacific/Auckland", "NZ mobile: Auckland, not the Chathams"),
    ("+351912345678", "Europe/Lisbon", "Portuguese mobile: Lisbon, not the Azores"),
    ("+6281234567890", "Asia/Jakarta", "Indonesia"),
    ("+27821234567", "Africa/Johannesburg", "South Africa"),
    ("whatsapp:+34600111222", "Europe/Madrid", "a WhatsApp address"),
    ("+80012345678", None, "international freephone: no place"),
    ("not a number", None, "not a phone number"),
]


@pytest.mark.parametrize(("number", "expected", "why"), NUMBERS, ids=[n for n, _, _ in NUMBERS])
def test_zone_of_a_phone_number(number: str, expected: str | None, why: str):
    assert zone_of_number(number) == expected, why


def test_the_table_covers_many_countries():
    import phonenumbers

    countries = {phonenumbers.parse(n.removeprefix("whatsapp:")).country_code for n, z, _ in NUMBERS if z}
    assert len(NUMBERS) >= 16 and len(countries) >= 14


def test_the_agent_and_the_calendar_use_this_one_rule():
    from services.agent import timezones
    from services.calendar import zones

    assert timezones.zone_of_number is zones.zone_of_number is phones.zone_of_number


def test_every_most_populous_zone_is_a_real_zone():
    assert all(is_zone(zone) for zone in MOST_POPULOUS_ZONE.values())
