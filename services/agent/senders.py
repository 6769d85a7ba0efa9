"""Who sent an input, read back from the stream: only for inputs upcast from MessageTranscribed v1.

v1 as first published did not copy `from`/`to` from the signed webhook. The
MessageReceived that started the chain has them and is still in the stream, under this
conversation's `received` subject; it is found by its `message_sid`. Reads only (the
event log's `next_for_subject`), so nothing is consumed.
"""

from __future__ import annotations

from shared.eventlog import EventLog
from shared.events import MessageReceived, MessageTranscribed, UnknownEvent, decode
from shared.ids import SUBJECT_ROOT

MAX_SCANNED = 10_000  # received messages of one conversation looked at before giving up


async def find_sender(events: EventLog, event: MessageTranscribed) -> tuple[str, str] | None:
    """(user, business) of the MessageReceived with `event`'s message_sid, or None."""
    subject = f"{SUBJECT_ROOT}.received.*.{event.conversation}"
    after = 0
    for _ in range(MAX_SCANNED):
        stored = await events.next_for_subject(subject, after)
        if stored is None:
            return None
        after = stored.seq
        try:
            received = decode(stored.data)
        except (UnknownEvent, ValueError):
            continue
        if isinstance(received, MessageReceived) and received.data.message_sid == event.data.message_sid:
            return received.data.from_, received.data.to
    return None
