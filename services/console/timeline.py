"""A conversation's recorded events as timeline entries: what happened, when, and how long
each stage took (the time from the event that caused it).

Pure functions of `audit.events` rows, so the page, the live stream and
`switchboard timeline` all say the same thing. Numbers and bodies go through `Privacy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from services.console.masking import Privacy

STAGES = {
    "MessageTranscribed": "transcriber",
    "ReplyComposed": "agent",
    "AgentFailed": "agent",
    "MessageSent": "outbound",
    "SendFailed": "outbound",
    "CalendarEventCreated": "calendar",
    "CalendarEventUpdated": "calendar",
    "CalendarEventDeleted": "calendar",
    "DeliveryStatusChanged": "twilio",
}


@dataclass
class Entry:
    seq: int
    at: datetime | None
    type: str
    kind: str  # inbound, text, reply, sent, status, calendar, dead, failure, other
    title: str
    body: str = ""
    details: list[str] = field(default_factory=list)
    tools: list[tuple[str, bool]] = field(default_factory=list)
    badge: str = ""  # a delivery status, "failed", ...
    latency_ms: float | None = None
    stage: str = ""
    sid: str = ""

    @property
    def latency(self) -> str:
        if self.latency_ms is None:
            return ""
        seconds = self.latency_ms / 1000
        return f"{self.latency_ms:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"

    def as_text(self) -> str:
        when = self.at.strftime("%Y-%m-%d %H:%M:%S") if self.at else "?"
        stage = f" [{self.stage} {self.latency}]" if self.latency else ""
        lines = [f"{self.seq:>8}  {when}  {self.title}{stage}"]
        if self.body:
            lines.append(f"{'':>10}{self.body}")
        lines += [f"{'':>10}{detail}" for detail in self.details]
        lines += [f"{'':>10}tool {name}: {'ok' if ok else 'failed'}" for name, ok in self.tools]
        return "\n".join(lines)


def entries(rows: Sequence[Mapping[str, Any]], privacy: Privacy, times: dict[str, datetime] | None = None) -> list[Entry]:
    """Timeline entries for rows in stream order. `times` (event id → time) carries the
    times of earlier events across calls, for the latency of later ones; it is updated."""
    times = {} if times is None else times
    found = []
    for row in rows:
        entry = entry_of(row, privacy)
        at, cause = row.get("occurred_at"), row.get("causation_id")
        if entry.type == "DeliveryStatusChanged":
            cause = f"sent:{entry.sid}"  # a status callback's latency counts from the send
        if at is not None and cause in times:
            entry.latency_ms = max(0.0, (at - times[cause]).total_seconds() * 1000)
            entry.stage = STAGES.get(entry.type, "")
        if at is not None and row.get("event_id"):
            times[row["event_id"]] = at
        if at is not None and entry.type == "MessageSent" and entry.sid:
            times[f"sent:{entry.sid}"] = at
        found.append(entry)
    return found


def entry_of(row: Mapping[str, Any], privacy: Privacy) -> Entry:
    kind = row["type"]
    payload = row.get("payload") or {}
    raw = payload.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    entry = Entry(seq=row["stream_seq"], at=row.get("occurred_at") or row.get("stored_at"), type=kind,
                  kind="other", title=kind)
    describe = _DESCRIBERS.get(kind)
    if describe is not None:
        describe(entry, data, privacy)
    else:
        entry.details.append("(an event this console does not describe; its fields are in audit.events)")
    if row.get("error"):
        entry.details.append(f"recorded with a problem: {row['error'][:200]}")
    return entry


def _received(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.title = "inbound", f"Inbound from {privacy.number(data.get('from'))}"
    entry.body = privacy.body(data.get("body"))
    entry.sid = str(data.get("message_sid", ""))
    for media in data.get("media") or []:
        entry.details.append(f"media: {media.get('content_type', '?')}")
    if data.get("profile_name"):
        entry.details.append(f"profile name: {privacy.body(data['profile_name'])}")


def _transcribed(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    source = data.get("source", "?")
    entry.kind = "text"
    entry.title = "Transcribed voice note" if source in ("voice", "mixed") else f"Text ready ({source})"
    entry.body = privacy.body(data.get("text"))
    facts = [f"engine {data['engine']}" if data.get("engine") else "",
             f"language {data['language']}" if data.get("language") else "",
             f"{data['duration_s']:.1f} s of audio" if isinstance(data.get("duration_s"), (int, float)) else "",
             f"confidence {data['confidence']:.0%}" if isinstance(data.get("confidence"), (int, float)) else ""]
    if any(facts):
        entry.details.append(", ".join(f for f in facts if f))
    if data.get("failure"):
        entry.kind, entry.badge = "failure", "failed"
        entry.details.append(f"failure ({data.get('failure_code') or 'unknown'}): {data['failure']}")


def _reply(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.title = "reply", f"Reply composed ({data.get('model', '?')})"
    entry.body = privacy.body(data.get("text"))
    entry.sid = str(data.get("reply_id", ""))
    entry.tools = [(str(call.get("name", "?")), bool(call.get("ok", True))) for call in data.get("tool_calls") or []]
    usage = data.get("usage") or {}
    if usage.get("input_tokens") or usage.get("output_tokens"):
        entry.details.append(f"tokens: {usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out")


def _sent(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.badge = "sent", "sent"
    entry.title = f"Sent part {data.get('part', '?')}/{data.get('parts', '?')} to {privacy.number(data.get('to'))}"
    entry.body = privacy.body(data.get("body"))
    entry.sid = str(data.get("twilio_sid", ""))


def _send_failed(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.badge = "failure", "failed"
    permanence = "permanent" if data.get("permanent") else "transient"
    entry.title = f"Send failed, part {data.get('part', '?')}/{data.get('parts', '?')} ({permanence})"
    entry.details.append(f"Twilio error {data.get('error_code') or '?'}: {data.get('error_message', '')[:300]}")


def _status(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    status = str(data.get("status", "?"))
    entry.kind, entry.badge, entry.title = "status", status, f"Delivery status: {status}"
    entry.sid = str(data.get("twilio_sid", ""))
    entry.details.append(f"message {entry.sid}")
    if data.get("error_code"):
        entry.details.append(f"Twilio error {data['error_code']}")


def _calendar(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    verb = entry.type.removeprefix("CalendarEvent").lower()
    entry.kind, entry.title = "calendar", f"Calendar event {verb}"
    entry.body = privacy.body(data.get("summary"))
    if data.get("start"):
        entry.details.append(f"{data['start']} → {data.get('end') or '?'} {data.get('time_zone') or ''}".strip())


def _dead(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.badge = "dead", "dead letter"
    entry.title = f"Dead letter: {data.get('consumer', '?')} gave up on event {data.get('stream_sequence', '?')}"
    entry.details.append(f"{data.get('original_type') or 'undecodable'} after {data.get('deliveries', '?')} "
                         f"deliveries: {str(data.get('error', ''))[:300]}")


def _dead_action(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind = "dead"
    if entry.type == "DeadLetterRetried":
        entry.title = (f"Dead letter {data.get('dead_letter_seq')} retried by {data.get('requested_by', '?')} "
                       f"(stored again as {data.get('republished_seq')})")
    else:
        entry.title = f"Dead letter {data.get('dead_letter_seq')} discarded by {data.get('requested_by', '?')}"
        if data.get("reason"):
            entry.details.append(f"reason: {str(data['reason'])[:300]}")


def _agent_failed(entry: Entry, data: dict[str, Any], privacy: Privacy) -> None:
    entry.kind, entry.badge = "failure", "failed"
    entry.title = f"Agent failed ({data.get('reason', '?')}) after {data.get('attempts', '?')} attempts"
    entry.details.append(str(data.get("error", ""))[:300])


_DESCRIBERS = {
    "MessageReceived": _received,
    "MessageTranscribed": _transcribed,
    "ReplyComposed": _reply,
    "MessageSent": _sent,
    "SendFailed": _send_failed,
    "DeliveryStatusChanged": _status,
    "CalendarEventCreated": _calendar,
    "CalendarEventUpdated": _calendar,
    "CalendarEventDeleted": _calendar,
    "MessageDeadLettered": _dead,
    "DeadLetterRetried": _dead_action,
    "DeadLetterDiscarded": _dead_action,
    "AgentFailed": _agent_failed,
}
