"""WhatsApp's 24-hour customer-service window, from the event log.

A business may send free-form text only within 24 hours of the user's last message;
after that only an approved template goes through (Twilio error 63016 otherwise). The
user's last message is the last `MessageReceived` on the conversation's subject, read
back from the stream (a direct get: any replica, nothing consumed), so every replica
agrees and nothing needs to be kept in step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.eventlog import EventLog
from shared.events import MessageReceived, decode
from shared.ids import SUBJECT_ROOT

WINDOW = timedelta(hours=24)
# Sending at 23:59:59 races the window closing on Twilio's side: leave a margin.
MARGIN = timedelta(minutes=1)


async def last_inbound(events: EventLog, conversation: str) -> datetime | None:
    """When the user last wrote in this conversation, or None if never."""
    stored = await events.last_for_subject(f"{SUBJECT_ROOT}.received.*.{conversation}")
    if stored is None:
        return None
    event = decode(stored.data)
    if isinstance(event, MessageReceived):
        return event.data.received_at
    return stored.stored_at


def inside_window(last: datetime | None, now: datetime) -> bool:
    return last is not None and now - last < WINDOW - MARGIN
