"""Turning one received message into the text the agent reads.

The caption comes first, then each media item in order: audio is downloaded and
transcribed, other attachments are described. A failed item adds nothing to the
text; it is reported in `failure`, `failure_code` and `failure_reply` instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter, Histogram

from services.transcriber.attachments import NEUTRAL_TYPES, MediaKind, describe_attachment, kind_of, media_type
from services.transcriber.download import Downloaded
from services.transcriber.engines import SpeechEngine, Transcript
from services.transcriber.failures import MediaFailure, NoSpeech, TooLarge, UnsupportedType, polite_reply
from services.transcriber.ogg import ogg_duration_s
from shared.events import Media, MessageReceivedData, MessageTranscribedData
from shared.text import clean_text

TRANSCRIBE_SECONDS = Histogram(
    "switchboard_transcriber_transcribe_seconds", "Time an engine took per voice note", ["engine"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
AUDIO_SECONDS = Counter("switchboard_transcriber_audio_seconds_total", "Seconds of audio transcribed", ["engine"])
FAILURES = Counter("switchboard_transcriber_failures_total", "Media that became a failure", ["code"])


class MediaSource(Protocol):
    async def fetch(self, url: str) -> Downloaded: ...


@dataclass
class VoicePipeline:
    """Download, check and transcribe one voice note."""

    downloader: MediaSource
    engine: SpeechEngine
    max_audio_s: float = 900.0

    async def listen(self, media: Media) -> Transcript:
        downloaded = await self.downloader.fetch(media.url)
        content_type = _audio_type(media.content_type, downloaded.content_type)
        duration = ogg_duration_s(downloaded.content)
        if duration is not None and duration > self.max_audio_s:
            raise TooLarge(f"the voice note lasts {duration:.0f}s; the limit is {self.max_audio_s:.0f}s")
        started = time.perf_counter()
        transcript = await self.engine.transcribe(downloaded.content, content_type)
        TRANSCRIBE_SECONDS.labels(self.engine.name).observe(time.perf_counter() - started)
        AUDIO_SECONDS.labels(self.engine.name).inc(transcript.duration_s or 0.0)
        if not transcript.text:
            raise NoSpeech("the engine heard no words")
        return transcript


def _audio_type(declared: str, served: str) -> str:
    if served in NEUTRAL_TYPES or media_type(served) == media_type(declared):
        return declared
    if kind_of(served) is MediaKind.AUDIO:
        return served
    raise UnsupportedType(f"declared {media_type(declared)} but the media host served {served}")


async def text_of(message: MessageReceivedData, voice: VoicePipeline, last_attempt: bool) -> MessageTranscribedData:
    """The text event's data. Raises a transient MediaFailure unless this is the last attempt."""
    body = clean_text(message.body).strip()  # NUL and control characters never go further
    texts = [body] if body else []
    transcripts: list[Transcript] = []
    failures: list[MediaFailure] = []
    audio = attachments = 0
    for item in message.media:
        kind = kind_of(item.content_type)
        if kind is MediaKind.ATTACHMENT:
            attachments += 1
            texts.append(describe_attachment(item.url, item.content_type))
            continue
        audio += 1
        try:
            if kind is MediaKind.UNSUPPORTED_AUDIO:
                raise UnsupportedType(f"audio of type {media_type(item.content_type)} is not supported")
            transcript = await voice.listen(item)
        except MediaFailure as failure:
            if failure.transient and not last_attempt:
                raise
            FAILURES.labels(failure.code).inc()
            failures.append(failure)
            continue
        transcripts.append(transcript)
        texts.append(clean_text(transcript.text))
    if audio:
        source = "mixed" if body or attachments else "voice"
    else:
        source = "attachment" if attachments else "typed"
    durations = [t.duration_s for t in transcripts if t.duration_s is not None]
    first_failure = failures[0] if failures else None
    return MessageTranscribedData(
        message_sid=message.message_sid,
        text=clean_text("\n".join(texts)),  # attachment names come from the URL: cleaned too
        source=source,
        engine=voice.engine.name if audio else None,
        language=next((t.language for t in transcripts if t.language), None),
        duration_s=round(sum(durations), 3) if durations else None,
        failure=clean_text("; ".join(f"{f.code}: {f.reason}" for f in failures)) or None,
        from_=message.from_,
        to=message.to,
        failure_code=first_failure.code if first_failure else None,
        failure_reply=polite_reply(first_failure.code) if first_failure else None,
        confidence=min((t.confidence for t in transcripts if t.confidence is not None), default=None),
        language_probability=next((t.language_probability for t in transcripts if t.language_probability), None),
    )
