"""Outbound's personal data: `OUTBOUND_SENT`, one entry per part of each reply it delivered."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext

from services.outbound.ledger import BUCKET, reply_key
from shared.privacy import DataSubject
from shared.privacy_jetstream import purge_kv_keys


class SentLedgerData:
    name = "outbound_sent"

    def __init__(self, js: JetStreamContext):
        self.js = js

    async def export(self, subject: DataSubject) -> Any:
        found: dict[str, str] = {}
        try:
            kv = await self.js.key_value(BUCKET)
        except Exception:  # no bucket yet: nothing sent
            return found
        for reply_id in sorted(subject.traces.reply_ids):
            for part in range(1, 100):
                try:
                    entry = await kv.get(f"{reply_key(reply_id)}.{part}")
                except Exception:  # no such part: the reply had fewer
                    break
                found[f"{reply_id}.{part}"] = (entry.value or b"").decode(errors="replace")
        return found

    async def erase(self, subject: DataSubject) -> int:
        return await purge_kv_keys(self.js, BUCKET, (f"{reply_key(r)}.*" for r in sorted(subject.traces.reply_ids)))



