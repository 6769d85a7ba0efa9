"""What the transcriber tests share: fixtures, voice notes, a loopback media host, waiting.

No tests here; the test modules import from it.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import json
import re
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from services.transcriber.download import DownloadLimits, MediaDownloader
from services.transcriber.engines import SpeechEngine
from services.transcriber.handler import Transcriber, transcribe_message
from services.transcriber.media_policy import TWILIO_MEDIA_HOSTS, MediaPolicy
from services.transcriber.transcription import VoicePipeline
from shared.bus import Bus
from shared.consumer import AckPolicy, PartitionedConsumer
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import Event, Media, MessageReceived, MessageReceivedData, MessageTranscribed, decode, utcnow
from shared.ids import conversation_id
from switchboard.sandbox.server import TwilioEmulator
from tests.waiting import scaled

SID, TOKEN = "AC" + "2" * 32, "sandbox-token-for-transcriber-tests"
BUSINESS = "+14155238886"
POLICY = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=5, fetch_timeout_s=0.3)
FAST_LIMITS = DownloadLimits(connect_timeout_s=2, read_timeout_s=2, total_timeout_s=10, attempts=2, retry_base_s=0.02)
VOICE_DIR = Path(__file__).resolve().parent / "fixtures" / "voice"
NOTES: dict[str, dict[str, Any]] = json.loads((VOICE_DIR / "notes.json").read_text())


def voice(name: str) -> bytes:
    return (VOICE_DIR / name).read_bytes()


def heard(text: str, key_words: Iterable[str]) -> list[str]:
    """The key words found in a transcript: whole words, forgiving one slip in long ones (and accents)."""
    words = re.findall(r"[a-z0-9']+", _plain(text))
    return [
        original for original, key in ((k, _plain(k)) for k in key_words)
        if key in words or (len(key) >= 6 and any(difflib.SequenceMatcher(None, key, w).ratio() >= 0.85 for w in words))
    ]


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def received(user: str, body: str = "", media: Iterable[tuple[str, str]] = (), sid: str | None = None) -> MessageReceived:
    sid = sid or ("MM" if media else "SM") + uuid.uuid4().hex
    return MessageReceived(
        conversation=conversation_id(BUSINESS, user),
        data=MessageReceivedData(
            message_sid=sid, from_=user, to=BUSINESS, body=body, received_at=utcnow(),
            media=tuple(Media(url=url, content_type=content_type) for url, content_type in media),
        ),
    )


async def stream_events(bus: Bus) -> list[Event]:
    info = await bus.js.stream_info(bus.stream)
    if not info.state.messages:
        return []
    return [decode((await bus.js.get_msg(bus.stream, s)).data) for s in range(info.state.first_seq, info.state.last_seq + 1)]


async def texts(bus: Bus) -> list[MessageTranscribed]:
    return [e for e in await stream_events(bus) if isinstance(e, MessageTranscribed)]


async def wait_for_texts(bus: Bus, count: int, timeout: float = 60.0) -> list[MessageTranscribed]:
    """Wait for `count` text events; the deadline (scaled by TEST_TIME_FACTOR) only ends a hung test."""
    deadline = time.monotonic() + scaled(timeout)
    found: list[MessageTranscribed] = []
    while True:
        try:
            found = await texts(bus)
        except (TimeoutError, NatsTimeoutError):
            pass  # a busy machine's nats-server answered late: poll again until the deadline
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} text events after {scaled(timeout):.0f}s, expected {count}")
        await asyncio.sleep(0.05)


Route = Callable[[], tuple[int, dict[str, str], Iterable[bytes]]]


@dataclass
class LoopbackMediaHost:
    """A plain HTTP server on 127.0.0.1 that records every request it gets."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackMediaHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                host.hits.append({"path": self.path, "authorization": self.headers.get("authorization")})
                route = host.routes.get(self.path)
                status, headers, chunks = route() if route else (404, {}, [b"not found"])
                self.send_response(status)
                chunked = "content-length" not in {k.lower() for k in headers}
                for name, value in {**headers, **({"Transfer-Encoding": "chunked"} if chunked else {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                        self.wfile.flush()
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def media_host():
    host = LoopbackMediaHost().start()
    yield host
    host.stop()


@pytest.fixture
async def emulator():
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as running:
        yield running


def sandbox_policy(emulator: TwilioEmulator | str) -> MediaPolicy:
    """Twilio's hosts, plus the emulator (or any loopback server) as the sandbox origin."""
    return MediaPolicy.from_patterns(TWILIO_MEDIA_HOSTS, emulator if isinstance(emulator, str) else emulator.url)


@pytest.fixture
async def start_transcriber(bus):
    """Start in-process transcriber replicas on the test's bus; stopped at teardown."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    downloaders: list[MediaDownloader] = []

    async def start(
        engine: SpeechEngine, policy: MediaPolicy, replicas: int = 1, limits: DownloadLimits = FAST_LIMITS,
        max_audio_s: float = 900.0, ack: AckPolicy = POLICY,
    ) -> Transcriber:
        downloader = MediaDownloader(policy, (SID, TOKEN), limits)
        downloaders.append(downloader)
        deps = Transcriber(JetStreamEventLog(bus), VoicePipeline(downloader, engine, max_audio_s), ack.max_deliver)
        handler = functools.partial(transcribe_message, deps=deps)
        for _ in range(replicas):
            consumer = PartitionedConsumer(bus, "transcriber", "received", handler, ack)
            tasks.append(asyncio.create_task(consumer.run(stop)))
        return deps

    yield start
    stop.set()
    await asyncio.gather(*tasks)
    for downloader in downloaders:
        await downloader.close()
