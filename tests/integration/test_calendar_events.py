"""Every calendar change is a fact on the stream (deterministic Nats-Msg-Id) and in audit."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from services.audit.database import DatabaseHealth
from services.audit.service import run_audit
from shared.batch import BatchPolicy
from shared.calendar import CalendarError, CreateEvent, DeleteEvent, ErrorCode, GetEvent, UpdateEvent
from shared.events import CalendarEventCreated, CalendarEventDeleted, CalendarEventUpdated, decode
from shared.ids import parse_stored_subject
from tests.fakes.calendar_rig import OWNER_A, OWNER_B, calendar_rig, conversation_of
from tests.waiting import scaled

AUDIT_POLICY = BatchPolicy(batch_size=64, fetch_timeout_s=0.2, ack_wait_s=5.0, backoff_s=(0.05,))


async def stored(bus) -> list[tuple[str, dict, object]]:
    """(subject, headers, event) for everything in the stream."""
    info = await bus.js.stream_info(bus.stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(bus.stream, seq)
        found.append((msg.subject, msg.headers or {}, decode(msg.data)))
    return found


async def audited(database_url: str, expected: int, timeout: float = 10.0) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            rows = await conn.fetch(
                "SELECT type, msg_id, conversation, correlation_id, payload FROM audit.events "
                "WHERE type LIKE 'CalendarEvent%' ORDER BY stream_seq"
            )
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", ["local", "google"])
async def test_every_change_is_in_the_stream_and_in_audit(bus, database_url, tmp_path, backend):
    stop, health = asyncio.Event(), DatabaseHealth()
    audit = asyncio.create_task(run_audit(bus, database_url, stop, AUDIT_POLICY, health))
    try:
        # Alembic keeps its migration context in module globals: two services migrating at
        # once in one process would trip over each other (in production each is a process).
        while not health.ok:
            await asyncio.sleep(0.02)
        async with calendar_rig(bus, database_url, backend, tmp_path) as rig:
            context = {**rig.who(OWNER_A), "correlation_id": "SM-turn-1", "causation_id": "evt-text-1"}
            create = CreateEvent(**context, summary="Dentist", start="2026-12-01T09:00", request_id="turn-1:0")
            created = (await rig.client.create(create)).event
            assert (await rig.client.create(create)).event.event_id == created.event_id  # a retry
            await rig.client.update(UpdateEvent(**context, event_id=created.event_id, start="2026-12-01T10:00"))
            await rig.client.delete(DeleteEvent(**context, event_id=created.event_id))
            # Refusals and reads change nothing, so they record nothing.
            for refused in (
                rig.client.delete(DeleteEvent(**rig.who(OWNER_B), event_id=created.event_id)),
                rig.client.get(GetEvent(**context, event_id=created.event_id)),
            ):
                with pytest.raises(CalendarError):
                    await refused

        events = [(subject, headers, event) for subject, headers, event in await stored(bus)
                  if event.type.startswith("CalendarEvent")]
        assert [type(e) for _, _, e in events] == [CalendarEventCreated, CalendarEventUpdated, CalendarEventDeleted]
        msg_ids = [headers["Nats-Msg-Id"] for _, headers, _ in events]
        assert msg_ids[0] == f"calendar:{created.event_id}:created"
        assert msg_ids[1].startswith(f"calendar:{created.event_id}:updated:")
        assert msg_ids[2] == f"calendar:{created.event_id}:deleted"
        for subject, _, event in events:
            kind, _, conversation = parse_stored_subject(subject)
            assert (kind, conversation, event.conversation) == ("calendar", conversation_of(OWNER_A), conversation)
            assert (event.correlation_id, event.causation_id) == ("SM-turn-1", "evt-text-1")
            assert (event.data.event_id, event.data.owner, event.data.summary) == (created.event_id, OWNER_A, "Dentist")
            assert event.data.time_zone == "Europe/Madrid"
        assert events[0][2].data.start.isoformat() == "2026-12-01T08:00:00+00:00"
        assert events[1][2].data.start.isoformat() == "2026-12-01T09:00:00+00:00"

        rows = await audited(database_url, expected=3)
        assert [(r["type"], r["msg_id"]) for r in rows] == [
            (type(e).__name__, msg_id) for (_, _, e), msg_id in zip(events, msg_ids, strict=True)
        ]
        assert all(r["conversation"] == conversation_of(OWNER_A) and r["correlation_id"] == "SM-turn-1" for r in rows)
    finally:
        stop.set()
        await asyncio.wait_for(audit, 10)


async def test_a_change_the_stream_cannot_record_is_reported(bus, database_url):
    async with calendar_rig(bus, database_url) as rig:
        await bus.js.delete_stream(bus.stream)
        with pytest.raises(CalendarError) as failed:
            await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Dentist", start="2026-12-01T09:00"))
        assert failed.value.code == ErrorCode.BACKEND_UNAVAILABLE and "couldn't record" in failed.value.message
