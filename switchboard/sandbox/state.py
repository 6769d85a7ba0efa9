"""What the emulator remembers: accepted messages, hosted media, injected faults."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

from switchboard.sandbox.window import WhatsAppRules

FaultKind = Literal["429", "500", "latency", "63016"]
# latency: wait before accepting; slow_answer: accept, then wait before answering (a client
# that dies meanwhile never learns the SID of a message Twilio did take).
FAULT_KINDS: tuple[str, ...] = ("429", "500", "latency", "slow_answer", "63016")


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@dataclass
class Fault:
    kind: str
    remaining: int
    latency_ms: float = 0.0


@dataclass
class Media:
    sid: str
    message_sid: str
    content_type: str
    content: bytes


@dataclass
class SandboxState:
    """Every accepted outbound message, in order; inbound media by URL path; faults."""

    account_sid: str
    auth_token: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_sid: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    requests_seen: int = 0
    hold_after: int | None = None  # Messages API requests past this many wait, unanswered, for `released`
    held: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    rules: WhatsAppRules = field(default_factory=WhatsAppRules)  # the 24-hour window and templates
    _index: itertools.count = field(default_factory=lambda: itertools.count(1))

    def inject(self, kind: str, count: int = 1, latency_ms: float = 0.0) -> None:
        """Make the next `count` Messages API requests fail (or slow down) with `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self.faults.append(Fault(kind, count, latency_ms))

    def next_fault(self) -> Fault | None:
        while self.faults and self.faults[0].remaining <= 0:
            self.faults.popleft()
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.remaining -= 1
        return fault

    async def record(self, message: dict[str, Any]) -> dict[str, Any]:
        message["index"] = next(self._index)
        self.messages.append(message)
        self.by_sid[message["sid"]] = message
        async with self.changed:
            self.changed.notify_all()
        return message

    async def set_status(self, sid: str, status: str) -> None:
        message = self.by_sid[sid]
        message["status"] = status
        message["date_updated"] = rfc2822(datetime.now(UTC))

    def sent_to(self, to: str, after: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == to and m["index"] > after]

    async def wait_for(self, to: str, after: int, timeout: float) -> list[dict[str, Any]]:
        """Long-poll: the messages to `to` after index `after`, waiting up to `timeout`."""
        found = self.sent_to(to, after)
        if found:
            return found
        try:
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(lambda: bool(self.sent_to(to, after))), timeout)
        except TimeoutError:
            return []
        return self.sent_to(to, after)

    def host_media(self, message_sid: str, content: bytes, content_type: str) -> str:
        """Keep media for an inbound message; returns its path, shaped like Twilio's."""
        media = Media(new_sid("ME"), message_sid, content_type, content)
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media.sid}"
        self.media[path] = media
        return path
