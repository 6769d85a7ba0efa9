from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared import events as ev
from shared.events import (
    CATALOG,
    MessageReceived,
    MessageReceivedData,
    UnknownEvent,
    decode,
    reading,
    register_upcaster,
    utcnow,
)
from shared.ids import conversation_id, is_conversation_id, normalise_address, parse_stored_subject


def make_received() -> MessageReceived:
    return MessageReceived(
        conversation=conversation_id("+14155238886", "+34600111222"),
        data=MessageReceivedData(message_sid="SM1", from_="+34600111222", to="+14155238886", body="hi", received_at=utcnow()),
    )


def test_round_trip_through_bytes_and_wire_names():
    event = make_received()
    raw = json.loads(event.to_bytes())
    assert raw["type"] == "MessageReceived" and raw["version"] == 1
    assert raw["data"]["from"] == "+34600111222" and "from_" not in raw["data"]
    assert set(raw) == {"id", "type", "version", "conversation", "occurred_at", "correlation_id", "causation_id", "data"}
    assert decode(event.to_bytes()) == event


def test_events_are_frozen():
    event = make_received()
    with pytest.raises(ValidationError):
        event.conversation = "other"  # type: ignore[misc]


def test_every_catalog_entry_has_a_kind_that_is_a_subject_token():
    for name, cls in CATALOG.items():
        assert cls.model_fields["type"].default == name
        assert cls.kind.isidentifier() and "." not in cls.kind


def test_caused_event_keeps_the_chain():
    first = make_received()
    second = first.caused(
        ev.MessageTranscribed, ev.MessageTranscribedData(message_sid="SM1", text="hi", source="typed")
    )
    assert second.conversation == first.conversation
    assert second.correlation_id == first.id and second.causation_id == first.id


def test_old_versions_are_upcast_when_read(monkeypatch):
    # Pretend an older v0 of MessageReceived called `body` `text`.
    registry: dict = {}
    monkeypatch.setattr(reading, "_UPCASTERS", registry)  # where register_upcaster and upcast look

    raw = json.loads(make_received().to_bytes())
    raw["version"] = 0
    raw["data"]["text"] = raw["data"].pop("body")
    with pytest.raises(UnknownEvent, match="no upcaster"):
        decode(raw)

    @register_upcaster("MessageReceived", from_version=0)
    def v0_to_v1(old: dict) -> dict:
        data = dict(old["data"])
        data["body"] = data.pop("text")
        return {**old, "version": 1, "data": data}

    assert registry == {("MessageReceived", 0): v0_to_v1}  # the patched registry is the one written and read
    event = decode(raw)
    assert event.version == 1 and event.data.body == "hi"


def test_unknown_types_are_refused_clearly():
    with pytest.raises(UnknownEvent, match="unknown event type 'Nope'"):
        decode({"type": "Nope", "version": 1})


def test_conversation_ids_are_opaque_stable_and_symmetric_in_format():
    a = conversation_id("whatsapp:+14155238886", "whatsapp:+34600111222")
    assert a == conversation_id("+14155238886", "+34600111222")
    assert a != conversation_id("+34600111222", "+14155238886")
    assert is_conversation_id(a)
    assert "34600111222" not in a
    assert normalise_address(" whatsapp:+1 ") == "+1"


def test_stored_subjects_are_parsed():
    assert parse_stored_subject("wa.received.3.cabc") == ("received", 3, "cabc")
    with pytest.raises(ValueError):
        parse_stored_subject("xx.received.3.cabc")
