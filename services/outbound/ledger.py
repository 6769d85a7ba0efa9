"""What outbound has sent, recorded before the reply is acknowledged.

A JetStream key-value bucket holds one entry per part (`<reply key>.<part>` → Twilio
SID, or `failed:<code>`). A redelivered ReplyComposed skips the parts found here. The
one window left is a crash after Twilio accepted a part and before it is recorded:
that part would go out twice (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import re

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

BUCKET = "OUTBOUND_SENT"
RETENTION_S = 14 * 86400
_SAFE = re.compile(r"^[-_A-Za-z0-9]+$")


def reply_key(reply_id: str) -> str:
    """A KV-safe key for a reply id (ids from other services may hold any character)."""
    return reply_id if _SAFE.match(reply_id) and len(reply_id) <= 64 else hashlib.sha256(reply_id.encode()).hexdigest()


class SentLedger:
    def __init__(self, kv: KeyValue):
        self.kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> SentLedger:
        try:
            kv = await js.key_value(BUCKET)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=BUCKET, description="outbound: parts already handed to Twilio",
                    history=1, ttl=RETENTION_S, storage=StorageType.FILE, replicas=replicas,
                )
            )
        return cls(kv)

    async def get(self, reply_id: str, part: int) -> str | None:
        try:
            entry = await self.kv.get(f"{reply_key(reply_id)}.{part}")
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def record(self, reply_id: str, part: int, outcome: str) -> None:
        await self.kv.put(f"{reply_key(reply_id)}.{part}", outcome.encode())
