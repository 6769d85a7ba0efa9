"""The gateway on a real nats-server: signed webhooks in, exactly one event stored."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from prometheus_client import REGISTRY

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from shared.bus import Bus, connect
from shared.events import DeliveryStatusChanged, MessageReceived, decode
from tests.integration.test_agent_memory import wait_until
from tests.twilio_forms import inbound_form, signed, status_form

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "https://switchboard.example.com"
URL = f"{BASE}/twilio/messages"


def settings(**overrides: object) -> GatewaySettings:
    values = {"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE, **overrides}
    return GatewaySettings(**values)


@pytest.fixture
async def client(bus):
    app = create_app(settings(), bus=bus)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.internal") as c:
        yield c


async def stored(bus) -> list:
    info = await bus.js.stream_info(bus.stream)
    return [decode((await bus.js.get_msg(bus.stream, seq)).data) for seq in range(info.state.first_seq, info.state.last_seq + 1)] if info.state.messages else []


async def post(client, form, url=URL, token=TOKEN, path="/twilio/messages", headers=None):
    body, signed_headers = signed(token, url, form)
    return await client.post(path, content=body, headers={**signed_headers, **(headers or {})})


async def test_signed_webhook_stores_one_event_even_when_posted_three_times(client, bus):
    form = inbound_form("book the dentist tomorrow at 9")
    for _ in range(3):
        response = await post(client, form)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert "<Response></Response>" in response.text
    events = await stored(bus)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MessageReceived)
    assert event.data.message_sid == form["MessageSid"]
    assert event.data.body == "book the dentist tomorrow at 9"
    assert event.data.from_ == "+34600111222" and event.data.to == "+14155238886"
    assert event.data.profile_name == "Ana" and event.data.wa_id == "34600111222"
    # The phone numbers never reach the subject: only the opaque conversation id.
    msg = await bus.js.get_msg(bus.stream, 1)
    assert "34600111222" not in msg.subject and event.conversation in msg.subject


@pytest.mark.parametrize(
    "case", ["forged", "missing", "wrong_url", "wrong_token", "tampered_body"]
)
async def test_bad_signatures_are_refused_and_nothing_is_stored(client, bus, case):
    form = inbound_form("hi")
    body, headers = signed(TOKEN, URL, form)
    if case == "forged":
        headers["X-Twilio-Signature"] = "Zm9yZ2VkIHNpZ25hdHVyZQ=="
    elif case == "missing":
        del headers["X-Twilio-Signature"]
    elif case == "wrong_url":
        body, headers = signed(TOKEN, "https://attacker.example.com/twilio/messages", form)
    elif case == "wrong_token":
        body, headers = signed("another-token", URL, form)
    elif case == "tampered_body":
        body = body.replace(b"Body=hi", b"Body=bye")
    response = await client.post("/twilio/messages", content=body, headers=headers)
    assert response.status_code == 403
    assert await stored(bus) == []


@pytest.mark.parametrize("field", ["From", "To", "MessageSid"])
async def test_missing_required_field_is_400_and_names_it(client, bus, field):
    form = inbound_form("hi")
    del form[field]
    response = await post(client, form)
    assert response.status_code == 400
    assert field in response.text
    assert await stored(bus) == []


async def test_media_count_that_does_not_match_the_urls_is_400(client, bus):
    form = inbound_form("hi", NumMedia="2", MediaUrl0="https://api.twilio.com/m/1", MediaContentType0="image/jpeg")
    response = await post(client, form)
    assert response.status_code == 400 and "MediaUrl1" in response.text
    assert await stored(bus) == []


async def test_oversized_body_is_413_and_nothing_is_stored(client, bus):
    form = inbound_form("x" * 70_000)
    response = await post(client, form)
    assert response.status_code == 413
    assert await stored(bus) == []


async def test_two_media_items_and_a_caption_are_all_kept(client, bus):
    media = [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "audio/ogg"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "image/jpeg"),
    ]
    response = await post(client, inbound_form("look at this", media=media))
    assert response.status_code == 200
    (event,) = await stored(bus)
    assert event.data.body == "look at this"
    assert [(m.url, m.content_type) for m in event.data.media] == media


async def test_status_callback_becomes_delivery_status_changed(client, bus):
    for status in ("sent", "delivered", "delivered"):  # the retry of `delivered` is deduplicated
        response = await post(client, status_form("SMabc", status, ErrorCode=""),
                              url=f"{BASE}/twilio/status", path="/twilio/status")
        assert response.status_code == 200
    events = await stored(bus)
    assert [type(e) for e in events] == [DeliveryStatusChanged, DeliveryStatusChanged]
    assert [e.data.status for e in events] == ["sent", "delivered"]
    assert events[0].data.twilio_sid == "SMabc"


async def test_unknown_status_is_400(client, bus):
    response = await post(client, status_form("SMabc", "teleported"), url=f"{BASE}/twilio/status", path="/twilio/status")
    assert response.status_code == 400 and "teleported" in response.text


async def test_forwarded_headers_are_honoured_only_with_trust_proxy(bus):
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.org"}
    signed_for = "https://public.example.org/twilio/messages"
    for trust, expected in ((False, 403), (True, 200)):
        app = create_app(settings(PUBLIC_BASE_URL=None, TRUST_PROXY=trust), bus=bus)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5:8000") as c:
            response = await post(c, inbound_form("hi"), url=signed_for, headers=proxied)
        assert response.status_code == expected


async def test_nats_down_past_the_store_budget_gives_503_then_the_retry_is_stored_once(bus, nats_server):
    app = create_app(settings(GATEWAY_STORE_BUDGET_S=0), bus=bus)  # 0: the first failure answers 503
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.internal") as client:
        await nats_down_gives_503_then_the_retry_is_stored_once(client, bus, nats_server)


async def test_a_stalled_stream_is_ridden_out_within_the_store_budget_and_stored_once(bus, nats_server):
    """A leader election or a stalled server: Twilio does not retry a 503 by default, so the
    gateway tries again while the request has time. The fault fires: the first try times out."""
    nc = await connect(nats_server.url, "impatient", wait=False)
    impatient = Bus(nc, stream=bus.stream, publish_timeout_s=0.5)
    app = create_app(settings(GATEWAY_STORE_BUDGET_S=14, PUBLISH_TIMEOUT_S=0.5), bus=impatient)
    form = inbound_form("still there?")
    retries_before = REGISTRY.get_sample_value("switchboard_webhook_store_retries_total", {"endpoint": "messages"}) or 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.internal") as client:
        await post(client, inbound_form("warm up"))  # connected, the seen-sid bucket open
        os.kill(nats_server.proc.pid, signal.SIGSTOP)
        try:
            answer = asyncio.create_task(post(client, form))
            await wait_until(lambda: (REGISTRY.get_sample_value(
                "switchboard_webhook_store_retries_total", {"endpoint": "messages"}) or 0) > retries_before)
            assert not answer.done()  # no 503: still trying
        finally:
            os.kill(nats_server.proc.pid, signal.SIGCONT)
        response = await answer
    await nc.close()
    assert response.status_code == 200
    assert [e.data.message_sid for e in await stored(bus) if e.data.message_sid == form["MessageSid"]] == [
        form["MessageSid"]]  # the timed-out first try and the retry: one event


async def nats_down_gives_503_then_the_retry_is_stored_once(client, bus, nats_server):
    form = inbound_form("are you there?")
    nats_server.stop()
    for _ in range(50):
        if not bus.connected:
            break
        await asyncio.sleep(0.05)
    response = await post(client, form)
    assert response.status_code == 503
    nats_server.start()
    for _ in range(100):
        if bus.connected:
            break
        await asyncio.sleep(0.1)
    response = await post(client, form)
    assert response.status_code == 200
    response = await post(client, form)
    assert response.status_code == 200
    events = await stored(bus)
    assert [e.data.message_sid for e in events] == [form["MessageSid"]]


async def test_health_and_readiness(client, bus, nats_server):
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await bus.js.delete_stream(bus.stream)
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["stream"]
    metrics = await client.get("/metrics")
    assert "switchboard_webhooks_total" in metrics.text


def test_settings_refuse_to_start_without_a_token():
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        GatewaySettings(TWILIO_AUTH_TOKEN=None)


def test_production_refuses_placeholder_token():
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        GatewaySettings(TWILIO_AUTH_TOKEN="changeme", SWITCHBOARD_ENV="production", PUBLIC_BASE_URL=BASE,
                        NATS_USER="gateway", NATS_PASSWORD="a-real-one")
