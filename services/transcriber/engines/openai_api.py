"""The OpenAI engine: the `openai` library's transcription API, at any compatible base URL.

`whisper-1` answers `verbose_json` (text, language, duration); newer models answer
`json`, so the duration then comes from the Ogg headers. The client retries
connection errors, 429 and 5xx itself (`max_retries`); what is still failing after
that is `EngineUnavailable`, which the handler retries by redelivery.
"""

from __future__ import annotations

from typing import cast

import openai
from openai.types.audio import Transcription, TranscriptionVerbose

from services.transcriber.attachments import audio_filename, media_type
from services.transcriber.engines import Transcript
from services.transcriber.failures import CorruptAudio, EngineUnavailable, TooLarge
from services.transcriber.ogg import ogg_duration_s


class OpenAITranscriber:
    def __init__(
        self, api_key: str, model: str = "whisper-1", base_url: str | None = None,
        timeout_s: float = 60.0, max_retries: int = 2,
    ):
        self.model = model
        self.name = f"openai:{model}"
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        verbose = self.model.startswith("whisper")
        try:
            result = await self.client.audio.transcriptions.create(
                model=self.model,
                file=(audio_filename(content_type), audio, media_type(content_type)),
                response_format="verbose_json" if verbose else "json",
            )
        except openai.BadRequestError as exc:
            raise CorruptAudio(f"the transcription API refused the audio: {exc.message}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code == 413:
                raise TooLarge("the transcription API refused the audio as too large") from exc
            raise EngineUnavailable(f"the transcription API answered {exc.status_code}") from exc
        except openai.APIError as exc:  # connection errors and timeouts, after the client's retries
            raise EngineUnavailable(f"the transcription API is unreachable ({type(exc).__name__})") from exc
        duration = getattr(result, "duration", None)
        # The library's type includes `str` (text, srt and vtt formats); json and verbose_json answer objects.
        answer = cast("Transcription | TranscriptionVerbose", result)
        return Transcript(
            text=answer.text.strip(),
            language=_language(result),
            duration_s=float(duration) if duration is not None else ogg_duration_s(audio),
        )

    async def close(self) -> None:
        await self.client.close()


def _language(result: object) -> str | None:
    """`verbose_json` names one language; newer models may list detected ones."""
    language = getattr(result, "language", None)
    if isinstance(language, str) and language:
        return language
    detected = getattr(result, "languages", None) or []
    return getattr(detected[0], "code", None) if detected else None
