"""Voice notes of any length for the transcriber benchmark, built from the committed fixtures.

The spoken fixtures are decoded (PyAV, which faster-whisper already needs), laid end to
end until the target length, and encoded again as mono Opus in Ogg at 12 kbit/s: the
shape of a WhatsApp voice note, without espeak-ng or ffmpeg on the machine.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

VOICE = Path(__file__).resolve().parents[1] / "fixtures" / "voice"
RATE = 16_000


@dataclass(frozen=True)
class BenchNote:
    seconds: float
    ogg: bytes
    key_words: tuple[str, ...]  # every key word of every sentence in it


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        chunks = [
            frame.to_ndarray().reshape(-1)
            for packet in container.decode(audio=0)
            for frame in resampler.resample(packet)
        ]
    return np.concatenate(chunks)


def _encode(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        stream.bit_rate = 12_000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        step = RATE // 50  # 20 ms frames
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[start : start + step].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            for resampled in resampler.resample(frame):
                container.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            container.mux(stream.encode(resampled))
        container.mux(stream.encode(None))
    return out.getvalue()


def build_note(seconds: float, language: str = "en") -> BenchNote:
    """A note of `seconds` seconds: the spoken fixtures in `language` in turn, cut at the target length."""
    notes = {k: v for k, v in json.loads((VOICE / "notes.json").read_text()).items()
             if v["key_words"] and v.get("language", "en") == language}
    clips = [(_decode(VOICE / name), tuple(note["key_words"])) for name, note in sorted(notes.items())]
    pieces, key_words, total, index = [], [], 0, 0
    target = int(seconds * RATE)
    while total < target:
        samples, words = clips[index % len(clips)]
        take = samples[: target - total]
        pieces.append(take)
        if len(take) == len(samples):  # only sentences heard to the end count
            key_words.extend(words)
        total += len(take)
        index += 1
    return BenchNote(seconds, _encode(np.concatenate(pieces)), tuple(key_words))
