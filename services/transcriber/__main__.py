"""`python -m services.transcriber`: composition root of the transcriber worker."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

from services.transcriber.config import TranscriberSettings
from shared.settings import load_settings

if TYPE_CHECKING:
    from services.transcriber.engines import SpeechEngine
    from shared.bus import Bus


def build_engine(settings: TranscriberSettings) -> SpeechEngine:
    # Each engine imports its own library (openai, faster-whisper) only when chosen.
    if settings.engine == "openai":
        from services.transcriber.engines.openai_api import OpenAITranscriber

        return OpenAITranscriber(
            settings.openai_api_key or "", settings.openai_model, settings.openai_base_url,
            settings.openai_timeout_s, settings.openai_retries,
        )
    from services.transcriber.engines.local import LocalWhisper, bundled_model

    if settings.model_path is not None:
        path, name = settings.model_path, settings.model_path.name
    else:
        path, name = bundled_model(settings.model, settings.model_cache)  # base: joined into the cache once
    return LocalWhisper(path, name, settings.whisper_options())


async def main(settings: TranscriberSettings) -> None:
    # The pipeline and the consumer only once the configuration is good (a bad one exits 78 at once).
    from services.transcriber.download import MediaDownloader
    from services.transcriber.handler import Transcriber, transcribe_message
    from services.transcriber.transcription import VoicePipeline
    from shared.consumer import PartitionedConsumer
    from shared.eventlog_jetstream import JetStreamEventLog
    from shared.runtime import run_worker

    engine = build_engine(settings)

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        downloader = MediaDownloader(
            settings.media_policy(),
            (settings.twilio_account_sid or "", settings.twilio_auth_token or ""),
            settings.download_limits(),
        )
        try:
            await engine.start()  # the model loads once, off the event loop
            deps = Transcriber(JetStreamEventLog(bus), VoicePipeline(downloader, engine, settings.max_audio_s), settings.max_deliver)
            consumer = PartitionedConsumer(
                bus, "transcriber", "received", functools.partial(transcribe_message, deps=deps),
                settings.ack_policy(), replicas=settings.stream_replicas,
                healthy=lambda: bus.connected and engine.ready,
            )
            await consumer.run(stop)
        finally:
            await downloader.close()
            await engine.close()

    await run_worker("transcriber", settings, work, checks={"engine": lambda: engine.ready})


if __name__ == "__main__":
    config = load_settings(TranscriberSettings, "transcriber")
    asyncio.run(main(config))
