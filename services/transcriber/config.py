"""The transcriber's settings: engine, model, media download limits and sandbox mode."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx
from pydantic import Field, model_validator

from services.transcriber.download import DownloadLimits
from services.transcriber.engines.local import WhisperOptions
from services.transcriber.guard import Guard
from services.transcriber.media_policy import TWILIO_MEDIA_HOSTS, MediaPolicy
from shared.settings import WorkerSettings

TWILIO_API = "https://api.twilio.com"


class TranscriberSettings(WorkerSettings):
    health_port: int = Field(8086, alias="HEALTH_PORT", ge=0, le=65535)
    engine: Literal["local", "openai"] = Field("local", alias="TRANSCRIBER_ENGINE")

    # local engine: a shipped model by name (see docs/benchmarks.md for how the default was
    # chosen), or any CTranslate2 Whisper model directory
    model: Literal["base", "tiny.en"] = Field("base", alias="TRANSCRIBER_MODEL")
    model_cache: Path | None = Field(None, alias="TRANSCRIBER_MODEL_CACHE")
    model_path: Path | None = Field(None, alias="TRANSCRIBER_MODEL_PATH")
    languages: str = Field("en,es", alias="TRANSCRIBER_LANGUAGES")
    min_language_probability: float = Field(0.4, alias="TRANSCRIBER_MIN_LANGUAGE_PROBABILITY", ge=0, le=1)
    min_avg_logprob: float = Field(-1.0, alias="TRANSCRIBER_MIN_AVG_LOGPROB", le=0)
    beam_size: int = Field(1, alias="TRANSCRIBER_BEAM_SIZE", ge=1, le=10)
    vad_filter: bool = Field(False, alias="TRANSCRIBER_VAD")
    cpu_threads: int = Field(0, alias="TRANSCRIBER_CPU_THREADS", ge=0, le=64)
    whisper_workers: int = Field(1, alias="TRANSCRIBER_CONCURRENCY", ge=1, le=16)
    # Events in flight per replica: typed text and downloads go on while Whisper is busy
    # (transcriptions themselves are bounded by TRANSCRIBER_CONCURRENCY).
    concurrency: int = Field(8, alias="TRANSCRIBER_IN_FLIGHT", ge=1, le=1000)
    handler_timeout_s: float = Field(600.0, alias="TRANSCRIBER_MESSAGE_TIMEOUT_S", gt=0)

    # openai engine
    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_model: str = Field("whisper-1", alias="TRANSCRIBER_OPENAI_MODEL")
    openai_timeout_s: float = Field(60.0, alias="TRANSCRIBER_OPENAI_TIMEOUT_S", gt=0)
    openai_retries: int = Field(2, alias="TRANSCRIBER_OPENAI_RETRIES", ge=0, le=10)

    # media
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base_url: str = Field(TWILIO_API, alias="TWILIO_API_BASE_URL")
    media_hosts: str = Field(",".join(TWILIO_MEDIA_HOSTS), alias="TRANSCRIBER_MEDIA_HOSTS")
    sandbox: bool | None = Field(None, alias="TRANSCRIBER_SANDBOX")
    max_media_bytes: int = Field(16 * 1024 * 1024, alias="TRANSCRIBER_MAX_MEDIA_BYTES", ge=1024)
    max_audio_s: float = Field(900.0, alias="TRANSCRIBER_MAX_AUDIO_S", gt=0)
    connect_timeout_s: float = Field(5.0, alias="TRANSCRIBER_CONNECT_TIMEOUT_S", gt=0)
    read_timeout_s: float = Field(15.0, alias="TRANSCRIBER_READ_TIMEOUT_S", gt=0)
    download_timeout_s: float = Field(60.0, alias="TRANSCRIBER_DOWNLOAD_TIMEOUT_S", gt=0)
    download_attempts: int = Field(3, alias="TRANSCRIBER_DOWNLOAD_ATTEMPTS", ge=1, le=10)

    @model_validator(mode="after")
    def _check(self) -> TranscriberSettings:
        if not self.twilio_account_sid or not self.twilio_auth_token:
            raise ValueError(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required to download media "
                "(`switchboard up` sets sandbox ones for the local emulator)"
            )
        self.require_secret("TWILIO_AUTH_TOKEN", self.twilio_auth_token)
        if self.engine == "openai":
            if not self.openai_api_key:
                raise ValueError("TRANSCRIBER_ENGINE=openai needs OPENAI_API_KEY")
            self.require_secret("OPENAI_API_KEY", self.openai_api_key)
        if self.sandbox and self.environment == "production":
            raise ValueError("TRANSCRIBER_SANDBOX cannot be true when SWITCHBOARD_ENV=production")
        if self.model_path is not None and not (self.model_path / "model.bin").is_file():
            raise ValueError(f"TRANSCRIBER_MODEL_PATH={self.model_path} holds no CTranslate2 model.bin")
        self.media_policy()  # fail fast on a malformed host list
        return self

    @property
    def sandbox_mode(self) -> bool:
        """Fetch media from the local emulator: explicit, or implied by a non-Twilio API URL."""
        emulated = httpx.URL(self.twilio_api_base_url).host != httpx.URL(TWILIO_API).host
        if self.sandbox is not None:
            return self.sandbox and emulated
        return emulated and self.environment != "production"

    def media_policy(self) -> MediaPolicy:
        return MediaPolicy.from_patterns(
            self.media_hosts.split(","), self.twilio_api_base_url if self.sandbox_mode else None
        )

    def download_limits(self) -> DownloadLimits:
        return DownloadLimits(
            max_bytes=self.max_media_bytes, connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s, total_timeout_s=self.download_timeout_s,
            attempts=self.download_attempts,
        )

    def whisper_options(self) -> WhisperOptions:
        guard = Guard(min_avg_logprob=self.min_avg_logprob, min_language_probability=self.min_language_probability,
                      languages=frozenset(x.strip() for x in self.languages.split(",") if x.strip()))
        return WhisperOptions(self.beam_size, self.vad_filter, guard, self.cpu_threads, self.whisper_workers)
