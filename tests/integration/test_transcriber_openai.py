"""The same flow through a fake OpenAI-compatible server, with the real `openai` client."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from services.transcriber.engines.openai_api import OpenAITranscriber
from services.transcriber.failures import polite_reply
from shared.consumer import AckPolicy
from tests.fakes.openai_transcription import FakeOpenAITranscription
from tests.transcriber_rig import (  # noqa: F401 - fixtures
    emulator,
    received,
    sandbox_policy,
    start_transcriber,
    voice,
    wait_for_texts,
)


@pytest.fixture
def stream_spec():
    from shared.stream import StreamSpec

    return StreamSpec(partitions=1)  # every user shares the one partition


@pytest.fixture
def fake_openai():
    with FakeOpenAITranscription(api_key="sk-test-transcriber") as fake:
        yield fake


@pytest.fixture
async def openai_engine(fake_openai):
    engines: list[OpenAITranscriber] = []

    def make(model: str = "whisper-1", max_retries: int = 0) -> OpenAITranscriber:
        engine = OpenAITranscriber(fake_openai.api_key, model, fake_openai.base_url, timeout_s=5, max_retries=max_retries)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


def hosted(emulator, content: bytes, content_type: str = "audio/ogg") -> tuple[str, str]:
    return emulator.url + emulator.state.host_media("MM" + "4" * 32, content, content_type), content_type


async def test_a_voice_note_is_transcribed_through_the_openai_api(bus, emulator, fake_openai, openai_engine, start_transcriber):
    note = voice("weather_london.ogg")
    fake_openai.respond(note, "What is the weather like in London today?", language="english", duration=3.73)
    await start_transcriber(openai_engine(), sandbox_policy(emulator))
    event = received("+34600111222", body="quick question", media=[hosted(emulator, note)])
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert text.data.text == "quick question\nWhat is the weather like in London today?"
    assert (text.data.source, text.data.engine) == ("mixed", "openai:whisper-1")
    assert (text.data.language, text.data.duration_s, text.data.failure) == ("english", 3.73, None)
    (request,) = fake_openai.requests
    assert request["sha256"] == hashlib.sha256(note).hexdigest()  # exactly the bytes Twilio hosted
    assert (request["model"], request["response_format"]) == ("whisper-1", "verbose_json")
    assert (request["filename"], request["content_type"]) == ("voice.ogg", "audio/ogg")


async def test_models_without_verbose_json_still_report_the_duration(bus, emulator, fake_openai, openai_engine, start_transcriber):
    fake_openai.respond(voice("dentist.ogg"), "Cancel my dentist appointment next week.")
    await start_transcriber(openai_engine("gpt-4o-mini-transcribe"), sandbox_policy(emulator))
    event = received("+34600111222", media=[hosted(emulator, voice("dentist.ogg"))])
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert text.data.engine == "openai:gpt-4o-mini-transcribe"
    assert text.data.duration_s == pytest.approx(4.108, abs=0.01)
    assert fake_openai.requests[0]["response_format"] == "json"


async def test_audio_the_api_cannot_read_is_a_corrupt_audio_failure(bus, emulator, fake_openai, openai_engine, start_transcriber):
    await start_transcriber(openai_engine(), sandbox_policy(emulator))
    event = received("+34600111222", media=[hosted(emulator, b"this is not audio at all")])
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert (text.data.text, text.data.failure_code) == ("", "corrupt_audio")
    assert "corrupted or unsupported" in text.data.failure
    assert text.data.failure_reply == polite_reply("corrupt_audio")


async def test_an_engine_down_after_retries_gives_a_failure_and_the_conversation_moves_on(
    bus, emulator, fake_openai, openai_engine, start_transcriber
):
    ack = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=5, fetch_timeout_s=0.3)
    fake_openai.fail_next(503, count=6)  # 2 requests (1 retry) on each of 3 deliveries
    await start_transcriber(openai_engine(max_retries=1), sandbox_policy(emulator), ack=ack)
    note = received("+34600111222", media=[hosted(emulator, voice("dentist.ogg"))])
    typed = received("+34600111222", body="never mind, call me")
    for event in (note, typed):
        await bus.publish(event, msg_id=event.data.message_sid)
    failed, after = await wait_for_texts(bus, 2, timeout=60)
    assert failed.data.message_sid == note.data.message_sid
    assert (failed.data.failure_code, failed.data.text) == ("engine_unavailable", "")
    assert "503" in failed.data.failure
    assert after.data.text == "never mind, call me"
    assert len(fake_openai.requests) == 6


async def test_a_wrong_api_key_is_an_unavailable_engine_not_a_transcript(
    bus, emulator, fake_openai, start_transcriber
):
    engine = OpenAITranscriber("sk-wrong", "whisper-1", fake_openai.base_url, timeout_s=5, max_retries=0)
    try:
        await start_transcriber(engine, sandbox_policy(emulator))
        event = received("+34600111222", media=[hosted(emulator, voice("dentist.ogg"))])
        await bus.publish(event, msg_id=event.data.message_sid)
        (text,) = await wait_for_texts(bus, 1)
    finally:
        await engine.close()
    assert (text.data.failure_code, text.data.text) == ("engine_unavailable", "")
    assert "401" in text.data.failure


async def test_a_long_voice_note_being_transcribed_does_not_delay_another_users_typed_message(
    bus, emulator, fake_openai, openai_engine, start_transcriber
):
    """A two-minute note takes its time on the engine; a typed message behind it, from another
    user of the same partition, is passed on at once."""
    note = voice("book_table.ogg")
    gate = threading.Event()
    fake_openai.respond(note, "a very long story", duration=120.0)
    fake_openai.hold(note, gate)
    engine = OpenAITranscriber(fake_openai.api_key, "whisper-1", fake_openai.base_url, timeout_s=240, max_retries=0)
    try:
        await start_transcriber(engine, sandbox_policy(emulator))
        long_note = received("+34600111222", media=[hosted(emulator, note)])
        await bus.publish(long_note, msg_id=long_note.data.message_sid)
        await asyncio.to_thread(fake_openai.holding.wait, 30)
        assert fake_openai.holding.is_set()  # the note is on the engine now
        partition_of = {}
        typed = received("+34600333444", body="are you there?")
        await bus.publish(typed, msg_id=typed.data.message_sid)
        (first,) = await wait_for_texts(bus, 1)
        assert first.data.message_sid == typed.data.message_sid and not gate.is_set()
        for event in (long_note, typed):
            stored = await bus.js.get_msg(bus.stream, subject=f"wa.received.*.{event.conversation}", direct=True)
            partition_of[event.conversation] = stored.subject.split(".")[2]
        assert len(set(partition_of.values())) == 1  # the same partition (the stream has one)
        gate.set()
        _, second = await wait_for_texts(bus, 2)
        assert (second.data.message_sid, second.data.duration_s) == (long_note.data.message_sid, 120.0)
    finally:
        gate.set()
        await engine.close()
