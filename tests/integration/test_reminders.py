"""Reminders on real NATS (JetStream message schedules) through the real `twilio` library
to the emulator: on time, once, within WhatsApp's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.outbound.twilio_api import SendError, TwilioMessages
from shared.events import ReminderScheduled, ReminderSent, ReminderSuppressed
from switchboard.sandbox.server import TwilioEmulator
from tests.reminders_rig import SID, TOKEN, dispatching, open_book, reminder, stream_events, user_wrote
from tests.waiting import eventually, scaled


@pytest.fixture
async def emulator():
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as running:
        yield running


async def settled(bus, book, item, status: str) -> bool:
    current = await book.get(item.conversation, item.reminder_id)
    return current is not None and current.status == status


async def test_a_reminder_arrives_once_within_seconds_of_its_time(bus, emulator):
    user = "+34600100001"
    await user_wrote(bus, user)
    async with dispatching(bus, emulator.url) as deps:
        item = reminder(user, "pay the electricity bill", datetime.now(UTC) + timedelta(seconds=3))
        await deps.book.schedule(item)
        await eventually(lambda: settled(bus, deps.book, item, "sent"), 30, "the reminder sent")
    [message] = emulator.sent_to(user)
    assert message["body"] == "⏰ Reminder: pay the electricity bill"
    lateness = message["received_at"] - item.due_at.timestamp()
    # Never early; seconds late at most (the timer fires on time, not at some later sweep). The
    # lateness itself is measured in docs/benchmarks.md (p99 0.3 s); 5 s leaves a busy machine room.
    assert 0 <= lateness <= scaled(5.0)
    [sent] = await stream_events(bus, ReminderSent)
    assert sent.data.reminder_id == item.reminder_id and sent.data.mode == "freeform"
    assert [e.data.reminder_id for e in await stream_events(bus, ReminderScheduled)] == [item.reminder_id]


async def test_outside_the_window_the_configured_template_is_sent(bus, emulator):
    user = "+34600100002"
    await user_wrote(bus, user, ago=timedelta(hours=25))
    emulator.state.rules.mode = "strict"  # like Twilio: the emulator never saw this user write
    async with dispatching(bus, emulator.url) as deps:
        item = reminder(user, "call the bank", datetime.now(UTC) + timedelta(seconds=1), time_zone="Europe/Madrid")
        await deps.book.schedule(item)
        await eventually(lambda: settled(bus, deps.book, item, "sent"), 30, "the reminder sent")
    [message] = emulator.sent_to(user)
    local = item.due_at.astimezone(ZoneInfo("Europe/Madrid"))
    assert message["content_sid"] == "HX00000000000000000000000000000e01"
    assert message["body"] == f"⏰ Reminder: call the bank (due at {local:%H:%M}). Reply to chat with me again."
    [sent] = await stream_events(bus, ReminderSent)
    assert sent.data.mode == "template" and sent.data.content_sid == message["content_sid"]


async def test_outside_the_window_without_a_template_nothing_is_sent_and_the_reason_is_recorded(bus, emulator):
    user = "+34600100003"
    await user_wrote(bus, user, ago=timedelta(hours=30))
    async with dispatching(bus, emulator.url, templates={"reminder": {"en": "HX" + "1" * 32}}) as deps:
        item = reminder(user, "recoger el paquete", datetime.now(UTC) + timedelta(seconds=1), language="es")
        await deps.book.schedule(item)
        await eventually(lambda: settled(bus, deps.book, item, "suppressed"), 30, "the reminder suppressed")
    assert emulator.sent_to(user) == []
    [suppressed] = await stream_events(bus, ReminderSuppressed)
    assert suppressed.data.reason == "no_template" and "'es' reminder template" in suppressed.data.detail


async def test_the_emulator_refuses_free_form_outside_the_window_with_63016(emulator):
    user, business = "+34600100004", "+14155238886"
    twilio = TwilioMessages(SID, TOKEN, emulator.url, timeout_s=5)
    try:
        emulator.state.rules.user_wrote(user)  # what posting the user's message through the emulator records
        assert await twilio.send(business, user, "inside the window", None)
        async with httpx.AsyncClient(auth=(SID, TOKEN)) as client:  # a day and a minute later
            answer = await client.post(f"{emulator.url}/_sandbox/clock", json={"offset_s": 24 * 3600 + 60})
        assert answer.status_code == 200
        with pytest.raises(SendError) as refused:
            await twilio.send(business, user, "outside the window", None)
        assert refused.value.code == 63016 and refused.value.permanent
        sid = await twilio.send_content(business, user, "HX00000000000000000000000000000e02",
                                        {"1": "regar las plantas", "2": "09:00"}, None)
        assert sid.startswith("SM")
    finally:
        await twilio.close()
    assert [m["body"] for m in emulator.sent_to(user)] == [
        "inside the window",
        "⏰ Recordatorio: regar las plantas (a las 09:00). Respóndeme para seguir hablando.",
    ]


async def test_a_moved_reminder_fires_at_its_new_time_only_and_a_cancelled_one_never(bus, emulator):
    user = "+34600100005"
    await user_wrote(bus, user)
    async with dispatching(bus, emulator.url) as deps:
        soon = datetime.now(UTC) + timedelta(seconds=2)
        moved, cancelled, marker = (reminder(user, "moved", soon), reminder(user, "cancelled", soon),
                                    reminder(user, "marker", soon + timedelta(seconds=2)))
        for item in (moved, cancelled, marker):
            await deps.book.schedule(item)
        await deps.book.move(moved.conversation, moved.reminder_id, soon + timedelta(seconds=3), "user")
        await deps.book.cancel(cancelled.conversation, cancelled.reminder_id, "user")
        await eventually(lambda: settled(bus, deps.book, marker, "sent"), 30, "the marker sent")
        assert [m["body"] for m in emulator.sent_to(user)] == ["⏰ Reminder: marker"]  # not the old time's
        await eventually(lambda: settled(bus, deps.book, moved, "sent"), 30, "the moved one sent")
    assert [m["body"] for m in emulator.sent_to(user)] == ["⏰ Reminder: marker", "⏰ Reminder: moved"]
    assert (await deps.book.get(cancelled.conversation, cancelled.reminder_id)).status == "cancelled"


async def test_a_reminder_set_twice_with_the_same_id_is_one_reminder(bus, emulator):
    user = "+34600100006"
    await user_wrote(bus, user)
    async with dispatching(bus, emulator.url) as deps:
        item = reminder(user, "once", datetime.now(UTC) + timedelta(seconds=1))
        await deps.book.schedule(item)
        await deps.book.schedule(item)  # a turn run again after a crash
        await eventually(lambda: settled(bus, deps.book, item, "sent"), 30, "the reminder sent")
        await eventually(lambda: _consumer_idle(bus), 30, "the dispatcher idle")
    assert len(emulator.sent_to(user)) == 1
    assert len(await stream_events(bus, ReminderScheduled)) == 1


async def _consumer_idle(bus) -> bool:
    info = await bus.js.consumer_info("REMINDER_TIMERS", "reminders-dispatch")
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_templates_added_to_the_emulator_are_rendered_and_unknown_ones_refused(emulator):
    user, business = "+34600100007", "+14155238886"
    async with httpx.AsyncClient(auth=(SID, TOKEN)) as client:
        created = await client.post(f"{emulator.url}/_sandbox/content", json={
            "friendly_name": "appointment", "language": "en", "body": "See you at {{1}}, {{2}}!"})
        bad = await client.post(f"{emulator.url}/_sandbox/content", json={"friendly_name": "x", "body": " "})
    assert created.status_code == 201 and bad.status_code == 400
    twilio = TwilioMessages(SID, TOKEN, emulator.url, timeout_s=5)
    try:
        await twilio.send_content(business, user, created.json()["sid"], {"1": "10:00", "2": "Ana"}, None)
        with pytest.raises(SendError) as unknown:
            await twilio.send_content(business, user, "HX" + "f" * 32, {}, None)
    finally:
        await twilio.close()
    assert unknown.value.code == 21655 and unknown.value.permanent
    assert [m["body"] for m in emulator.sent_to(user)] == ["See you at 10:00, Ana!"]


async def test_reminders_work_with_the_agent_and_outbound_on_their_own_nats_identities(authorized_nats, emulator):
    """The agent sets (and cancels) reminders, outbound sends them and follows the calendar,
    each with only the permissions shared.nats_permissions gives it."""
    user = "+34600100008"
    agent_bus, outbound_bus = await authorized_nats.bus_as("agent"), await authorized_nats.bus_as("outbound")
    await user_wrote(await authorized_nats.bus_as("gateway"), user)
    book = await open_book(agent_bus)  # the agent creates the timer stream if provisioning did not
    async with dispatching(outbound_bus, emulator.url, calendar=True) as deps:
        kept = reminder(user, "kept", datetime.now(UTC) + timedelta(seconds=2))
        dropped = reminder(user, "dropped", datetime.now(UTC) + timedelta(seconds=2))
        await book.schedule(kept)
        await book.schedule(dropped)
        await book.cancel(dropped.conversation, dropped.reminder_id, "user")
        await book.set_opted_out(kept.conversation, user, False, "START", msg_id="opt:identity-test")
        await eventually(lambda: settled(outbound_bus, deps.book, kept, "sent"), 30, "the reminder sent")
    assert [m["body"] for m in emulator.sent_to(user)] == ["⏰ Reminder: kept"]
    assert not [error for errors in authorized_nats.errors.values() for error in errors], authorized_nats.errors
