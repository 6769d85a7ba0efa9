"""Transcriber throughput with N replicas: real processes, real NATS, the emulator's media.

Each run gets a fresh nats-server and stream, hosts the notes on the Twilio emulator,
starts N `python -m services.transcriber` processes in sandbox mode, waits until all
are ready (model loaded), then publishes one voice note per conversation and times
how long until every text event is stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.bus import Bus, connect
from shared.events import MessageTranscribed, decode
from shared.ids import parse_stored_subject
from shared.stream import StreamSpec, ensure_stream
from switchboard.infra import NatsServer, free_port
from switchboard.sandbox.server import TwilioEmulator
from tests.transcriber_rig import SID, TOKEN, received

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ThroughputResult:
    replicas: int
    cpu_threads: int
    notes: int
    note_s: float
    partitions_used: int
    wall_s: float
    failures: int
    cpu_s: float  # user + system CPU time the replicas spent on the notes

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / (self.notes * self.note_s)

    @property
    def notes_per_min(self) -> float:
        return self.notes / self.wall_s * 60

    @property
    def audio_per_wall(self) -> float:
        return self.notes * self.note_s / self.wall_s


async def _ready(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"transcriber exited with {proc.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("transcriber not ready in time")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far, from /proc (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def _texts(bus: Bus) -> list[tuple[str, MessageTranscribed]]:
    info = await bus.js.stream_info(bus.stream)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await bus.js.get_msg(bus.stream, seq)
        if msg.subject.startswith("wa.text."):
            found.append((msg.subject, decode(msg.data)))
    return found


async def measure_throughput(
    replicas: int, note: bytes, note_s: float, notes: int, cpu_threads: int, timeout_s: float = 300,
) -> ThroughputResult:
    with tempfile.TemporaryDirectory(prefix="bench-transcriber-") as tmp:
        nats = NatsServer(Path(tmp) / "nats").start()
        procs: list[subprocess.Popen] = []
        try:
            nc = await connect(nats.url, "bench", wait=False)
            bus = Bus(nc)
            await ensure_stream(bus.js, StreamSpec(partitions=16))
            async with TwilioEmulator(SID, TOKEN) as emulator:
                for _ in range(replicas):
                    port = free_port()
                    env = {
                        **os.environ, "NATS_URL": nats.url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                        "TWILIO_API_BASE_URL": emulator.url, "HEALTH_PORT": str(port), "LOG_LEVEL": "error",
                        "TRANSCRIBER_ENGINE": "local", "TRANSCRIBER_CPU_THREADS": str(cpu_threads),
                    }
                    proc = subprocess.Popen([sys.executable, "-m", "services.transcriber"], cwd=REPO, env=env)
                    procs.append(proc)
                    await _ready(port, proc, 120)
                events = []
                for index in range(notes):
                    path = emulator.state.host_media(f"MM{index:032d}", note, "audio/ogg")
                    events.append(received(f"+346009{index:05d}", media=[(emulator.url + path, "audio/ogg")]))
                cpu_before = cpu_seconds([p.pid for p in procs])
                started = time.perf_counter()
                for event in events:
                    await bus.publish(event, msg_id=event.data.message_sid)
                while len(found := await _texts(bus)) < notes:
                    if time.perf_counter() - started > timeout_s:
                        raise RuntimeError(f"only {len(found)} of {notes} notes transcribed in {timeout_s}s")
                    await asyncio.sleep(0.05)
                wall = time.perf_counter() - started
                cpu = cpu_seconds([p.pid for p in procs]) - cpu_before
            await nc.close()
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            nats.stop()
    partitions = {parse_stored_subject(subject)[1] for subject, _ in found}
    failures = sum(1 for _, text in found if text.data.failure)
    return ThroughputResult(replicas, cpu_threads, notes, note_s, len(partitions), wall, failures, cpu)
