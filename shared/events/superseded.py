"""Superseded versions, frozen exactly as published and read only through upcasters.

`shared.events.reading` turns each into the current version; `shared.events.registry`
lists them so their schemas stay checked (tests/unit/test_event_versions.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from shared.events.envelope import Event, Payload


class MessageTranscribedDataV1(Payload):
    """MessageTranscribed v1 as first published (commit aceb493)."""

    message_sid: str
    text: str = ""
    source: Literal["typed", "voice", "mixed", "attachment"]
    engine: str | None = None
    language: str | None = None
    duration_s: float | None = None
    failure: str | None = None


class MessageTranscribedV1(Event[MessageTranscribedDataV1]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[1] = 1


def _message_transcribed_data_v2() -> type[Payload]:
    # Defined in a function so that the class keeps the name it was published under: the
    # name is part of the frozen schema (`$defs`), and the current v3 payload owns it here.
    class MessageTranscribedData(Payload):
        """MessageTranscribed v2 as published (v1 plus who is talking and why media failed)."""

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

    return MessageTranscribedData


if TYPE_CHECKING:  # for mypy, a class; at run time, the one `_message_transcribed_data_v2` made
    MessageTranscribedDataV2 = MessageTranscribedDataV1
else:
    MessageTranscribedDataV2 = _message_transcribed_data_v2()


class MessageTranscribedV2(Event[MessageTranscribedDataV2]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[2] = 2



class DeadLetterRetriedDataV1(Payload):
    """DeadLetterRetried v1 as first published (commit 871e0ec): operators only."""

    dead_letter_seq: int
    original_seq: int
    republished_seq: int
    consumer: str
    requested_by: str


class DeadLetterRetriedV1(Event[DeadLetterRetriedDataV1]):
    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterRetried"] = "DeadLetterRetried"
    version: Literal[1] = 1


SUPERSEDED: tuple[type[Event[Any]], ...] = (MessageTranscribedV1, MessageTranscribedV2, DeadLetterRetriedV1)
