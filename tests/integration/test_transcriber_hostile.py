"""Hostile media URLs and text on a real nats-server: a clean failure at once, never a crash."""

from __future__ import annotations

import pytest

from services.transcriber.engines import Transcript
from shared.events import MessageDeadLettered
from tests.transcriber_rig import (  # noqa: F401 - fixtures
    emulator,
    received,
    sandbox_policy,
    start_transcriber,
    stream_events,
    wait_for_texts,
)


class NoEngine:
    """A speech engine that is never reached: every URL here is refused before a download."""

    name = "none"
    ready = True

    async def start(self) -> None: ...

    async def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        raise AssertionError("nothing should reach the engine")

    async def close(self) -> None: ...


MALFORMED = [
    "http://[::1",  # httpx: invalid port
    "https://api.twilio.com:99999/x",  # a port that does not exist
    "::::",  # not a URL at all
    "https://api.twilio.com/\x01x",  # a control character
    "http://0x7f.1/x",  # loopback in hex
    "http://[::ffff:127.0.0.1]/x",  # loopback mapped into IPv6
]


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_or_private_media_url_is_a_polite_failure_at_once(bus, emulator, start_transcriber, url):
    await start_transcriber(NoEngine(), sandbox_policy(emulator))
    bad = received("+34600999001", media=[(url, "audio/ogg")])
    after = received("+34600999001", body="still there?")
    for event in (bad, after):
        await bus.publish(event, msg_id=event.data.message_sid)
    failed, text = await wait_for_texts(bus, 2)
    assert failed.data.failure_code == "media_refused", failed.data
    assert failed.data.failure_reply and failed.data.text == ""
    assert text.data.text == "still there?"
    assert not [e for e in await stream_events(bus) if isinstance(e, MessageDeadLettered)]
    consumers = [c async for c in _consumers(bus)]
    assert consumers and all(c.num_redelivered == 0 for c in consumers)  # refused on the first delivery


async def _consumers(bus):
    for info in await bus.js.consumers_info(bus.stream):
        yield info


async def test_nul_and_control_characters_in_a_body_never_reach_the_text_event(bus, emulator, start_transcriber):
    await start_transcriber(NoEngine(), sandbox_policy(emulator))
    event = received("+34600999002", body="hi\x00 there\x1b\r\nsecond line\x85")
    await bus.publish(event, msg_id=event.data.message_sid)
    (text,) = await wait_for_texts(bus, 1)
    assert text.data.text == "hi there\nsecond line"
