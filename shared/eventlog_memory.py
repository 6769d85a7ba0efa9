"""An in-memory `EventLog`, for handler tests that run in milliseconds with no servers.

It behaves like the `WHATSAPP` stream where services can tell the difference (the
contract suite, tests/contract/test_eventlog_contract.py, runs the same tests on it and
on JetStream):

- publishing to `wa.<kind>.<conversation>` stores `wa.<kind>.<partition>.<conversation>`;
  any other subject is refused with `PublishFailed`, as no stream would take it;
- a `Nats-Msg-Id` seen within `duplicate_window_s` (measured on the injected clock) is
  not stored again, and the first copy's sequence is returned;
- key-value buckets number every write (deletes included) with a bucket-wide revision.

The partition: in production the stream's subject transform decides it, on the server
(`shared.stream`). The fake computes the same function the server documents for
`partition(P, token)` (FNV-1a 32-bit of the token, modulo P); an integration test checks
the two agree, but only the server's answer counts in production.

Fault injection for tests: set `unavailable` to make publishes fail, as a lost NATS
connection does; `append` stores raw bytes (say, a payload no event decodes from).
Key-value TTLs are accepted and not enforced.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from shared.clock import SYSTEM_CLOCK, Clock
from shared.eventlog import KeyExists, KvEntry, PublishFailed, StoredMessage, WrongRevision, subject_matches
from shared.events import Event
from shared.ids import SUBJECT_ROOT
from shared.stream import DUPLICATE_WINDOW_S

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def server_partition(token: str, partitions: int) -> int:
    """nats-server's `partition(P, token)`: FNV-1a (32-bit) of the token, modulo P."""
    value = _FNV_OFFSET
    for byte in token.encode():
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value % partitions


class InMemoryEventLog:
    """`EventLog` in a list. Not thread-safe; one event loop at a time, as in a test."""

    def __init__(self, name: str = "WHATSAPP", partitions: int = 16, duplicate_window_s: float = DUPLICATE_WINDOW_S,
                 clock: Clock = SYSTEM_CLOCK):
        self.name = name
        self.partitions = partitions
        self.duplicate_window_s = duplicate_window_s
        self.clock = clock
        self.unavailable = False
        self.messages: list[StoredMessage] = []
        self._msg_ids: dict[str, tuple[int, float]] = {}  # msg id -> (seq, when stored, monotonic)
        self._buckets: dict[str, InMemoryKeyValue] = {}
        self._epoch = uuid.uuid4().hex

    def stored_subject(self, subject: str) -> str:
        """Apply the stream's subject transform; `PublishFailed` for a subject outside the stream."""
        tokens = subject.split(".")
        if len(tokens) != 3 or tokens[0] != SUBJECT_ROOT or not all(tokens):
            raise PublishFailed(f"no stream takes subject {subject!r}")
        _, kind, conversation = tokens
        return f"{SUBJECT_ROOT}.{kind}.{server_partition(conversation, self.partitions)}.{conversation}"

    async def publish(self, event: Event[Any], msg_id: str) -> int:
        return self.append(event.subject, event.to_bytes(), {"Nats-Msg-Id": msg_id, "Sb-Type": event.type})

    def append(self, subject: str, data: bytes, headers: Mapping[str, str] | None = None) -> int:
        """Store raw bytes as a publisher would (for tests); returns the sequence."""
        if self.unavailable:
            raise PublishFailed("not connected to NATS")
        stored_subject = self.stored_subject(subject)
        headers = dict(headers or {})
        now = self.clock.monotonic()
        msg_id = headers.get("Nats-Msg-Id")
        if msg_id is not None:
            seen = self._msg_ids.get(msg_id)
            if seen is not None and now - seen[1] < self.duplicate_window_s:
                return seen[0]
        seq = len(self.messages) + 1
        self.messages.append(StoredMessage(seq, stored_subject, data, headers, self.clock.now()))
        if msg_id is not None:
            self._msg_ids[msg_id] = (seq, now)
        return seq

    async def get(self, seq: int) -> StoredMessage | None:
        return self.messages[seq - 1] if 1 <= seq <= len(self.messages) else None

    async def next_for_subject(self, subject: str, after_seq: int) -> StoredMessage | None:
        for message in self.messages[max(after_seq, 0):]:
            if subject_matches(subject, message.subject):
                return message
        return None

    async def last_for_subject(self, subject: str) -> StoredMessage | None:
        for message in reversed(self.messages):
            if subject_matches(subject, message.subject):
                return message
        return None

    async def last_seq(self) -> int:
        return len(self.messages)

    async def epoch(self) -> str:
        return self._epoch

    def recreate(self) -> None:
        """Delete the log and start a new one: sequences begin at 1 again, under a new epoch."""
        self.messages.clear()
        self._msg_ids.clear()
        self._epoch = uuid.uuid4().hex

    async def read_all(self, from_seq: int = 1, to_seq: int | None = None) -> AsyncGenerator[StoredMessage, None]:
        last = len(self.messages) if to_seq is None else min(to_seq, len(self.messages))
        for seq in range(max(from_seq, 1), last + 1):
            yield self.messages[seq - 1]

    async def open_kv(
        self, bucket: str, *, history: int = 1, ttl_s: float | None = None, replicas: int = 1, description: str = "",
    ) -> InMemoryKeyValue:
        return self._buckets.setdefault(bucket, InMemoryKeyValue(bucket))


class InMemoryKeyValue:
    """`KeyValueStore` in a dict. A deleted key keeps its tombstone revision, as in JetStream."""

    def __init__(self, bucket: str):
        self.bucket = bucket
        self._revision = 0
        self._latest: dict[str, tuple[bytes | None, int]] = {}  # key -> (value or None if deleted, revision)

    def _write(self, key: str, value: bytes | None) -> int:
        self._revision += 1
        self._latest[key] = (value, self._revision)
        return self._revision

    async def get(self, key: str) -> KvEntry | None:
        value, revision = self._latest.get(key, (None, 0))
        return None if value is None else KvEntry(key, value, revision)

    async def put(self, key: str, value: bytes) -> int:
        return self._write(key, value)

    async def create(self, key: str, value: bytes) -> int:
        if await self.get(key) is not None:
            raise KeyExists(key)
        return self._write(key, value)

    async def update(self, key: str, value: bytes, last_revision: int) -> int:
        if self._latest.get(key, (None, 0))[1] != last_revision:
            raise WrongRevision(f"{key}: revision {last_revision} is not the latest")
        return self._write(key, value)

    async def delete(self, key: str) -> None:
        self._write(key, None)

    async def keys(self) -> list[str]:
        return [key for key, (value, _) in self._latest.items() if value is not None]
