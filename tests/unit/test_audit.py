"""Audit's pure parts: turning stream messages into rows, folding events, settings."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.audit.config import AuditSettings
from services.audit.projection import conversation_totals, in_rounds, message_fact
from services.audit.records import to_record
from shared.batch import BatchPolicy
from shared.events import (
    MessageReceived,
    MessageReceivedData,
    MessageSent,
    MessageSentData,
    SendFailed,
    SendFailedData,
)
from shared.ids import conversation_id

BUSINESS, USER = "+14155238886", "+34600111222"
CONVERSATION = conversation_id(BUSINESS, USER)
SUBJECT = f"wa.received.3.{CONVERSATION}"
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def received(sid: str = "SM1", body: str = "hi", when: float = 0) -> MessageReceived:
    return MessageReceived(
        conversation=CONVERSATION,
        occurred_at=T0 + timedelta(seconds=when),
        correlation_id="corr",
        data=MessageReceivedData(message_sid=sid, from_=USER, to=BUSINESS, body=body, received_at=T0),
    )


def sent(sid: str, when: float = 0) -> MessageSent:
    return MessageSent(
        conversation=CONVERSATION,
        occurred_at=T0 + timedelta(seconds=when),
        data=MessageSentData(reply_id="r", part=1, parts=1, twilio_sid=sid, from_=BUSINESS, to=USER, body="ok"),
    )


def test_a_decodable_event_keeps_its_envelope_and_payload_as_stored():
    event = received()
    record = to_record(7, SUBJECT, event.to_bytes(), {"Nats-Msg-Id": "SM1", "Sb-Type": "MessageReceived"}, T0)
    row = record.row
    assert record.event == event
    assert (row["stream_seq"], row["subject"], row["msg_id"], row["type"], row["version"]) == (
        7, SUBJECT, "SM1", "MessageReceived", 1,
    )
    assert (row["conversation"], row["event_id"], row["correlation_id"], row["occurred_at"]) == (
        CONVERSATION, event.id, "corr", T0,
    )
    assert row["payload"] == json.loads(event.to_bytes()) and row["error"] is None and row["stored_at"] == T0


def test_bytes_that_are_not_json_are_kept_whole():
    record = to_record(1, SUBJECT, b"\xff\x00binary", {"Sb-Type": "MessageReceived"}, None)
    assert record.event is None
    assert record.row["type"] == "MessageReceived" and record.row["conversation"] == CONVERSATION
    assert base64.b64decode(record.row["payload"]["raw_base64"]) == b"\xff\x00binary"
    assert record.row["error"].startswith("not JSON")

    text = to_record(2, SUBJECT, b"hello there", None, None)
    assert text.row["payload"] == {"raw": "hello there"} and text.row["type"] == "unknown"


def test_json_that_is_not_an_event_is_recorded_with_the_type_it_claims():
    unknown = to_record(1, SUBJECT, b'{"type": "FromTheFuture", "version": 3, "x": 1}', None, None)
    assert unknown.event is None and unknown.row["type"] == "FromTheFuture"
    assert unknown.row["payload"] == {"type": "FromTheFuture", "version": 3, "x": 1}
    assert "unknown event type" in unknown.row["error"]

    invalid = to_record(2, SUBJECT, b'{"type": "MessageReceived", "version": 1}', {"Sb-Type": "MessageReceived"}, None)
    assert invalid.event is None and invalid.row["type"] == "MessageReceived" and invalid.row["event_id"] is None

    not_json = to_record(3, SUBJECT, b'{"value": NaN}', None, None)
    assert not_json.event is None and not_json.row["payload"] == {"raw": '{"value": NaN}'}

    scalar = to_record(4, "garbage", b'"just a string"', None, None)
    assert scalar.row["payload"] == {"value": "just a string"} and scalar.row["conversation"] is None


def test_nul_characters_which_postgres_cannot_store_are_replaced():
    record = to_record(1, SUBJECT, received(body="a\x00b").to_bytes(), {"Nats-Msg-Id": "x\x00"}, None)
    assert record.event is not None and record.event.data.body == "a\x00b"
    assert record.row["payload"]["data"]["body"] == "a\ufffdb"
    assert record.row["msg_id"] == "x\ufffd" and "NUL" in record.row["error"]


def test_rounds_never_touch_a_message_twice_and_keep_a_stable_order():
    facts = [message_fact(e) for e in (sent("SMb"), sent("SMa"), sent("SMb", 1), sent("SMc"), sent("SMb", 2))]
    rounds = in_rounds(facts)
    assert [[f["message_sid"] for f in r] for r in rounds] == [["SMa", "SMb", "SMc"], ["SMb"], ["SMb"]]
    assert [r[-1]["updated_at"] for r in rounds[1:]] == [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]


def test_only_message_events_make_message_rows():
    failed = SendFailed(conversation=CONVERSATION, data=SendFailedData(reply_id="r", part=1, parts=1, permanent=True))
    assert message_fact(failed) is None
    fact = message_fact(received(body="hello"))
    assert (fact["direction"], fact["status"], fact["from_number"], fact["body"], fact["media_count"]) == (
        "inbound", "received", USER, "hello", 0,
    )


def test_conversation_totals_add_up_whatever_the_order():
    events = [received("SM1", when=5), sent("SMo", when=9), received("SM2", when=1)]
    forward, backward = conversation_totals(events), conversation_totals(events[::-1])
    assert forward == backward
    (row,) = forward
    assert (row["business_number"], row["user_number"]) == (BUSINESS, USER)
    assert (row["inbound_count"], row["outbound_count"], row["event_count"]) == (2, 1, 3)
    assert (row["first_activity_at"], row["last_activity_at"]) == (T0 + timedelta(seconds=1), T0 + timedelta(seconds=9))


def test_backoff_grows_with_deliveries_and_stops_growing():
    policy = BatchPolicy(backoff_s=(0.5, 2.0, 10.0))
    assert [policy.delay_after(n) for n in (0, 1, 2, 3, 50)] == [0.5, 0.5, 2.0, 10.0, 10.0]


def test_settings_require_a_postgres_database_url(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL is required"):
        AuditSettings()
    monkeypatch.setenv("DATABASE_URL", "mysql://db/audit")
    with pytest.raises(ValidationError, match="postgresql://"):
        AuditSettings()
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/switchboard")
    monkeypatch.setenv("AUDIT_BATCH_SIZE", "100")
    settings = AuditSettings()
    policy = settings.batch_policy()
    assert (policy.batch_size, policy.ack_wait_s, policy.max_ack_pending) == (100, 60.0, 4096)
