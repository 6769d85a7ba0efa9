"""Which replica of a stage serves which partitions.

Every replica of a stage writes a heartbeat key into a key-value bucket whose entries
expire (`max_age`), so the live members are simply the bucket's keys. Each replica
computes the same assignment from the same member list (`assign`), pulls only the
partitions assigned to it, and lets go of the others. Assignment is advice, not the
lock: the lock is the server's pin (see `shared.pinned`), so two replicas that briefly
disagree about the member list can never both receive a partition's events.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import uuid

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, NoKeysError, NoStreamResponseError, NotFoundError
from nats.js.kv import KeyValue


def member_id() -> str:
    """A name for this process that is unique across restarts and readable in logs."""
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _rank(partition: int, member: str) -> bytes:
    return hashlib.sha256(f"{partition}|{member}".encode()).digest()


def assign(partitions: int, members: list[str]) -> dict[str, set[int]]:
    """Partitions per member: at most ceil(P/R) each, and stable when members come and go.

    Rendezvous hashing decides each partition's preferred members; a member that already
    has its share is skipped, so the result is balanced. The same members always give the
    same answer on every replica.
    """
    live = sorted(set(members))
    owned: dict[str, set[int]] = {m: set() for m in live}
    if not live:
        return owned
    share = math.ceil(partitions / len(live))
    for partition in range(partitions):
        for member in sorted(live, key=lambda m: _rank(partition, m), reverse=True):
            if len(owned[member]) < share:
                owned[member].add(partition)
                break
    return owned


class Membership:
    """This replica's heartbeat in a stage's member bucket, and the list of live members."""

    def __init__(self, js: JetStreamContext, bucket: str, ttl_s: float, replicas: int, me: str):
        self.js = js
        self.bucket = bucket
        self.ttl_s = ttl_s
        self.replicas = replicas
        self.me = me
        self.kv: KeyValue | None = None

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, ttl_s: float, replicas: int = 1,
                   me: str | None = None) -> Membership:
        membership = cls(js, bucket, ttl_s, replicas, me or member_id())
        await membership._open()
        return membership

    async def _open(self) -> KeyValue:
        try:
            self.kv = await self.js.key_value(self.bucket)
        except BucketNotFoundError:
            # File storage: a restarted nats-server keeps the bucket (its entries expire anyway).
            self.kv = await self.js.create_key_value(KeyValueConfig(
                bucket=self.bucket, history=1, ttl=self.ttl_s, storage=StorageType.FILE, replicas=self.replicas,
                description="live replicas of one Switchboard stage (entries expire)",
            ))
        return self.kv

    async def beat(self) -> None:
        kv = self.kv or await self._open()
        try:
            await kv.put(self.me, b"1")
        except (NoStreamResponseError, NotFoundError):
            # The bucket is gone (a nats-server that lost its store, an operator): make it again.
            self.kv = None
            await (await self._open()).put(self.me, b"1")

    async def members(self) -> list[str]:
        kv = self.kv or await self._open()
        try:
            return sorted(await kv.keys())
        except NoKeysError:
            return []

    async def leave(self) -> None:
        if self.kv is not None:
            await self.kv.delete(self.me)
