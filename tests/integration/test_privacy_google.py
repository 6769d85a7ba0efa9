"""On Google Calendar, an erasure removes only the events this assistant created for the
user (found in the stream), never the rest of their calendar; run again, it removes nothing."""

from __future__ import annotations

from services.audit.database import create_engine
from services.calendar.bootstrap import build_backends
from services.calendar.privacy import CalendarData
from shared.calendar import CreateEvent
from shared.eventlog_jetstream import JetStreamEventLog
from shared.privacy import DataSubject
from shared.privacy_jetstream import StreamData
from tests.fakes.calendar_rig import OWNER_A, OWNER_B, calendar_rig, conversation_of


async def test_only_the_events_we_created_leave_a_google_calendar(bus, database_url, tmp_path):
    async with calendar_rig(bus, database_url, "google", tmp_path) as rig:
        made = await rig.client.create(CreateEvent(**rig.who(OWNER_A), summary="Dentist", start="2026-12-01T09:00"))
        await rig.client.create(CreateEvent(**rig.who(OWNER_B), summary="Tennis", start="2026-12-01T10:00"))
        theirs = rig.fake.insert(f"{OWNER_A[1:]}@group.calendar.google.com", {
            "summary": "Their own plans", "start": {"dateTime": "2026-12-02T09:00:00Z"},
            "end": {"dateTime": "2026-12-02T10:00:00Z"}})
        events = JetStreamEventLog(bus)
        stream = StreamData(events, bus.js)
        base = DataSubject(OWNER_A, (conversation_of(OWNER_A),), cut_seq=await events.last_seq())
        subject = DataSubject(base.number, base.conversations, base.cut_seq, await stream.traces(base))
        assert made.event.event_id in subject.traces.calendar_event_ids

        backends = build_backends(rig.settings)
        engine = create_engine(database_url, pool_size=1)
        try:
            store = CalendarData(engine, backends.google)
            exported = await store.export(subject)
            assert [e["summary"] for e in exported["google"]] == ["Dentist"]
            assert await store.erase(subject) == 1
            assert await store.erase(subject) == 0  # again: already gone
        finally:
            await engine.dispose()
            await backends.close()
        calendars = rig.fake.calendars
        a_events = calendars[f"{OWNER_A[1:]}@group.calendar.google.com"]
        live = {e["summary"] for e in a_events.values() if e.get("status") != "cancelled"}
        assert live == {"Their own plans"} and theirs["id"] in a_events
        b_events = calendars[f"{OWNER_B[1:]}@group.calendar.google.com"]
        assert {e["summary"] for e in b_events.values() if e.get("status") != "cancelled"} == {"Tennis"}
