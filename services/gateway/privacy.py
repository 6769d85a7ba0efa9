"""The gateway's personal data: `GATEWAY_SEEN`, the MessageSids it stored (the key is the sid)."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext

from services.gateway.seen import BUCKET
from shared.privacy import DataSubject
from shared.privacy_jetstream import kv_items, purge_kv_keys


class SeenData:
    name = "gateway_seen"

    def __init__(self, js: JetStreamContext):
        self.js = js

    async def export(self, subject: DataSubject) -> Any:
        return await kv_items(self.js, BUCKET, sorted(subject.traces.message_sids))

    async def erase(self, subject: DataSubject) -> int:
        return await purge_kv_keys(self.js, BUCKET, sorted(subject.traces.message_sids))
