"""The Twilio emulator speaks Twilio's API: the official library works against it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.outbound.twilio_api import SendError, TwilioMessages, _RebasedHttpClient
from switchboard.sandbox.server import TwilioEmulator

SID, TOKEN = "AC" + "2" * 32, "emulator-test-token"


@pytest.fixture
async def emulator():
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as running:
        yield running


async def test_the_twilio_library_sends_and_fetches(emulator):
    http = _RebasedHttpClient(emulator.url, timeout=5)
    client = Client(SID, TOKEN, http_client=http)
    try:
        created = await client.messages.create_async(from_="whatsapp:+14155238886", to="whatsapp:+34600111222", body="hi")
        assert created.sid.startswith("SM") and created.status == "queued"
        fetched = await client.messages(created.sid).fetch_async()
        assert fetched.body == "hi" and fetched.to == "whatsapp:+34600111222"
        with pytest.raises(TwilioRestException) as missing:
            await client.messages("SM" + "0" * 32).fetch_async()
        assert missing.value.status == 404 and missing.value.code == 20404
    finally:
        await http.session.close()


@pytest.mark.parametrize(
    "form,code",
    [
        ({"to": "+34600111222", "body": "x" * 1601}, 21617),
        ({"to": "+34600111222", "body": "😀" * 801}, 21617),  # 1,602 UTF-16 units
        ({"to": "not-a-number", "body": "hi"}, 21211),
        ({"to": "+34600111222", "body": ""}, 21602),
    ],
)
async def test_validation_errors_have_twilios_codes(emulator, form, code):
    messages = TwilioMessages(SID, TOKEN, emulator.url)
    try:
        with pytest.raises(SendError) as error:
            await messages.send("+14155238886", form["to"], form["body"], None)
        assert error.value.code == code and error.value.status == 400 and error.value.permanent
    finally:
        await messages.close()
    assert emulator.state.messages == []


async def test_bad_credentials_are_20003(emulator):
    messages = TwilioMessages(SID, "wrong-token", emulator.url)
    try:
        with pytest.raises(SendError) as error:
            await messages.send("+14155238886", "+34600111222", "hi", None)
        assert error.value.status == 401 and error.value.code == 20003 and not error.value.permanent
    finally:
        await messages.close()


async def test_faults_apply_to_the_next_n_requests_only(emulator):
    emulator.inject("500", count=1)
    emulator.inject("latency", count=1, latency_ms=300)
    messages = TwilioMessages(SID, TOKEN, emulator.url)
    try:
        with pytest.raises(SendError) as error:
            await messages.send("+14155238886", "+34600111222", "a", None)
        assert error.value.status == 500 and not error.value.permanent
        loop = asyncio.get_running_loop()
        started = loop.time()
        await messages.send("+14155238886", "+34600111222", "b", None)
        assert loop.time() - started >= 0.3
        started = loop.time()
        await messages.send("+14155238886", "+34600111222", "c", None)
        assert loop.time() - started < 0.3
    finally:
        await messages.close()
    assert [m["body"] for m in emulator.state.messages] == ["b", "c"]


async def test_signed_status_callbacks_follow_each_message():
    received: list[tuple[str, dict]] = []

    async def app(scope, receive, send):  # a tiny ASGI receiver standing in for the gateway
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        from urllib.parse import parse_qsl

        form = dict(parse_qsl(body.decode()))
        url = f"http://127.0.0.1:{scope['server'][1]}{scope['path']}"
        valid = RequestValidator(TOKEN).validate(url, form, headers[b"x-twilio-signature"].decode())
        received.append(("valid" if valid else "forged", form))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as emulator:
            messages = TwilioMessages(SID, TOKEN, emulator.url)
            try:
                sid = await messages.send("+14155238886", "+34600111222", "hi", f"http://127.0.0.1:{port}/twilio/status")
            finally:
                await messages.close()
            for _ in range(200):
                if len(received) == 3:
                    break
                await asyncio.sleep(0.02)
    finally:
        server.should_exit = True
        await task
    assert [(v, f["MessageStatus"], f["MessageSid"]) for v, f in received] == [
        ("valid", "sent", sid), ("valid", "delivered", sid), ("valid", "read", sid)
    ]
    assert received[0][1]["From"] == "whatsapp:+14155238886"


async def test_media_is_hosted_behind_basic_auth(emulator):
    path = emulator.state.host_media("MM" + "3" * 32, b"OggS-audio", "audio/ogg")
    assert path.startswith(f"/2010-04-01/Accounts/{SID}/Messages/MM")
    async with httpx.AsyncClient(base_url=emulator.url) as client:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, auth=(SID, "wrong"))).status_code == 401
        ok = await client.get(path, auth=(SID, TOKEN))
        assert ok.status_code == 200 and ok.content == b"OggS-audio"
        assert ok.headers["content-type"] == "audio/ogg"
