"""One contract suite, run on both backends through the real `calendar` micro service.

`local` is the Postgres backend; `google` is the real google-api-python-client talking
to the fake Calendar API on loopback. Everything goes over NATS with `CalendarClient`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from shared.calendar import (
    CalendarError,
    CreateEvent,
    DeleteEvent,
    ErrorCode,
    FindFreeSlots,
    GetEvent,
    ListEvents,
    UpdateEvent,
)
from tests.fakes.calendar_rig import OWNER_A, OWNER_B, calendar_rig

UTC = UTC
DAY = "2026-12-01"  # a Tuesday in winter: Madrid is UTC+1, London UTC+0


@pytest.fixture(params=["local", "google"])
async def rig(request, bus, database_url, tmp_path):
    async with calendar_rig(bus, database_url, request.param, tmp_path) as running:
        yield running


async def create(rig, start: str, end: str | None = None, owner: str = OWNER_A, **fields):
    request = CreateEvent(**rig.who(owner), summary=fields.pop("summary", "Event"), start=start, end=end, **fields)
    return await rig.client.create(request)


async def listing(rig, start: str, end: str, owner: str = OWNER_A, **fields):
    return await rig.client.list(ListEvents(**rig.who(owner), start=start, end=end, **fields))


async def failure(call) -> CalendarError:
    with pytest.raises(CalendarError) as caught:
        await call
    return caught.value


async def test_create_get_and_list_return_ids(rig):
    dentist = await create(rig, f"{DAY}T09:00", f"{DAY}T09:30", summary="Dentist", location="Calle Mayor 1",
                           description="check-up", attendees=("ana@example.com",))
    lunch = await create(rig, f"{DAY}T13:00", summary="Lunch with Ana")

    got = await rig.client.get(GetEvent(**rig.who(OWNER_A), event_id=dentist.event.event_id))
    assert (got.summary, got.location, got.description) == ("Dentist", "Calle Mayor 1", "check-up")
    assert got.attendees == ("ana@example.com",)
    assert got.start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC) and got.end - got.start == timedelta(minutes=30)
    assert lunch.event.end - lunch.event.start == timedelta(hours=1)  # default duration

    day = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59")
    assert [e.event_id for e in day.events] == [dentist.event.event_id, lunch.event.event_id]
    assert day.time_zone == "Europe/Madrid" and not day.truncated
    assert (await listing(rig, f"{DAY}T10:00", f"{DAY}T12:00")).events == ()
    matching = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59", query="ana")
    assert [e.event_id for e in matching.events] == [lunch.event.event_id]
    first = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59", limit=1)
    assert [e.event_id for e in first.events] == [dentist.event.event_id] and first.truncated


async def test_reschedule_keeps_duration_and_changes_revision(rig):
    created = (await create(rig, f"{DAY}T09:00", f"{DAY}T09:45", summary="Dentist")).event
    moved = await rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=created.event_id, start=f"{DAY}T10:00"))
    assert moved.event.start == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert moved.event.end - moved.event.start == timedelta(minutes=45)
    assert moved.event.revision != created.revision

    renamed = await rig.client.update(UpdateEvent(
        **rig.who(OWNER_A), event_id=created.event_id, summary="Dentist (Dr Ruiz)", end=f"{DAY}T11:00"))
    assert renamed.event.summary == "Dentist (Dr Ruiz)" and renamed.event.start == moved.event.start
    assert renamed.event.end == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    got = await rig.client.get(GetEvent(**rig.who(OWNER_A), event_id=created.event_id))
    assert (got.summary, got.start, got.end) == (renamed.event.summary, renamed.event.start, renamed.event.end)
    listed = await listing(rig, f"{DAY}T09:30", f"{DAY}T10:30")
    assert [e.event_id for e in listed.events] == [created.event_id]


async def test_delete_by_id(rig):
    keep = (await create(rig, f"{DAY}T08:00", summary="Keep")).event
    gone = (await create(rig, f"{DAY}T09:00", summary="Gone")).event
    deleted = await rig.client.delete(DeleteEvent(**rig.who(OWNER_A), event_id=gone.event_id))
    assert (deleted.event_id, deleted.summary) == (gone.event_id, "Gone")

    assert (await failure(rig.client.get(GetEvent(**rig.who(OWNER_A), event_id=gone.event_id)))).code == ErrorCode.NOT_FOUND
    again = await failure(rig.client.delete(DeleteEvent(**rig.who(OWNER_A), event_id=gone.event_id)))
    assert again.code == ErrorCode.NOT_FOUND and "couldn't find" in again.message
    moved = await failure(rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=gone.event_id, start=f"{DAY}T12:00")))
    assert moved.code == ErrorCode.NOT_FOUND
    left = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59")
    assert [e.event_id for e in left.events] == [keep.event_id]


async def test_overlaps_are_reported_and_creation_succeeds(rig):
    standup = (await create(rig, f"{DAY}T10:00", f"{DAY}T11:00", summary="Standup")).event
    clash = await create(rig, f"{DAY}T10:30", f"{DAY}T11:30", summary="Call")
    assert [e.event_id for e in clash.overlaps] == [standup.event_id]
    assert clash.overlaps[0].summary == "Standup"
    touching = await create(rig, f"{DAY}T11:30", f"{DAY}T12:00", summary="Touching")
    assert touching.overlaps == ()  # back to back is not an overlap

    day = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59")
    assert len(day.events) == 3
    moved = await rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=touching.event.event_id, start=f"{DAY}T10:45"))
    assert {e.event_id for e in moved.overlaps} == {standup.event_id, clash.event.event_id}


async def test_free_slots(rig):
    await create(rig, f"{DAY}T09:00", f"{DAY}T10:00")
    await create(rig, f"{DAY}T12:00", f"{DAY}T13:00")
    await create(rig, f"{DAY}T12:30", f"{DAY}T13:30")  # overlapping busy time merges
    await create(rig, f"{DAY}T15:00", owner=OWNER_B)  # someone else's time is not busy
    window = {"start": f"{DAY}T00:00", "end": "2026-12-02T23:59", "day_start": time(8), "day_end": time(18)}

    found = await rig.client.free_slots(FindFreeSlots(**rig.who(OWNER_A), duration_minutes=60, **window))
    madrid = [(s.start.strftime("%d %H:%M"), s.end.strftime("%d %H:%M")) for s in found.slots]
    assert madrid == [("01 08:00", "01 09:00"), ("01 10:00", "01 12:00"), ("01 13:30", "01 18:00"),
                      ("02 08:00", "02 18:00")]
    assert found.time_zone == "Europe/Madrid" and found.slots[0].start.utcoffset() == timedelta(hours=1)

    long = await rig.client.free_slots(FindFreeSlots(**rig.who(OWNER_A), duration_minutes=150, limit=1, **window))
    assert [(s.start.hour, s.end.hour) for s in long.slots] == [(13, 18)]


async def test_range_errors(rig):
    existing = (await create(rig, f"{DAY}T09:00", summary="Existing")).event
    cases = [
        rig.client.list(ListEvents(**rig.who(OWNER_A), start=f"{DAY}T10:00", end=f"{DAY}T09:00")),
        rig.client.list(ListEvents(**rig.who(OWNER_A), start=f"{DAY}T10:00", end=f"{DAY}T10:00")),
        rig.client.list(ListEvents(**rig.who(OWNER_A), start="2026-01-01T00:00", end="2028-01-01T00:00")),
        rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Backwards", start=f"{DAY}T10:00", end=f"{DAY}T09:00")),
        rig.client.free_slots(FindFreeSlots(**rig.who(OWNER_A), start=f"{DAY}T10:00", end=f"{DAY}T10:30", duration_minutes=60)),
        rig.client.free_slots(FindFreeSlots(**rig.who(OWNER_A), start=f"{DAY}T10:00", end=f"{DAY}T08:00", duration_minutes=30)),
        rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=existing.event_id, end=f"{DAY}T08:00")),
    ]
    for call in cases:
        error = await failure(call)
        assert error.code == ErrorCode.INVALID_RANGE and error.message
    assert "at most 366 days" in (await failure(
        rig.client.list(ListEvents(**rig.who(OWNER_A), start="2026-01-01T00:00", end="2028-01-01T00:00")))).message
    day = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59")
    assert [(e.summary, e.start, e.end) for e in day.events] == [(existing.summary, existing.start, existing.end)]


async def test_naive_local_time_is_the_owners_wall_clock(rig):
    madrid = (await create(rig, f"{DAY}T15:00", owner=OWNER_A)).event
    assert madrid.start.astimezone(UTC) == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert madrid.start.isoformat() == "2026-12-01T15:00:00+01:00" and madrid.time_zone == "Europe/Madrid"
    london = (await create(rig, f"{DAY}T15:00", owner=OWNER_B)).event
    assert london.start.astimezone(UTC) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    summer = (await create(rig, "2026-07-01T15:00", owner=OWNER_A)).event  # DST: UTC+2
    assert summer.start.astimezone(UTC) == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)

    told = CreateEvent(**rig.who(OWNER_A), time_zone="America/New_York", summary="NY", start=f"{DAY}T15:00")
    new_york = (await rig.client.create(told)).event
    assert new_york.start.astimezone(UTC) == datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    assert new_york.time_zone == "America/New_York"
    aware = (await create(rig, f"{DAY}T15:00+00:00", owner=OWNER_A)).event  # an explicit offset wins
    assert aware.start.astimezone(UTC) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

    # Read back in the zone of whoever asks: the same instant on another wall clock.
    in_tokyo = await rig.client.get(GetEvent(**rig.who(OWNER_A), time_zone="Asia/Tokyo", event_id=madrid.event_id))
    assert in_tokyo.start.isoformat() == "2026-12-01T23:00:00+09:00" and in_tokyo.time_zone == "Europe/Madrid"


async def test_create_with_request_id_is_idempotent(rig):
    first = await create(rig, f"{DAY}T09:00", summary="Dentist", request_id="turn-7:call-1")
    retry = await create(rig, f"{DAY}T09:00", summary="Dentist", request_id="turn-7:call-1")
    assert retry.event.event_id == first.event.event_id and retry.overlaps == ()
    other = await create(rig, f"{DAY}T09:00", summary="Dentist", request_id="turn-7:call-1", owner=OWNER_B)
    assert other.event.event_id != first.event.event_id
    day = await listing(rig, f"{DAY}T00:00", f"{DAY}T23:59")
    assert [e.event_id for e in day.events] == [first.event.event_id]


async def test_stale_revision_is_a_conflict(rig):
    created = (await create(rig, f"{DAY}T09:00", summary="Dentist")).event
    current = (await rig.client.update(UpdateEvent(**rig.who(OWNER_A), event_id=created.event_id, summary="Dentist!"))).event
    stale = UpdateEvent(**rig.who(OWNER_A), event_id=created.event_id, summary="Lost", if_revision=created.revision)
    assert (await failure(rig.client.update(stale))).code == ErrorCode.CONFLICT
    stale_delete = DeleteEvent(**rig.who(OWNER_A), event_id=created.event_id, if_revision=created.revision)
    assert (await failure(rig.client.delete(stale_delete))).code == ErrorCode.CONFLICT
    assert (await rig.client.get(GetEvent(**rig.who(OWNER_A), event_id=created.event_id))).summary == "Dentist!"
    fresh = UpdateEvent(**rig.who(OWNER_A), event_id=created.event_id, summary="Dentist 2", if_revision=current.revision)
    assert (await rig.client.update(fresh)).event.summary == "Dentist 2"


async def test_bad_requests_get_a_clear_code(rig):
    raw = await rig.client.nc.request("calendar.create", b'{"owner": "+34600111222"}', timeout=5)
    assert raw.headers["Nats-Service-Error-Code"] == "invalid_request"
    assert "summary" in raw.headers["Nats-Service-Error"] and "start" in raw.headers["Nats-Service-Error"]
    error = await failure(rig.client.list(ListEvents(**rig.who(OWNER_A), time_zone="Mars/Olympus",
                                                      start=f"{DAY}T00:00", end=f"{DAY}T23:00")))
    assert error.code == ErrorCode.INVALID_REQUEST and "Mars/Olympus" in error.message


async def test_all_day_events_span_whole_days_in_the_owners_zone(rig):
    birthday = (await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Ana's birthday", start=f"{DAY}T00:00",
                                                    all_day=True))).event
    assert birthday.all_day and birthday.start.isoformat() == "2026-12-01T00:00:00+01:00"
    assert birthday.end.isoformat() == "2026-12-02T00:00:00+01:00"
    trip = (await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Trip", start="2026-12-03T10:00",
                                                duration_minutes=3 * 24 * 60, all_day=True))).event
    assert (trip.start.isoformat(), trip.end.isoformat()) == ("2026-12-03T00:00:00+01:00", "2026-12-06T00:00:00+01:00")
    got = await rig.client.get(GetEvent(**rig.who(OWNER_A), event_id=birthday.event_id))
    assert got.all_day and got.start == birthday.start and got.end == birthday.end
    day = await listing(rig, f"{DAY}T12:00", f"{DAY}T13:00")
    assert [(e.summary, e.all_day) for e in day.events] == [("Ana's birthday", True)]


async def test_a_repeating_event_lists_once_per_occurrence_under_one_id(rig):
    standup = (await create(rig, f"{DAY}T09:00", f"{DAY}T09:30", summary="Standup",
                            recurrence="FREQ=WEEKLY;BYDAY=TU,TH")).event
    assert standup.recurrence == "FREQ=WEEKLY;BYDAY=TU,TH"
    weeks = await listing(rig, "2026-11-30T00:00", "2026-12-14T00:00")
    assert [e.start.isoformat() for e in weeks.events] == [
        "2026-12-01T09:00:00+01:00", "2026-12-03T09:00:00+01:00", "2026-12-08T09:00:00+01:00",
        "2026-12-10T09:00:00+01:00"]
    assert {e.event_id for e in weeks.events} == {standup.event_id}
    assert all(e.recurrence == standup.recurrence and e.end - e.start == timedelta(minutes=30) for e in weeks.events)
    later = await listing(rig, "2027-03-01T00:00", "2027-03-03T00:00")  # months later
    assert [e.start.isoformat() for e in later.events] == ["2027-03-02T09:00:00+01:00"]
    summer = await listing(rig, "2027-06-01T00:00", "2027-06-02T00:00")  # the wall clock holds across DST
    assert [e.start.isoformat() for e in summer.events] == ["2027-06-01T09:00:00+02:00"]
    assert [e.summary for e in (await listing(rig, "2026-12-07T00:00", "2026-12-09T00:00", query="stand")).events] == [
        "Standup"]
    await rig.client.delete(DeleteEvent(**rig.who(OWNER_A), event_id=standup.event_id))
    assert (await listing(rig, "2026-11-30T00:00", "2026-12-14T00:00")).events == ()
