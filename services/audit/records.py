"""Turning a stored stream message into an `audit.events` row, whatever its payload.

Audit never loses an event: a payload that is not a current event (bad JSON, an
unknown type, a failed validation) is still recorded, with its type taken from the
`Sb-Type` header and the bytes wrapped as JSON, and the reason kept in `error`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from nats.aio.msg import Msg
from pydantic import ValidationError

from shared.events import Event, UnknownEvent, decode
from shared.ids import parse_stored_subject

UNKNOWN_TYPE = "unknown"


@dataclass(frozen=True)
class EventRecord:
    """One stream message as `audit.events` stores it, and the event it holds if it decodes."""

    row: dict[str, Any]
    event: Event | None

    @property
    def stream_seq(self) -> int:
        return self.row["stream_seq"]


def storable_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with NUL characters in its strings replaced: Postgres text cannot hold them."""
    return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in row.items()}


def from_msg(msg: Msg) -> EventRecord:
    meta = msg.metadata
    return to_record(meta.sequence.stream, msg.subject, msg.data, msg.headers, meta.timestamp)


def to_record(
    stream_seq: int, subject: str, data: bytes, headers: Mapping[str, str] | None, stored_at: datetime | None
) -> EventRecord:
    """The `audit.events` row of one stream message, and its event when it decodes."""
    record = _to_record(stream_seq, subject, data, headers or {}, stored_at)
    return EventRecord(storable_row(record.row), record.event)


def _to_record(
    stream_seq: int, subject: str, data: bytes, headers: Mapping[str, str], stored_at: datetime | None
) -> EventRecord:
    row: dict[str, Any] = {
        "stream_seq": stream_seq,
        "subject": subject,
        "msg_id": headers.get("Nats-Msg-Id"),
        "stored_at": stored_at,
        "error": None,
    }
    try:
        raw = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return EventRecord({**row, **_undecodable(subject, headers, None), "payload": _wrap(data),
                            "error": f"not JSON: {exc}"[:1000]}, None)
    # JSON can only carry a NUL as the escape \u0000; skip the walk when there is none.
    payload, altered = _storable(raw) if b"\\u0000" in data else (raw, False)
    if altered:
        row["error"] = "NUL characters replaced by U+FFFD (Postgres cannot store them in JSONB)"
    if not isinstance(raw, dict):
        return EventRecord({**row, **_undecodable(subject, headers, None), "payload": {"value": payload},
                            "error": "not a JSON object"}, None)
    try:
        event = decode(raw)
    except (UnknownEvent, ValidationError, ValueError, TypeError) as exc:
        return EventRecord({**row, **_undecodable(subject, headers, raw), "payload": payload,
                            "error": f"undecodable event: {exc}"[:1000]}, None)
    return EventRecord(
        {
            **row,
            # Type and version as stored, not as upcast: this is the record of what was published.
            "type": raw["type"],
            "version": raw.get("version"),
            "conversation": event.conversation,
            "event_id": event.id,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "occurred_at": event.occurred_at,
            "payload": payload,
        },
        event,
    )


def _undecodable(subject: str, headers: Mapping[str, str], raw: dict[str, Any] | None) -> dict[str, Any]:
    try:
        conversation: str | None = parse_stored_subject(subject)[2]
    except ValueError:
        conversation = None
    claimed = raw.get("type") if raw else None
    return {
        "type": headers.get("Sb-Type") or (claimed if isinstance(claimed, str) else None) or UNKNOWN_TYPE,
        "version": None,
        "conversation": conversation,
        "event_id": None,
        "correlation_id": None,
        "causation_id": None,
        "occurred_at": None,
    }


def _wrap(data: bytes) -> dict[str, str]:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return {"raw": text}
    return {"raw_base64": base64.b64encode(data).decode()}


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and JSONB would refuse them.
    raise ValueError(f"{name} is not valid JSON")


def _storable(value: Any) -> tuple[Any, bool]:
    """The value with NUL characters (which JSONB cannot hold) replaced, and whether any were."""
    if isinstance(value, str):
        return (value.replace("\x00", "\ufffd"), True) if "\x00" in value else (value, False)
    if isinstance(value, dict):
        altered = False
        out = {}
        for key, item in value.items():
            new_key, key_altered = _storable(key)
            out[new_key], item_altered = _storable(item)
            altered = altered or key_altered or item_altered
        return out, altered
    if isinstance(value, list):
        items = [_storable(item) for item in value]
        return [item for item, _ in items], any(flag for _, flag in items)
    return value, False
