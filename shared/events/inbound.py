"""Inbound events: a message arrived, and what it says as text."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.envelope import Event, Payload


class Media(Payload):
    url: str
    content_type: str


class MessageReceivedData(Payload):
    message_sid: str
    from_: str = Field(alias="from")
    to: str
    profile_name: str | None = None
    wa_id: str | None = None
    body: str = ""
    media: tuple[Media, ...] = ()
    received_at: datetime


class MessageReceived(Event[MessageReceivedData]):
    kind: ClassVar[str] = "received"
    type: Literal["MessageReceived"] = "MessageReceived"
    version: Literal[1] = 1


class MessageTranscribedData(Payload):
    """v3: v2 plus how sure the engine was (see `upcast_message_transcribed_v2`)."""

    message_sid: str
    text: str = ""
    source: Literal["typed", "voice", "mixed", "attachment"]
    engine: str | None = None
    language: str | None = None
    duration_s: float | None = None
    failure: str | None = None
    # Who is talking, copied from the MessageReceived that started the chain (the signed
    # webhook): the agent answers `from` (the user) from `to` (the business number) and
    # uses the user's number as the owner of calendar calls. None only in events upcast
    # from v1 as first published, which did not carry them.
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    # Why the media failed, beside the human-readable `failure`: a stable code
    # (too_large, unsupported_type, corrupt_audio, no_speech, media_refused,
    # download_failed, engine_unavailable) and a polite reply the agent can send.
    failure_code: str | None = None
    failure_reply: str | None = None
    # How sure the speech engine was, for voice: of the words (0-1, exp of the mean token
    # log-probability) and of `language` (0-1). The agent confirms a cancel, a move or a
    # time-zone change heard with low confidence before acting. None for typed text and
    # engines that do not say.
    confidence: float | None = None
    language_probability: float | None = None


class MessageTranscribed(Event[MessageTranscribedData]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[3] = 3
