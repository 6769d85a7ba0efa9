"""The event-log port on JetStream: the `WHATSAPP` stream and its key-value buckets.

Wraps a `Bus` (which keeps working as it is for the consumers in `shared/`, which use
JetStream directly). Reads are direct gets (`allow_direct` on the stream), so nothing is
consumed and any replica may answer; `read_all` uses a short-lived ephemeral consumer.
"""

from __future__ import annotations

import uuid
from typing import Any, AsyncGenerator

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig, RawStreamMsg, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from shared.bus import Bus
from shared.eventlog import KeyExists, KvEntry, StoredMessage, WrongRevision
from shared.events import Event
from shared.logging import get_logger

log = get_logger(__name__)

# Headers a direct get adds about the stored message: they describe it, the publisher did not set them.
_DIRECT_GET_HEADERS = frozenset({"Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp",
                                 "Nats-Last-Sequence", "Nats-Num-Pending"})
READ_CHUNK = 500
READ_FETCH_TIMEOUT_S = 2.0


def _stored(raw: RawStreamMsg) -> StoredMessage:
    headers = {k: v for k, v in (raw.headers or {}).items() if k not in _DIRECT_GET_HEADERS}
    return StoredMessage(seq=raw.seq or 0, subject=raw.subject or "", data=raw.data or b"", headers=headers,
                         stored_at=raw.time)


class JetStreamEventLog:
    """`EventLog` on the bus's stream."""

    def __init__(self, bus: Bus, read_chunk: int = READ_CHUNK):
        self.bus = bus
        self.name = bus.stream
        self.read_chunk = read_chunk

    async def publish(self, event: Event[Any], msg_id: str) -> int:
        return (await self.bus.publish(event, msg_id)).seq

    async def get(self, seq: int) -> StoredMessage | None:
        if seq < 1:
            return None
        return await self._direct_get(seq=seq)

    async def next_for_subject(self, subject: str, after_seq: int) -> StoredMessage | None:
        return await self._direct_get(seq=max(after_seq, 0) + 1, subject=subject, next=True)

    async def last_for_subject(self, subject: str) -> StoredMessage | None:
        return await self._direct_get(subject=subject)

    async def last_seq(self) -> int:
        return (await self.bus.js.stream_info(self.name)).state.last_seq

    async def epoch(self) -> str:
        # The stream's creation time survives restarts, leader changes and purges (an
        # erasure keeps sequences going); only deleting and re-creating the stream changes it.
        return str((await self.bus.js.stream_info(self.name)).created or "")

    async def _direct_get(self, **query: Any) -> StoredMessage | None:
        try:
            return _stored(await self.bus.js.get_msg(self.name, direct=True, **query))
        except NotFoundError:
            return None

    async def read_all(self, from_seq: int = 1, to_seq: int | None = None) -> AsyncGenerator[StoredMessage, None]:
        last = to_seq if to_seq is not None else await self.last_seq()
        if last < max(from_seq, 1):
            return
        js = self.bus.js
        name = f"read-all-{uuid.uuid4().hex[:12]}"
        await js.add_consumer(
            self.name,
            ConsumerConfig(
                name=name,
                description="read_all: every event once, in order",
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if from_seq > 1 else DeliverPolicy.ALL,
                opt_start_seq=from_seq if from_seq > 1 else None,
                ack_policy=AckPolicy.NONE,
                mem_storage=True,
                inactive_threshold=60.0,  # cleaned up by the server if this process dies
            ),
        )
        sub = await js.pull_subscribe_bind(consumer=name, stream=self.name)
        try:
            seen = from_seq - 1
            while seen < last:
                try:
                    msgs = await sub.fetch(self.read_chunk, timeout=READ_FETCH_TIMEOUT_S)
                except (TimeoutError, NatsTimeoutError):
                    # The last events may have been deleted from the stream: stop when none are left.
                    if (await sub.consumer_info()).num_pending == 0:
                        return
                    continue
                for msg in msgs:
                    meta = msg.metadata
                    seen = meta.sequence.stream
                    if seen > last:
                        return
                    yield StoredMessage(seq=seen, subject=msg.subject, data=msg.data or b"",
                                        headers=dict(msg.headers or {}), stored_at=meta.timestamp)
        finally:
            await sub.unsubscribe()
            try:
                await js.delete_consumer(self.name, name)
            except Exception as exc:  # it expires by itself; not worth failing the read over
                log.warning("read_all_consumer_not_deleted", error=str(exc))

    async def open_kv(
        self, bucket: str, *, history: int = 1, ttl_s: float | None = None, replicas: int = 1, description: str = "",
    ) -> JetStreamKeyValue:
        js = self.bus.js
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(bucket=bucket, description=description or None, history=history, ttl=ttl_s,
                               storage=StorageType.FILE, replicas=replicas)
            )
        return JetStreamKeyValue(kv)


class JetStreamKeyValue:
    """`KeyValueStore` on a JetStream key-value bucket."""

    def __init__(self, kv: KeyValue):
        self.kv = kv

    async def get(self, key: str) -> KvEntry | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:  # also raised for a deleted key
            return None
        return KvEntry(key, entry.value or b"", entry.revision or 0)

    async def put(self, key: str, value: bytes) -> int:
        return await self.kv.put(key, value)

    async def create(self, key: str, value: bytes) -> int:
        try:
            return await self.kv.create(key, value)
        except KeyWrongLastSequenceError as exc:
            raise KeyExists(key) from exc

    async def update(self, key: str, value: bytes, last_revision: int) -> int:
        try:
            return await self.kv.update(key, value, last=last_revision)
        except KeyWrongLastSequenceError as exc:
            raise WrongRevision(f"{key}: revision {last_revision} is not the latest") from exc

    async def delete(self, key: str) -> None:
        await self.kv.delete(key)

    async def keys(self) -> list[str]:
        try:
            return list(await self.kv.keys())
        except NoKeysError:
            return []
