"""Why a message's media could not become text, and what the user should be told.

Every failure has a stable `code` (for the agent and for audit), a `reason` (what
happened, for operators) and a polite reply the agent can send. A failure is never
turned into text as if the user had said it.
"""

from __future__ import annotations

from typing import ClassVar


class MediaFailure(Exception):
    """One media item could not be turned into text. `transient` means retrying may help."""

    code: ClassVar[str] = "media_failed"
    transient: bool = False

    def __init__(self, reason: str, *, transient: bool | None = None):
        super().__init__(reason)
        self.reason = reason
        if transient is not None:
            self.transient = transient


class TooLarge(MediaFailure):
    code = "too_large"


class UnsupportedType(MediaFailure):
    code = "unsupported_type"


class CorruptAudio(MediaFailure):
    code = "corrupt_audio"


class NoSpeech(MediaFailure):
    code = "no_speech"


class Unclear(MediaFailure):
    """Whisper produced words it was not sure of (likely hallucinated): never acted on."""

    code = "unclear"


class MediaRefused(MediaFailure):
    """The URL is not one we fetch: wrong scheme, host not allowed, or a private address."""

    code = "media_refused"


class DownloadFailed(MediaFailure):
    code = "download_failed"


class EngineUnavailable(MediaFailure):
    code = "engine_unavailable"
    transient = True


POLITE_REPLIES: dict[str, str] = {
    TooLarge.code: "That voice note is too long for me to listen to. Could you send a shorter one, or type it?",
    UnsupportedType.code: "I can't play that kind of audio file. Could you send it as a voice note, or type it?",
    CorruptAudio.code: "I couldn't play that voice note. Could you try recording it again, or type it?",
    NoSpeech.code: "I couldn't hear any words in that voice note. Could you try again, or type it?",
    Unclear.code: "I couldn't make that out, could you type it?",
    MediaRefused.code: "I couldn't open that voice note. Could you send it again, or type it?",
    DownloadFailed.code: "I couldn't fetch that voice note. Could you send it again, or type it?",
    EngineUnavailable.code: "I couldn't transcribe your voice note just now. Could you type it, or try again in a little while?",
}
DEFAULT_REPLY = "I couldn't understand that voice note. Could you type it?"


def polite_reply(code: str) -> str:
    """What the agent can say to the user about a failure with this code."""
    return POLITE_REPLIES.get(code, DEFAULT_REPLY)
