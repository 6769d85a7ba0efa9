"""In-memory stand-ins for the reminder ports: timers and a Twilio sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.outbound.twilio_api import SendError


@dataclass
class MemoryTimers:
    """`TimerPort`: the timer set last for each reminder (what replacing by subject does)."""

    set_at: dict[tuple[str, str], tuple[int, datetime]] = field(default_factory=dict)

    async def set(self, conversation: str, reminder_id: str, revision: int, at: datetime) -> None:
        self.set_at[(conversation, reminder_id)] = (revision, at)

    async def cancel(self, conversation: str, reminder_id: str) -> None:
        self.set_at.pop((conversation, reminder_id), None)


@dataclass
class RecordingSender:
    """`ReminderSender`: keeps what it was asked to send; `fail_with` makes the next sends fail."""

    sent: list[dict] = field(default_factory=list)
    fail_with: SendError | None = None

    async def send(self, from_: str, to: str, body: str, status_callback: str | None) -> str:
        return self._take({"to": to, "body": body})

    async def send_content(self, from_: str, to: str, content_sid: str, variables: dict[str, str],
                           status_callback: str | None) -> str:
        return self._take({"to": to, "content_sid": content_sid, "variables": variables})

    def _take(self, message: dict) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return f"SM{len(self.sent):032d}"
