"""Speech engines: the port the handler transcribes through, and its adapters.

`local` runs faster-whisper on the CPU; `openai` calls the OpenAI transcription API
(or any compatible server). Both raise the failures in `services.transcriber.failures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration_s: float | None
    language_probability: float | None = None  # how sure the engine is of `language` (0-1)
    confidence: float | None = None  # how sure it is of the words: exp(mean log-probability per token)


class SpeechEngine(Protocol):
    """Turns audio bytes into text. `start()` once before use, `close()` at shutdown."""

    name: str

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def transcribe(self, audio: bytes, content_type: str) -> Transcript: ...

    async def close(self) -> None: ...
