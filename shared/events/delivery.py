"""Replies and their delivery: what the agent composed, and what Twilio did with it."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.envelope import Event, Payload


class ToolCallRecord(Payload):
    name: str
    ok: bool = True


class TokenUsage(Payload):
    input_tokens: int = 0
    output_tokens: int = 0


class ReplyComposedData(Payload):
    reply_id: str
    in_reply_to: tuple[str, ...]
    from_: str = Field(alias="from")
    to: str
    text: str
    model: str
    tool_calls: tuple[ToolCallRecord, ...] = ()
    usage: TokenUsage = TokenUsage()
    latency_ms: float | None = None


class ReplyComposed(Event[ReplyComposedData]):
    kind: ClassVar[str] = "reply"
    type: Literal["ReplyComposed"] = "ReplyComposed"
    version: Literal[1] = 1


class MessageSentData(Payload):
    reply_id: str
    part: int
    parts: int
    twilio_sid: str
    from_: str = Field(alias="from")
    to: str
    body: str


class MessageSent(Event[MessageSentData]):
    kind: ClassVar[str] = "sent"
    type: Literal["MessageSent"] = "MessageSent"
    version: Literal[1] = 1


class SendFailedData(Payload):
    reply_id: str
    part: int
    parts: int
    error_code: int | None = None
    error_message: str = ""
    permanent: bool


class SendFailed(Event[SendFailedData]):
    kind: ClassVar[str] = "send_failed"
    type: Literal["SendFailed"] = "SendFailed"
    version: Literal[1] = 1


DeliveryStatus = Literal[
    "accepted", "scheduled", "queued", "sending", "sent", "failed",
    "undelivered", "delivered", "receiving", "received", "read", "canceled", "partially_delivered",
]


class DeliveryStatusChangedData(Payload):
    twilio_sid: str
    status: DeliveryStatus
    error_code: int | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    reported_at: datetime


class DeliveryStatusChanged(Event[DeliveryStatusChangedData]):
    kind: ClassVar[str] = "status"
    type: Literal["DeliveryStatusChanged"] = "DeliveryStatusChanged"
    version: Literal[1] = 1
