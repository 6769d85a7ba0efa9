"""The transcriber on real NATS with the local Whisper engine and the Twilio emulator's media."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import asyncpg
import pytest
import uvicorn

from services.audit.service import run_audit
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.transcriber.download import Downloaded
from services.transcriber.engines.local import LocalWhisper, WhisperOptions, bundled_model
from services.transcriber.failures import NoSpeech, TooLarge, polite_reply
from services.transcriber.ogg import ogg_duration_s
from services.transcriber.transcription import VoicePipeline
from shared.batch import BatchPolicy
from shared.events import Media, MessageDeadLettered
from switchboard.sandbox.server import TwilioEmulator
from tests.transcriber_rig import (  # noqa: F401 - fixtures
    BUSINESS,
    NOTES,
    SID,
    TOKEN,
    emulator,
    heard,
    media_host,
    received,
    sandbox_policy,
    start_transcriber,
    stream_events,
    voice,
    wait_for_texts,
)
from tests.waiting import scaled

SPOKEN = [name for name, note in NOTES.items() if note["key_words"] and note.get("language", "en") == "en"]


@pytest.fixture(scope="session")
def whisper() -> LocalWhisper:
    """The bundled tiny.en model, loaded once for the whole session."""
    path, name = bundled_model()
    engine = LocalWhisper(path, name, WhisperOptions(concurrency=2))
    engine.load()
    return engine


def host(emulator: TwilioEmulator, content: bytes, content_type: str) -> str:
    return emulator.url + emulator.state.host_media("MM" + "0" * 32, content, content_type)


async def test_voice_notes_served_with_basic_auth_are_transcribed_locally(bus, emulator, whisper, start_transcriber):
    await start_transcriber(whisper, sandbox_policy(emulator))
    sent = {}
    for index, name in enumerate(SPOKEN):
        event = received(f"+3460000000{index}", media=[(host(emulator, voice(name), "audio/ogg"), "audio/ogg")])
        sent[event.data.message_sid] = (name, event)
        await bus.publish(event, msg_id=event.data.message_sid)
    for text in await wait_for_texts(bus, len(SPOKEN)):
        name, cause = sent[text.data.message_sid]
        key_words = NOTES[name]["key_words"]
        found = heard(text.data.text, key_words)
        assert len(found) >= len(key_words) - 1, f"{name}: heard {text.data.text!r}"
        assert text.data.source == "voice" and text.data.failure is None and text.data.failure_code is None
        assert text.data.engine == "local:tiny.en" and text.data.language == "en"
        assert text.data.duration_s == pytest.approx(ogg_duration_s(voice(name)), abs=0.05)
        assert (text.data.from_, text.data.to) == (cause.data.from_, BUSINESS)
        assert text.conversation == cause.conversation
        assert (text.causation_id, text.correlation_id) == (cause.id, cause.id)


async def test_caption_and_audio_give_both_and_attachments_are_described(bus, emulator, whisper, start_transcriber):
    await start_transcriber(whisper, sandbox_policy(emulator))
    mixed = received(
        "+34600111222", body="For the weekend:",
        media=[(host(emulator, voice("book_table.ogg"), "audio/ogg"), "audio/ogg"),
               (host(emulator, b"\xff\xd8 jpeg", "image/jpeg"), "image/jpeg")],
    )
    photo = received("+34600111222", media=[(f"{emulator.url}/not-fetched/ME1", "image/jpeg")])
    typed = received("+34600111222", body="  thanks!  ")
    for event in (mixed, photo, typed):
        await bus.publish(event, msg_id=event.data.message_sid)
    first, second, third = await wait_for_texts(bus, 3)
    caption, transcript, image = first.data.text.split("\n")
    assert caption == "For the weekend:" and image == "[image: photo.jpg]"
    assert len(heard(transcript, NOTES["book_table.ogg"]["key_words"])) >= 4
    assert first.data.source == "mixed" and first.data.engine == "local:tiny.en"
    assert (second.data.source, second.data.text, second.data.engine) == ("attachment", "[image: photo.jpg]", None)
    assert (third.data.source, third.data.text, third.data.duration_s) == ("typed", "thanks!", None)


@pytest.fixture
async def gateway(bus):
    """The real gateway app on a loopback port, publishing to the test's bus."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(GatewaySettings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base), bus=bus)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"{base}/twilio/messages"
    server.should_exit = True
    await task


async def test_voice_note_then_typed_text_100ms_later_reach_the_agent_in_order(bus, gateway, whisper, start_transcriber):
    async with TwilioEmulator(SID, TOKEN, webhook_url=gateway) as twilio:
        await start_transcriber(whisper, sandbox_policy(twilio), replicas=2)
        status, voice_sid = await twilio.send_inbound("+34600111222", BUSINESS, media=[(voice("dentist.ogg"), "audio/ogg")])
        assert status == 200
        await asyncio.sleep(0.1)
        status, typed_sid = await twilio.send_inbound("+34600111222", BUSINESS, body="and move the gym to Monday")
        assert status == 200
        first, second = await wait_for_texts(bus, 2)
    # The agent reads the `text` stream in stream order: the voice note first.
    assert first.data.message_sid == voice_sid and first.data.source == "voice"
    assert "dentist" in heard(first.data.text, ["dentist"])
    assert second.data.message_sid == typed_sid and second.data.text == "and move the gym to Monday"


async def audited_texts(database_url: str, count: int, timeout: float = 60.0) -> list[dict]:
    connection = await asyncpg.connect(database_url)
    deadline = time.monotonic() + scaled(timeout)
    try:
        while True:
            try:
                rows = await connection.fetch(
                    "SELECT payload FROM audit.events WHERE type = 'MessageTranscribed' ORDER BY stream_seq"
                )
            except asyncpg.UndefinedTableError:
                rows = []
            if len(rows) >= count:
                return [json.loads(r["payload"]) for r in rows]
            if time.monotonic() > deadline:
                raise AssertionError(f"audit holds {len(rows)} text events, expected {count}")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def test_bad_media_gives_a_failure_event_in_audit_and_never_blocks_the_conversation(
    bus, emulator, media_host, whisper, start_transcriber, database_url
):
    stop = asyncio.Event()
    audit = asyncio.create_task(run_audit(bus, database_url, stop, BatchPolicy(fetch_timeout_s=0.2, ack_wait_s=5)))
    await start_transcriber(whisper, sandbox_policy(emulator))
    media_host.routes["/voice.ogg"] = lambda: (200, {"Content-Type": "audio/ogg"}, [voice("dentist.ogg")])
    cases = {
        "too_large": (host(emulator, b"OggS" + bytes(17 * 1024 * 1024), "audio/ogg"), "audio/ogg"),
        "corrupt_audio": (host(emulator, b"OggS\x00\x02" + bytes(range(256)) * 8, "audio/ogg"), "audio/ogg"),
        "unsupported_type": (host(emulator, b"MThd\x00\x00\x00\x06", "audio/midi"), "audio/midi"),
        "media_refused": (f"{media_host.url}/voice.ogg", "audio/ogg"),  # loopback, not the emulator
        "no_speech": (host(emulator, voice("silence.ogg"), "audio/ogg"), "audio/ogg"),
    }
    for code, item in cases.items():
        for event in (received("+34600999000", media=[item]), received("+34600999000", body=f"after {code}")):
            await bus.publish(event, msg_id=event.data.message_sid)
    published = await wait_for_texts(bus, 2 * len(cases))
    try:
        for (code, _), failed, after in zip(cases.items(), published[::2], published[1::2], strict=True):
            assert failed.data.failure_code == code, failed.data
            assert failed.data.failure.startswith(f"{code}: ")
            assert failed.data.failure_reply == polite_reply(code)
            assert failed.data.text == "" and failed.data.source == "voice"  # no error passed off as speech
            assert after.data.text == f"after {code}" and after.data.failure is None
        assert media_host.hits == []  # refused without being fetched
        assert not [e for e in await stream_events(bus) if isinstance(e, MessageDeadLettered)]
        audited = await audited_texts(database_url, 2 * len(cases))
        assert [row["data"]["failure_code"] for row in audited[::2]] == list(cases)
        assert all(row["data"]["failure_reply"] for row in audited[::2])
    finally:
        stop.set()
        await audit


async def test_a_caption_survives_a_failed_voice_note(bus, emulator, whisper, start_transcriber):
    await start_transcriber(whisper, sandbox_policy(emulator))
    event = received("+34600111333", body="see the note", media=[(host(emulator, b"junk", "audio/ogg"), "audio/ogg")])
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert (text.data.text, text.data.source, text.data.failure_code) == ("see the note", "mixed", "corrupt_audio")


class Hosted:
    """A media source that hands back fixed bytes, for the pipeline on its own."""

    def __init__(self, content: bytes, content_type: str = "audio/ogg"):
        self.content, self.content_type = content, content_type

    async def fetch(self, url: str) -> Downloaded:
        return Downloaded(self.content, self.content_type)


NOTE = Media(url="https://api.twilio.com/x", content_type="audio/ogg")


async def test_a_note_longer_than_the_limit_is_refused_before_transcribing(whisper):
    class Untouchable:
        name = "untouchable"

        async def transcribe(self, audio: bytes, content_type: str):
            raise AssertionError("transcribed a note over the limit")

    with pytest.raises(TooLarge, match="lasts 4s; the limit is 2s"):
        await VoicePipeline(Hosted(voice("dentist.ogg")), Untouchable(), max_audio_s=2).listen(NOTE)


async def test_silence_is_no_speech_and_a_neutral_served_type_is_fine(whisper):
    with pytest.raises(NoSpeech):
        await VoicePipeline(Hosted(voice("silence.ogg"), "application/octet-stream"), whisper).listen(NOTE)


async def test_a_media_host_failing_once_is_retried_by_redelivery(bus, media_host, whisper, start_transcriber):
    answers = [(503, {"Content-Length": "0"}, [])] * 2
    media_host.routes["/flaky.ogg"] = lambda: answers.pop() if answers else (200, {"Content-Type": "audio/ogg"}, [voice("remind_sister.ogg")])
    await start_transcriber(whisper, sandbox_policy(media_host.url))
    note = received("+34600222333", media=[(f"{media_host.url}/flaky.ogg", "audio/ogg")])
    typed = received("+34600222333", body="also buy milk")
    for event in (note, typed):
        await bus.publish(event, msg_id=event.data.message_sid)
    first, second = await wait_for_texts(bus, 2)
    assert first.data.message_sid == note.data.message_sid and first.data.failure is None
    assert "sister" in heard(first.data.text, ["sister"])
    assert second.data.text == "also buy milk"
    assert len(media_host.hits) == 3  # two 503s in the first delivery, then the audio


async def test_a_media_host_down_for_good_gives_a_failure_after_the_last_delivery(bus, media_host, whisper, start_transcriber):
    media_host.routes["/down.ogg"] = lambda: (503, {"Content-Length": "0"}, [])
    deps = await start_transcriber(whisper, sandbox_policy(media_host.url))
    event = received("+34600222444", media=[(f"{media_host.url}/down.ogg", "audio/ogg")])
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert text.data.failure_code == "download_failed" and "503" in text.data.failure
    assert len(media_host.hits) == deps.max_deliver * 2  # every delivery tried twice

