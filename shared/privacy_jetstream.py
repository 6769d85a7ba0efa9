"""Personal data in JetStream: the event stream and the key-value buckets keyed by conversation.

`StreamData` exports a user's events and erases them with a purge by subject (every
subject ends in the conversation id) up to the erasure's cut sequence, so events stored
after the cut (messages that arrived during the erasure) stay as the start of a fresh
conversation. An event after the cut whose chain began before it (a reply that was
being composed when the erasure started) is deleted too. Its `sweep` drops events older
than the retention limit by their `occurred_at`.

Key-value buckets are streams (`KV_<bucket>`, subjects `$KV.<bucket>.<key>`): a key is
erased with a purge of its subject, which leaves no delete marker holding the key.

NATS permissions the operator tool needs (docs/privacy.md): `$JS.API.STREAM.PURGE.<stream>`,
`$JS.API.STREAM.MSG.DELETE.<stream>`, `$JS.API.STREAM.INFO.*`, `$JS.API.DIRECT.GET.<stream>`
and the same for `KV_WHATSAPP_PROGRESS`, `KV_OUTBOUND_SENT`, `KV_GATEWAY_SEEN`,
`KV_PRIVACY_ERASURES`, `KV_PRIVACY_CUTS`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Iterable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.eventlog import EventLog, StoredMessage
from shared.events import (
    CalendarEventCreated,
    Event,
    MessageReceived,
    MessageSent,
    ReplyComposed,
    UnknownEvent,
    decode,
)
from shared.ids import SUBJECT_ROOT
from shared.privacy import DataSubject, Traces


def conversation_filter(conversation: str) -> str:
    """Every stored subject of one conversation, whatever its kind and partition."""
    return f"{SUBJECT_ROOT}.*.*.{conversation}"


async def purge(js: JetStreamContext, stream: str, *, subject: str | None = None, before_seq: int | None = None) -> int:
    """Purge `stream` (only `subject` if given; only below `before_seq` if given); how many went."""
    request: dict[str, Any] = {}
    if subject:
        request["filter"] = subject
    if before_seq is not None:
        request["seq"] = before_seq
    reply = await js._nc.request(f"$JS.API.STREAM.PURGE.{stream}", json.dumps(request).encode(), timeout=10)
    answer = json.loads(reply.data)
    if "error" in answer:
        raise RuntimeError(f"purge of {stream} failed: {answer['error'].get('description', answer['error'])}")
    return int(answer.get("purged", 0))


async def purge_kv_keys(js: JetStreamContext, bucket: str, keys: Iterable[str]) -> int:
    """Remove `keys` from a key-value bucket without a trace (a missing bucket holds nothing)."""
    removed = 0
    for key in keys:
        try:
            removed += await purge(js, f"KV_{bucket}", subject=f"$KV.{bucket}.{key}")
        except RuntimeError as exc:
            if "not found" in str(exc).lower():
                return removed
            raise
    return removed


async def kv_items(js: JetStreamContext, bucket: str, keys: Iterable[str]) -> dict[str, str]:
    """The current values of `keys` that exist, as text."""
    found: dict[str, str] = {}
    try:
        kv = await js.key_value(bucket)
    except NotFoundError:
        return found
    for key in keys:
        try:
            entry = await kv.get(key)
        except NotFoundError:
            continue
        found[key] = (entry.value or b"").decode(errors="replace")
    return found


def _decoded(message: StoredMessage) -> Event[Any] | None:
    try:
        return decode(message.data)
    except (UnknownEvent, ValueError):
        return None


class StreamData:
    """The event stream as a `PersonalDataStore` and a `RetentionSweeper`."""

    name = "stream"

    def __init__(self, events: EventLog, js: JetStreamContext):
        self.events, self.js = events, js

    async def messages(self, conversation: str, after_seq: int = 0, up_to: int | None = None) -> list[StoredMessage]:
        """The conversation's stored events after `after_seq` (up to `up_to`), in order."""
        found, seq = [], after_seq
        while (message := await self.events.next_for_subject(conversation_filter(conversation), seq)) is not None:
            if up_to is not None and message.seq > up_to:
                break
            found.append(message)
            seq = message.seq
        return found

    async def traces(self, subject: DataSubject) -> Traces:
        sids: set[str] = set()
        replies: set[str] = set()
        calendar: set[str] = set()
        for conversation in subject.conversations:
            for message in await self.messages(conversation, up_to=subject.cut_seq or None):
                event = _decoded(message)
                if isinstance(event, MessageReceived):
                    sids.add(event.data.message_sid)
                elif isinstance(event, (ReplyComposed, MessageSent)):
                    replies.add(event.data.reply_id)
                elif isinstance(event, CalendarEventCreated):
                    calendar.add(event.data.event_id)
        return Traces(frozenset(sids), frozenset(replies), frozenset(calendar))

    async def export(self, subject: DataSubject) -> Any:
        exported = []
        for conversation in subject.conversations:
            for message in await self.messages(conversation):
                event = _decoded(message)
                exported.append({
                    "seq": message.seq,
                    "stored_at": message.stored_at.isoformat() if message.stored_at else None,
                    "event": event.model_dump(mode="json") if event else message.data.decode(errors="replace"),
                })
        return exported

    async def erase(self, subject: DataSubject) -> int:
        removed = 0
        for conversation in subject.conversations:
            removed += await purge(self.js, self.events.name, subject=conversation_filter(conversation),
                                   before_seq=subject.cut_seq + 1)
            removed += await self._drop_orphans(conversation, subject.cut_seq)
        return removed

    async def _drop_orphans(self, conversation: str, cut_seq: int) -> int:
        """Events after the cut whose chain started before it (nothing of that chain is left to explain them)."""
        later = [(message, _decoded(message)) for message in await self.messages(conversation, after_seq=cut_seq)]
        fresh = {event.id for _, event in later if event is not None}
        removed = 0
        for message, event in later:
            if event is not None and event.correlation_id and event.correlation_id not in fresh:
                await self.js.delete_msg(self.events.name, message.seq)
                removed += 1
        return removed

    async def sweep(self, before: datetime) -> int:
        """Purge the events that occurred before `before` (the oldest come first in the stream)."""
        info = await self.js.stream_info(self.events.name)
        after, keep_from = info.state.first_seq - 1, info.state.last_seq + 1
        while (message := await self.events.next_for_subject(f"{SUBJECT_ROOT}.>", after)) is not None:
            event = _decoded(message)
            when = event.occurred_at if event is not None else message.stored_at
            if when is not None and when >= before:
                keep_from = message.seq
                break
            after = message.seq
        if keep_from <= info.state.first_seq:
            return 0
        return await purge(self.js, self.events.name, before_seq=keep_from)


# The ordered stages, and the kind of event each one handles (see shared/consumer.py).
ORDERED_STAGES = {"transcriber-received": "received", "agent-text": "text", "outbound-reply": "reply"}


async def unsettled_stages(stream_data: StreamData, js: JetStreamContext, subject: DataSubject,
                           timeout_s: float = 60.0) -> list[str]:
    """Wait until every ordered stage has finished the subject's events up to the cut.

    A turn still running for an input before the cut would otherwise write its memory, its
    ledger entries or its progress after their stores were erased. Returns the stages (per
    conversation) that did not finish within `timeout_s` (a stage that is down, say); the
    caller goes on and says so.
    """
    try:
        kv = await js.key_value(f"{stream_data.events.name}_PROGRESS")
    except NotFoundError:
        return []
    deadline = asyncio.get_running_loop().time() + timeout_s
    late: list[str] = []
    for conversation in subject.conversations:
        before_cut = await stream_data.messages(conversation, up_to=subject.cut_seq)
        for stage, kind in ORDERED_STAGES.items():
            wanted = max((m.seq for m in before_cut if m.subject.split(".")[1] == kind), default=0)
            while wanted and await _done(kv, f"{stage}.{conversation}") < wanted:
                if asyncio.get_running_loop().time() > deadline:
                    late.append(stage)
                    break
                await asyncio.sleep(0.1)
    return late


async def _done(kv: Any, key: str) -> int:
    try:
        entry = await kv.get(key)
        return int((entry.value or b"0").split()[0])
    except (NotFoundError, ValueError, IndexError):
        return 0


class ProgressData:
    """`<stream>_PROGRESS`: the last event each ordered stage finished, per conversation."""

    name = "progress"

    def __init__(self, js: JetStreamContext, stream: str):
        self.js, self.bucket = js, f"{stream}_PROGRESS"

    async def export(self, subject: DataSubject) -> Any:
        return {}  # stream sequences only: nothing a person wrote or is

    async def erase(self, subject: DataSubject) -> int:
        return await purge_kv_keys(self.js, self.bucket, (f"*.{c}" for c in subject.conversations))


class SubjectsData:
    """A stream (or a key-value bucket's stream) whose subjects name the conversation.

    `patterns` are subject filters with `{conversation}` in them, e.g.
    `$KV.REMINDERS.{conversation}.*` or `timers.*.{conversation}.*`. Erasing purges them
    whole (what such stores hold is current state, not history, so there is no cut).
    """

    def __init__(self, name: str, js: JetStreamContext, stream: str, patterns: tuple[str, ...]):
        self.name, self.js, self.stream, self.patterns = name, js, stream, patterns

    def _filters(self, subject: DataSubject) -> list[str]:
        return [p.format(conversation=c) for c in subject.conversations for p in self.patterns]

    async def export(self, subject: DataSubject) -> Any:
        found: list[dict[str, Any]] = []
        for filter_subject in self._filters(subject):
            seq = 0
            while True:
                try:
                    raw = await self.js.get_msg(self.stream, seq=seq + 1, subject=filter_subject, next=True)
                except NotFoundError:
                    break
                seq = raw.seq or seq + 1
                found.append({"subject": raw.subject, "data": (raw.data or b"").decode(errors="replace")})
        return found

    async def erase(self, subject: DataSubject) -> int:
        removed = 0
        for filter_subject in self._filters(subject):
            try:
                removed += await purge(self.js, self.stream, subject=filter_subject)
            except RuntimeError as exc:
                if "not found" not in str(exc).lower():
                    raise
                return removed  # the stream does not exist here: nothing to erase
        return removed
