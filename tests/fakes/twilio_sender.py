"""A Twilio fake at the port level (`services.outbound.twilio_api.MessageSender`), for handler tests.

It accepts every message unless told to fail the next sends, and keeps what it accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.outbound.twilio_api import SendError


@dataclass
class FakeTwilio:
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, body) accepted, in order
    created: list[datetime] = field(default_factory=list)  # when each was accepted
    attempts: int = 0
    failures: list[SendError] = field(default_factory=list)  # raised by the next sends, first first

    def fail_next(self, *errors: SendError) -> None:
        self.failures.extend(errors)

    async def send(self, from_: str, to: str, body: str, status_callback: str | None) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((from_, to, body))
        self.created.append(datetime.now(UTC))
        return f"SM{len(self.sent):032d}"

    async def find_sent(self, from_: str, to: str, body: str, since: datetime) -> str | None:
        for index in range(len(self.sent) - 1, -1, -1):
            if self.sent[index] == (from_, to, body) and self.created[index] >= since:
                return f"SM{index + 1:032d}"
        return None


def transient(status: int = 503) -> SendError:
    return SendError("Service Unavailable", None, status, permanent=False)


def permanent(code: int = 63016) -> SendError:
    return SendError("outside the 24-hour window", code, 400, permanent=True)
