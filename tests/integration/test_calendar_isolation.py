"""Isolation through the real micro service: owner A never sees or touches owner B's events.

Whatever id or range A sends, the answer is `not_found` or `forbidden` (or A's own,
empty calendar), never B's data, and B's calendar is left exactly as it was.
"""

from __future__ import annotations

import json

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
from shared.ids import conversation_id
from tests.fakes.calendar_rig import BUSINESS, OWNER_A, OWNER_B, calendar_rig

REFUSED = {ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN}


@pytest.fixture(params=["local", "google"])
async def rig(request, bus, database_url, tmp_path):
    async with calendar_rig(bus, database_url, request.param, tmp_path) as running:
        yield running


def id_variants(event_id: str) -> list[str]:
    return [
        event_id, event_id.upper(), f" {event_id} ", event_id[:-1], f"{event_id}%", "%", "_" * len(event_id),
        f"{event_id}' OR '1'='1", "*", "../" + event_id, f"{event_id}/../{event_id}",
    ]


async def b_snapshot(rig) -> list[dict]:
    listed = await rig.client.list(ListEvents(**rig.who(OWNER_B), start="2026-01-01T00:00", end="2026-12-31T00:00"))
    return [event.model_dump() for event in listed.events]


async def test_owner_a_cannot_reach_owner_b_events_by_any_id(rig):
    secret = (await rig.client.create(CreateEvent(
        **rig.who(OWNER_B), summary="B's secret appointment", start="2026-12-01T10:00", location="Somewhere private",
    ))).event
    before = await b_snapshot(rig)
    as_a = rig.who(OWNER_A)

    for event_id in id_variants(secret.event_id):
        attempts = [
            rig.client.get(GetEvent(**as_a, event_id=event_id)),
            rig.client.update(UpdateEvent(**as_a, event_id=event_id, summary="hijacked", start="2026-12-01T11:00")),
            rig.client.delete(DeleteEvent(**as_a, event_id=event_id)),
        ]
        for attempt in attempts:
            with pytest.raises(CalendarError) as refused:
                await attempt
            assert refused.value.code in REFUSED, (event_id, refused.value)
            assert "secret" not in refused.value.message and "private" not in refused.value.message

    assert await b_snapshot(rig) == before


async def test_owner_a_never_lists_owner_b_events_in_any_range(rig):
    await rig.client.create(CreateEvent(**rig.who(OWNER_B), summary="B's secret", start="2026-12-01T10:00"))
    mine = (await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="A's own", start="2026-12-01T12:00"))).event
    as_a = rig.who(OWNER_A)

    for start, end, query in [
        ("2026-12-01T00:00", "2026-12-02T00:00", None),
        ("2026-01-01T00:00", "2026-12-31T00:00", None),
        ("2026-12-01T10:00", "2026-12-01T11:00", None),
        ("2026-12-01T00:00", "2026-12-02T00:00", "secret"),
        ("2026-12-01T00:00", "2026-12-02T00:00", "%"),
    ]:
        listed = await rig.client.list(ListEvents(**as_a, start=start, end=end, query=query))
        assert all(event.event_id == mine.event_id for event in listed.events), (start, end, query)
        assert "B's secret" not in listed.model_dump_json()

    free = await rig.client.free_slots(FindFreeSlots(**as_a, start="2026-12-01T10:00", end="2026-12-01T11:00",
                                                     duration_minutes=60))
    assert len(free.slots) == 1  # B's 10:00 meeting is not A's busy time


async def test_the_owner_is_the_person_however_the_number_is_written(rig):
    created = (await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Mine", start="2026-12-01T10:00"))).event
    for spelling in ("whatsapp:+34600111222", "+34 600 111 222", "+34-600-111-222"):
        # The conversation id is the hash of the number as the webhook spelt it.
        request = GetEvent(owner=spelling, business=BUSINESS, conversation=conversation_id(BUSINESS, spelling),
                           event_id=created.event_id)
        assert (await rig.client.get(request)).event_id == created.event_id

    for not_a_number in ("", "anyone", "*", "+", "34600111222' OR 1=1 --"):
        payload = {"owner": not_a_number, "business": BUSINESS, "conversation": conversation_id(BUSINESS, not_a_number),
                   "event_id": created.event_id}
        reply = await rig.client.nc.request("calendar.get", json.dumps(payload).encode(), timeout=5)
        assert reply.headers["Nats-Service-Error-Code"] in {"forbidden", "invalid_request"}, not_a_number
        assert b"Mine" not in reply.data


async def test_a_request_inconsistent_with_its_conversation_is_refused(rig):
    """The calendar does not take `owner` on trust: (business, owner) must hash to the conversation."""
    secret = (await rig.client.create(CreateEvent(**rig.who(OWNER_B), summary="B's secret", start="2026-12-01T10:00"))).event
    a_conversation = conversation_id(BUSINESS, OWNER_A)
    forged = [
        {"owner": OWNER_B, "business": BUSINESS, "conversation": a_conversation},  # B's calendar from A's chat
        {"owner": OWNER_B, "conversation": conversation_id(BUSINESS, OWNER_B)},  # no business number
        {"owner": OWNER_B, "business": "+15550000000", "conversation": conversation_id(BUSINESS, OWNER_B)},
    ]
    for who in forged:
        for endpoint, extra in [("get", {"event_id": secret.event_id}),
                                ("list", {"start": "2026-12-01T00:00", "end": "2026-12-02T00:00"})]:
            reply = await rig.client.nc.request(f"calendar.{endpoint}", json.dumps({**who, **extra}).encode(), timeout=5)
            assert reply.headers["Nats-Service-Error-Code"] == ErrorCode.FORBIDDEN, (who, endpoint)
            assert b"secret" not in reply.data
    assert [e["summary"] for e in await b_snapshot(rig)] == ["B's secret"]
