"""The local engine: faster-whisper on the CPU with int8 weights.

The model is loaded once. Transcriptions run on a small thread pool, never on the
event loop, and at most `concurrency` run at once (CTranslate2 gets as many workers).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.transcriber.engines import Transcript
from services.transcriber.engines.models import model_dir
from services.transcriber.failures import CorruptAudio, EngineUnavailable
from services.transcriber.guard import Guard


def bundled_model(name: str = "tiny.en", cache: Path | None = None) -> tuple[Path, str]:
    """A shipped Whisper model (`services.transcriber.engines.models`): (directory, name)."""
    return model_dir(name, cache), name


def available_cpus() -> int:
    """CPUs this process may use: its affinity, bounded by a cgroup v2 CPU limit (containers)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


@dataclass(frozen=True)
class WhisperOptions:
    beam_size: int = 1
    vad_filter: bool = False
    guard: Guard = Guard()
    cpu_threads: int = 0  # 0: one per CPU this process may use (cgroup limit included), at most 4
    concurrency: int = 1

    @property
    def threads(self) -> int:
        return self.cpu_threads or min(available_cpus(), 4)


class LocalWhisper:
    def __init__(self, model_path: Path, model_name: str, options: WhisperOptions = WhisperOptions()):
        self.model_path = model_path
        self.name = f"local:{model_name}"
        self.options = options
        self._model: Any = None
        self._executor = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="whisper")

    @property
    def ready(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model (blocking; `start()` runs it off the event loop)."""
        if self._model is not None:
            return
        from faster_whisper import WhisperModel

        if not (self.model_path / "model.bin").is_file():
            raise RuntimeError(f"no Whisper model at {self.model_path} (expected model.bin there)")
        self._model = WhisperModel(
            str(self.model_path), device="cpu", compute_type="int8",
            cpu_threads=self.options.threads, num_workers=self.options.concurrency,
        )

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load)

    async def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        if self._model is None:
            raise EngineUnavailable("the local Whisper model is not loaded")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._transcribe, audio)

    def _transcribe(self, audio: bytes) -> Transcript:
        import av

        try:
            # One decoding pass (no temperature fallback): a note Whisper is unsure of is
            # reported as unclear rather than decoded again and again (noise took a minute).
            segments, info = self._model.transcribe(
                io.BytesIO(audio), beam_size=self.options.beam_size, vad_filter=self.options.vad_filter,
                temperature=0.0, condition_on_previous_text=False,
            )
            segments = list(segments)
            text = " ".join(segment.text.strip() for segment in segments).strip()
        except (av.FFmpegError, EOFError) as exc:
            raise CorruptAudio(f"the audio could not be decoded ({type(exc).__name__})") from exc
        if not info.duration:
            raise CorruptAudio("the audio holds no samples")
        multilingual = not self.name.endswith(".en")
        confidence = self.options.guard.check(segments, info.language, info.language_probability, multilingual) \
            if text else None
        return Transcript(text=text, language=info.language, duration_s=round(info.duration, 3),
                          language_probability=round(info.language_probability, 3) if multilingual else None,
                          confidence=confidence)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
