"""Transcriber benchmark: Whisper `tiny.en` against the multilingual `base`, English and Spanish.

    .venv/bin/python -m tests.bench.transcriber_models [--quick]

For each model and language: real-time factor (transcription wall time / audio length)
and the share of key words heard, on 5 s, 30 s and 120 s notes built from the committed
espeak-ng fixtures of that language (`tests/bench/transcriber_notes.py`), through the
service's engine (`LocalWhisper`: Ogg/Opus → PyAV → faster-whisper, int8, CPU, beam 1,
one thread, the hallucination guard on). A note the guard refuses counts as nothing
heard. Also: what each model makes of the silent and the noise-only fixture.
Prints a markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from services.transcriber.engines.local import LocalWhisper, WhisperOptions, bundled_model
from services.transcriber.failures import MediaFailure
from tests.bench.transcriber_notes import VOICE, BenchNote, build_note
from tests.transcriber_rig import heard

LENGTHS_S = (5.0, 30.0, 120.0)


async def measure(engine: LocalWhisper, note: BenchNote, repeats: int) -> tuple[float, float, float, str]:
    walls, found, outcome = [], 0.0, ""
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            transcript = await engine.transcribe(note.ogg, "audio/ogg")
            text, outcome = transcript.text, f"{transcript.language} ({transcript.confidence})"
        except MediaFailure as failure:
            text, outcome = "", failure.code
        walls.append(time.perf_counter() - started)
        found = len(heard(text, note.key_words)) / max(1, len(note.key_words))
    wall = statistics.median(walls)
    return wall, wall / note.seconds, found, outcome


async def run(quick: bool) -> str:
    repeats = {5.0: 1, 30.0: 1, 120.0: 1} if quick else {5.0: 3, 30.0: 2, 120.0: 1}
    notes = {(language, s): build_note(s, language) for language in ("en", "es") for s in LENGTHS_S}
    rows = []
    quiet = []
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    for model in ("tiny.en", "base"):
        path, name = bundled_model(model)
        engine = LocalWhisper(path, name, WhisperOptions(cpu_threads=1))
        await engine.start()
        await engine.transcribe(notes[("en", 5.0)].ogg, "audio/ogg")  # warm-up
        for (language, seconds), note in notes.items():
            wall, rtf, found, outcome = await measure(engine, note, repeats[seconds])
            rows.append(f"| {model} | {language} | {seconds:.0f} s | {wall:.2f} s | {rtf:.3f} | {found:.0%} | {outcome} |")
            print(rows[-1], flush=True)
        for name_ in ("silence.ogg", "noise.ogg"):
            started = time.perf_counter()
            try:
                result = repr((await engine.transcribe((VOICE / name_).read_bytes(), "audio/ogg")).text)
            except MediaFailure as failure:
                result = failure.code
            quiet.append(f"| {model} | {name_} | {result} | {time.perf_counter() - started:.2f} s |")
            print(quiet[-1], flush=True)
        await engine.close()
    header = ("| model | language | note | median time | RTF | key words heard | detected (confidence) or refusal |\n"
              "|---|---|---|---|---|---|---|")
    return "\n\n".join([
        "### Whisper tiny.en against multilingual base (English and Spanish)",
        f"Command: `.venv/bin/python -m tests.bench.transcriber_models{' --quick' if quick else ''}`. "
        f"Load average before: {load_before}; after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        header + "\n" + "\n".join(rows),
        "| model | note | result | time |\n|---|---|---|---|\n" + "\n".join(quiet),
        "Fixtures: " + json.dumps({k: v["text"] for k, v in json.loads((VOICE / "notes.json").read_text()).items()
                                   if v.get("language") == "es"}, ensure_ascii=False),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per note")
    args = parser.parse_args()
    print(asyncio.run(asyncio.wait_for(run(args.quick), timeout=3600)))


if __name__ == "__main__":
    main()
