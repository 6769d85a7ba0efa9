"""The event-log port: what services need from the stream and its key-value buckets.

Services publish events, read the stream back (one message, a conversation's next or
last message on a subject, everything in order) and keep small records in key-value
buckets. They depend on these protocols only; the composition root picks the adapter:

- `shared.eventlog_jetstream.JetStreamEventLog`: the real thing, over a `Bus`;
- `shared.eventlog_memory.InMemoryEventLog`: an in-memory fake for handler tests.

One contract suite (tests/contract/test_eventlog_contract.py) runs on both.

Consumption (ordered lanes, batches, ack policies) is not part of this port: the
consumers in `shared/` use JetStream directly and hand handlers plain events.

Subjects: events are published to `wa.<kind>.<conversation>`; the log stores them as
`wa.<kind>.<partition>.<conversation>`. Reads take stored subjects, where `*` matches
one token and a final `>` one or more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncGenerator, Mapping, Protocol

from shared.events import Event


class PublishFailed(RuntimeError):
    """The event was not confirmed stored; the caller must not acknowledge its input."""


class KeyExists(RuntimeError):
    """`create` found the key already there."""


class WrongRevision(RuntimeError):
    """`update` was given a revision that is not the key's latest."""


@dataclass(frozen=True)
class StoredMessage:
    """One message as the log holds it."""

    seq: int
    subject: str  # the stored subject, with the partition token
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # what the publisher set (Nats-Msg-Id, Sb-Type)
    stored_at: datetime | None = None


@dataclass(frozen=True)
class KvEntry:
    key: str
    value: bytes
    revision: int


class KeyValueStore(Protocol):
    """A key-value bucket. Revisions grow with every write to the bucket, across keys."""

    async def get(self, key: str) -> KvEntry | None:
        """The latest value of `key`, or None if it was never written or is deleted."""
        ...

    async def put(self, key: str, value: bytes) -> int:
        """Write `value` whatever was there; returns the new revision."""
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Write `value` only if `key` has no value (never written, or deleted); else `KeyExists`."""
        ...

    async def update(self, key: str, value: bytes, last_revision: int) -> int:
        """Write `value` only if `last_revision` is the key's latest; else `WrongRevision`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`'s value (deleting a missing key is not an error)."""
        ...

    async def keys(self) -> list[str]:
        """Every key with a value, in no particular order."""
        ...


class EventLog(Protocol):
    """The stream every service publishes to and reads back from."""

    name: str

    async def publish(self, event: Event[Any], msg_id: str) -> int:
        """Store `event` under `msg_id` and return its sequence; raises `PublishFailed`.

        A `msg_id` already stored within the log's duplicate window is not stored
        again: the sequence of the first copy is returned.
        """
        ...

    async def get(self, seq: int) -> StoredMessage | None:
        """The message at `seq`, or None."""
        ...

    async def next_for_subject(self, subject: str, after_seq: int) -> StoredMessage | None:
        """The first message on `subject` (wildcards allowed) stored after `after_seq`, or None."""
        ...

    async def last_for_subject(self, subject: str) -> StoredMessage | None:
        """The latest message on `subject` (wildcards allowed), or None."""
        ...

    async def last_seq(self) -> int:
        """The sequence of the last message stored (0 for an empty log)."""
        ...

    async def epoch(self) -> str:
        """What identifies this log's life: it changes when the log is deleted and created again.

        Sequences only mean something within one epoch; a store that remembers sequences
        (the agent's "answered up to") must forget them when the epoch changes.
        """
        ...

    def read_all(self, from_seq: int = 1, to_seq: int | None = None) -> AsyncGenerator[StoredMessage, None]:
        """Every message from `from_seq` to `to_seq` (default: the last one when called), in order.

        Close the generator (`contextlib.aclosing`) when stopping early: the JetStream
        adapter holds a consumer until then.
        """
        ...

    async def open_kv(
        self, bucket: str, *, history: int = 1, ttl_s: float | None = None, replicas: int = 1, description: str = "",
    ) -> KeyValueStore:
        """The bucket, created with these settings if it does not exist yet."""
        ...


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject matches a filter (`*` one token, final `>` the rest)."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)
