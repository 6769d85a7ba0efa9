"""Calendar pieces without infrastructure: zones, free time, ids, configuration, Google mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httplib2
import pytest
from googleapiclient.errors import HttpError
from pydantic import ValidationError

from services.calendar.announce import change_msg_id
from services.calendar.config import CalendarSettings, parse_owner_calendars
from services.calendar.google import _stored, _translate
from services.calendar.handlers import new_event_id
from services.calendar.local import PostgresCalendar, open_engine
from services.calendar.ports import StoredEvent
from services.calendar.slots import free_slots, gaps, merge
from services.calendar.zones import normalise_owner, owner_zone, to_utc
from shared.calendar import CalendarError, ErrorCode
from switchboard.infra import free_port

UTC = UTC
MADRID = ZoneInfo("Europe/Madrid")


def at(hour: float, day: int = 1) -> datetime:
    return datetime(2026, 12, day, tzinfo=UTC) + timedelta(hours=hour)


def test_owner_zone_prefers_the_request_then_the_number_then_the_default():
    assert owner_zone("+34600111222", "Asia/Tokyo", "UTC").key == "Asia/Tokyo"
    assert owner_zone("+34600111222", None, "UTC").key == "Europe/Madrid"
    assert owner_zone("+80012345678", None, "America/Chicago").key == "America/Chicago"  # non-geographic
    assert owner_zone("+79161234567", None, "UTC").key == "Europe/Moscow"  # the shared rule (shared.phones)
    with pytest.raises(CalendarError) as unknown:
        owner_zone("+34600111222", "Mars/Olympus", "UTC")
    assert unknown.value.code == ErrorCode.INVALID_REQUEST


def test_naive_times_are_wall_clock_in_the_given_zone():
    assert to_utc(datetime(2026, 12, 1, 15), MADRID) == at(14)
    assert to_utc(datetime(2026, 7, 1, 15), MADRID) == datetime(2026, 7, 1, 13, tzinfo=UTC)
    assert to_utc(datetime(2026, 12, 1, 15, tzinfo=UTC), MADRID) == at(15)


@pytest.mark.parametrize("spelling", ["+34600111222", "whatsapp:+34600111222", " +34 600 11 12 22 "])
def test_owner_spellings_normalise_to_e164(spelling):
    assert normalise_owner(spelling) == "+34600111222"


@pytest.mark.parametrize("bad", ["", "someone", "600111222", "+1", "*"])
def test_an_owner_that_is_not_a_phone_number_is_forbidden(bad):
    with pytest.raises(CalendarError) as refused:
        normalise_owner(bad)
    assert refused.value.code == ErrorCode.FORBIDDEN


def test_busy_time_merges_and_leaves_gaps():
    assert merge([(at(12), at(13)), (at(9), at(10)), (at(12.5), at(14)), (at(14), at(15))]) == [
        (at(9), at(10)), (at(12), at(15))]
    assert list(gaps([(at(9), at(10)), (at(8), at(8.5))], at(7), at(11))) == [
        (at(7), at(8)), (at(8.5), at(9)), (at(10), at(11))]
    assert list(gaps([(at(6), at(12))], at(7), at(11))) == []


def test_free_slots_respect_daily_hours_in_the_owners_zone():
    busy = [(at(9), at(10))]  # 10:00-11:00 in Madrid
    found = free_slots(busy, at(0), at(24), timedelta(hours=1), MADRID, time(9), time(17))
    assert [(s.astimezone(MADRID).hour, e.astimezone(MADRID).hour) for s, e in found] == [(9, 10), (11, 17)]
    overnight = free_slots([], at(0), at(48), timedelta(hours=1), MADRID, time(22), time(6), limit=2)
    assert [(s.astimezone(MADRID).strftime("%d %H"), e.astimezone(MADRID).strftime("%d %H")) for s, e in overnight] == [
        ("01 01", "01 06"), ("01 22", "02 06")]  # the range starts at 01:00 in Madrid
    assert free_slots([], at(0), at(1), timedelta(hours=2), MADRID) == []


def test_ids_and_message_ids_are_deterministic():
    assert new_event_id("+34600111222", "turn-1") == new_event_id("+34600111222", "turn-1")
    assert new_event_id("+34600111222", "turn-1") != new_event_id("+447400123456", "turn-1")
    assert new_event_id("+34600111222", None) != new_event_id("+34600111222", None)
    assert set(new_event_id("+34600111222", "x")) <= set("0123456789abcdef")  # valid Google ids too
    event = StoredEvent("e1", "Dentist", at(9), at(10), "Europe/Madrid", revision="2")
    assert change_msg_id("created", event) == "calendar:e1:created"
    assert change_msg_id("deleted", event) == "calendar:e1:deleted"
    assert change_msg_id("updated", event) == change_msg_id("updated", event)
    assert change_msg_id("updated", event) != change_msg_id("updated", StoredEvent(**{**vars(event), "revision": "3"}))


def test_owner_calendars_from_json_or_file(tmp_path):
    assert parse_owner_calendars(None) == {}
    assert parse_owner_calendars('{"whatsapp:+34 600 111 222": "primary"}') == {"+34600111222": "primary"}
    file = tmp_path / "owners.json"
    file.write_text(json.dumps({"+447400123456": "team@group.calendar.google.com"}))
    assert parse_owner_calendars(str(file)) == {"+447400123456": "team@group.calendar.google.com"}
    for bad in ('{"+34600111222": "same", "+447400123456": "same"}', '{"nobody": "x"}', "[1]", "{not json",
                str(tmp_path / "missing.json")):
        with pytest.raises(ValueError):
            parse_owner_calendars(bad)


def test_settings_fail_fast(tmp_path):
    base = {"DATABASE_URL": "postgresql://localhost/db"}
    assert CalendarSettings(**base).health_port == 8085
    for bad in (
        {},
        {**base, "DATABASE_URL": "mysql://x"},
        {**base, "CALENDAR_DEFAULT_TIME_ZONE": "Nowhere/Land"},
        {**base, "CALENDAR_GOOGLE_OWNERS": '{"+34600111222": "primary"}'},
        {**base, "CALENDAR_GOOGLE_OWNERS": '{"+34600111222": "primary"}',
         "CALENDAR_GOOGLE_CREDENTIALS": str(tmp_path / "missing.json")},
    ):
        with pytest.raises(ValidationError):
            CalendarSettings(**bad)


def test_google_resources_map_to_stored_events():
    timed = _stored({"id": "abc12", "etag": '"317"', "summary": "Call", "attendees": [{"email": "a@b.c"}, {}],
                     "start": {"dateTime": "2026-12-01T15:00:00+01:00", "timeZone": "Europe/Madrid"},
                     "end": {"dateTime": "2026-12-01T16:00:00+01:00"}})
    assert (timed.start, timed.end, timed.time_zone, timed.revision, timed.attendees) == (
        at(14), at(15), "Europe/Madrid", "317", ("a@b.c",))
    all_day = _stored({"id": "abc13", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}}, "Europe/Madrid")
    assert (all_day.start, all_day.end) == (at(-1), at(23))


@pytest.mark.parametrize(("status", "content", "code"), [
    (404, b"", ErrorCode.NOT_FOUND), (410, b"", ErrorCode.NOT_FOUND), (412, b"", ErrorCode.CONFLICT),
    (400, b'{"reason": "timeRangeEmpty"}', ErrorCode.INVALID_RANGE), (403, b"forbidden", ErrorCode.FORBIDDEN),
    (403, b'{"reason": "rateLimitExceeded"}', ErrorCode.BACKEND_UNAVAILABLE),
    (500, b"", ErrorCode.BACKEND_UNAVAILABLE), (503, b"", ErrorCode.BACKEND_UNAVAILABLE),
])
def test_google_errors_translate_to_stable_codes(status, content, code):
    error = HttpError(httplib2.Response({"status": status}), content, uri="http://x")
    assert _translate(error).code == code


async def test_an_unreachable_database_is_backend_unavailable():
    backend = PostgresCalendar(open_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none", statement_timeout_s=1))
    try:
        with pytest.raises(CalendarError) as unavailable:
            await backend.list("+34600111222", at(0), at(24), None, 10)
        assert unavailable.value.code == ErrorCode.BACKEND_UNAVAILABLE
    finally:
        await backend.close()
