"""Two more publishers on the in-memory event log: the transcriber's typed-text path and calendar announcements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.calendar.announce import announce
from services.calendar.ports import StoredEvent
from services.transcriber.handler import Transcriber, transcribe_message
from shared.calendar import CalendarError, ErrorCode, GetEvent
from shared.consumer import Delivery
from shared.eventlog_memory import InMemoryEventLog
from shared.events import CalendarEventCreated, MessageReceived, MessageReceivedData, MessageTranscribed, decode, utcnow
from shared.ids import conversation_id

BUSINESS, USER = "+14155238886", "+34600111222"
CONVERSATION = conversation_id(BUSINESS, USER)


class NoVoice:
    """A voice pipeline for messages with no audio: being asked to listen is a failure of the test."""

    async def listen(self, media):
        raise AssertionError("a typed message needs no transcription")


async def test_a_typed_message_becomes_one_text_event_however_often_it_is_delivered():
    log = InMemoryEventLog()
    deps = Transcriber(log, NoVoice(), max_deliver=3)  # type: ignore[arg-type]
    received = MessageReceived(conversation=CONVERSATION, data=MessageReceivedData(
        message_sid="SM1", from_=USER, to=BUSINESS, body="  what's on tomorrow?  ", received_at=utcnow()))
    for deliveries in (1, 2):
        await transcribe_message(received, Delivery("wa.received.3.x", 7, deliveries, 3, "transcriber"), deps)

    [stored] = log.messages
    text = decode(stored.data)
    assert isinstance(text, MessageTranscribed) and stored.headers["Nats-Msg-Id"] == "text:SM1"
    assert (text.data.text, text.data.source, text.data.from_, text.data.to) == ("what's on tomorrow?", "typed", USER, BUSINESS)
    assert text.causation_id == received.id and stored.subject.startswith("wa.text.") and stored.subject.endswith(CONVERSATION)


def dentist() -> StoredEvent:
    return StoredEvent(event_id="ev1", summary="Dentist", start=datetime(2026, 12, 4, 14, tzinfo=UTC),
                       end=datetime(2026, 12, 4, 15, tzinfo=UTC), time_zone="Europe/Madrid")


async def test_a_calendar_change_is_announced_once_and_an_unrecorded_one_is_reported_to_the_user():
    log = InMemoryEventLog()
    request = GetEvent(owner=USER, conversation=CONVERSATION, event_id="ev1", correlation_id="SM1")
    await announce(log, "created", USER, request, dentist())
    await announce(log, "created", USER, request, dentist())  # a retried request
    [stored] = log.messages
    created = decode(stored.data)
    assert isinstance(created, CalendarEventCreated) and created.data.event_id == "ev1"
    assert stored.headers["Nats-Msg-Id"] == "calendar:ev1:created" and created.correlation_id == "SM1"

    log.unavailable = True
    with pytest.raises(CalendarError) as refused:
        await announce(log, "deleted", USER, request, dentist())
    assert refused.value.code == ErrorCode.BACKEND_UNAVAILABLE and len(log.messages) == 1
