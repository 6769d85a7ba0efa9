"""Conversation ids, event ids and the subjects events live on.

The partition of a conversation is decided in exactly one place: the `WHATSAPP`
stream's subject transform (see `shared.stream`). Publishers write to
`wa.<kind>.<conversation>`; the stream stores the event as
`wa.<kind>.<partition>.<conversation>`, with the partition computed by the server as
a stable hash of the conversation id over P partitions. Nothing in Python
recomputes it, so the count can never disagree between services.
"""

from __future__ import annotations

import hashlib
import re
import uuid

SUBJECT_ROOT = "wa"
_CONVERSATION_RE = re.compile(r"^c[0-9a-f]{24}$")


def normalise_address(address: str) -> str:
    """Twilio addresses look like `whatsapp:+34600111222`; keep only the E.164 number."""
    value = address.strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:") :]
    return value.strip()


def conversation_id(business_number: str, user_number: str) -> str:
    """An opaque, stable id for the pair (business number, user number).

    It is a hash, so phone numbers never appear in subjects, metric labels or logs.
    """
    key = f"{normalise_address(business_number)}|{normalise_address(user_number)}"
    return "c" + hashlib.sha256(key.encode()).hexdigest()[:24]


def is_conversation_id(value: str) -> bool:
    return bool(_CONVERSATION_RE.match(value))


def new_event_id() -> str:
    return uuid.uuid4().hex


def publish_subject(kind: str, conversation: str) -> str:
    """The subject a publisher writes to; the stream adds the partition token."""
    return f"{SUBJECT_ROOT}.{kind}.{conversation}"


def partition_filter(kind: str, partition: int) -> str:
    """The stored-subject filter of one partition of one kind of event."""
    return f"{SUBJECT_ROOT}.{kind}.{partition}.*"


def parse_stored_subject(subject: str) -> tuple[str, int, str]:
    """Split a stored subject `wa.<kind>.<partition>.<conversation>`."""
    root, kind, partition, conversation = subject.split(".")
    if root != SUBJECT_ROOT:
        raise ValueError(f"not a Switchboard subject: {subject!r}")
    return kind, int(partition), conversation
