"""What outbound has sent, recorded before the reply is acknowledged.

A key-value bucket (`shared.eventlog.KeyValueStore`; JetStream in production) holds one entry per part (`<reply key>.<part>` → Twilio
SID, or `failed:<code>`). A redelivered ReplyComposed skips the parts found here. The
one window left is a crash after Twilio accepted a part and before it is recorded:
that part would go out twice (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import re

from shared.eventlog import EventLog, KeyValueStore

BUCKET = "OUTBOUND_SENT"
RETENTION_S = 14 * 86400
_SAFE = re.compile(r"^[-_A-Za-z0-9]+$")


def reply_key(reply_id: str) -> str:
    """A KV-safe key for a reply id (ids from other services may hold any character)."""
    return reply_id if _SAFE.match(reply_id) and len(reply_id) <= 64 else hashlib.sha256(reply_id.encode()).hexdigest()


class SentLedger:
    """The outcome of each part of each reply: `sent:<sid>`, `published:<sid>` or `failed:<code>`."""

    def __init__(self, kv: KeyValueStore):
        self.kv = kv

    @classmethod
    async def open(cls, events: EventLog, replicas: int = 1) -> SentLedger:
        kv = await events.open_kv(
            BUCKET, history=1, ttl_s=RETENTION_S, replicas=replicas,
            description="outbound: parts already handed to Twilio",
        )
        return cls(kv)

    async def get(self, reply_id: str, part: int) -> str | None:
        entry = await self.kv.get(f"{reply_key(reply_id)}.{part}")
        return entry.value.decode() if entry is not None and entry.value else None

    async def record(self, reply_id: str, part: int, outcome: str) -> None:
        await self.kv.put(f"{reply_key(reply_id)}.{part}", outcome.encode())
