"""Hostile input at the gateway (issue 11), on a real nats-server.

Run against the gateway before issue 11 (commit 04b0841), every test here fails except
three that pin behaviour which must not change (`1e3` and `0x10` were already refused as
error codes; the largest valid code is kept). Each shows what an attacker or a broken
client could do then, and that it now gets a clear answer and changes nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client import REGISTRY
from twilio.request_validator import RequestValidator

from services.gateway.app import create_app
from services.gateway.seen import BUCKET, SeenMessages
from services.gateway.signature import FormParams
from shared.events import DeliveryStatusChanged, MessageReceived
from shared.stream import StreamSpec, ensure_stream
from tests.integration.test_gateway import BASE, TOKEN, URL, post, settings, stored
from tests.twilio_forms import inbound_form, status_form
from tests.waiting import eventually

ACCOUNT = "AC" + "0" * 32  # what tests.twilio_forms puts in AccountSid
STATUS_URL = f"{BASE}/twilio/status"
SAFETY_POLLS = 1200  # 60 s of polling at most, only so a broken build fails instead of hanging


def client_for(app, client_address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.internal")


@pytest.fixture
async def client(bus):
    async with client_for(create_app(settings(), bus=bus)) as c:
        yield c


def sign_pairs(url: str, pairs: list[tuple[str, str]], token: str = TOKEN) -> str:
    """The signature Twilio's algorithm gives a form with these (possibly repeated) keys."""
    params = FormParams()
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return RequestValidator(token).compute_signature(url, params)


async def post_raw(client, body: bytes | str, signature: str, path: str = "/twilio/messages", **headers: str):
    return await client.post(path, content=body, headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded", **headers,
    })


# --- a. reshaped and replayed webhooks ----------------------------------------------------


async def test_a_captured_webhook_reshaped_to_another_sender_is_refused(client, bus):
    """Twilio's signature is the sorted key+value pairs run together, duplicates once.

    The attacker writes a message whose body ends with `From` + the victim's address. The
    captured, signed webhook can then be re-cut into Body="hi" and two From values with
    the same signature; a gateway that takes the first From stores the message as the
    victim's. Repeated keys are now refused.
    """
    victim, attacker = "whatsapp:+14150000001", "whatsapp:+34600111222"
    original = inbound_form("hi" + "From" + victim, user=attacker)
    signature = RequestValidator(TOKEN).compute_signature(URL, original)
    reshaped = [(k, v) for k, v in original.items() if k not in ("Body", "From")]
    reshaped += [("Body", "hi"), ("From", victim), ("From", attacker)]
    assert sign_pairs(URL, reshaped) == signature  # the reshaped form really does validate

    response = await post_raw(client, urlencode(reshaped), signature)
    assert response.status_code == 400 and "repeated field(s): From" in response.text
    assert await stored(bus) == []


@pytest.mark.parametrize("key", ["From", "To", "MessageSid", "Body", "AccountSid", "NumMedia", "ProfileName"])
async def test_any_repeated_key_is_400_even_when_signed(client, bus, key):
    form = inbound_form("hello")
    pairs = list(form.items()) + [(key, form[key] + "x" if key != "NumMedia" else "0")]
    response = await post_raw(client, urlencode(pairs), sign_pairs(URL, pairs))
    assert response.status_code == 400 and key in response.text
    assert await stored(bus) == []


async def test_repeated_status_fields_are_400(client, bus):
    form = status_form("SMabc", "delivered")
    pairs = list(form.items()) + [("MessageStatus", "read"), ("ErrorCode", "1"), ("ErrorCode", "2")]
    response = await post_raw(client, urlencode(pairs), sign_pairs(STATUS_URL, pairs), path="/twilio/status")
    assert response.status_code == 400 and "ErrorCode, MessageStatus" in response.text
    assert await stored(bus) == []


async def test_bytes_that_are_not_utf8_are_400_not_replaced(client, bus):
    """Before, %FF and %FE both read as U+FFFD: two bodies, one meaning, one signature."""
    form = inbound_form("\ufffd")
    signature = RequestValidator(TOKEN).compute_signature(URL, form)
    body = urlencode(form).replace("%EF%BF%BD", "%FF")
    response = await post_raw(client, body, signature)
    assert response.status_code == 400 and "UTF-8" in response.text
    assert await stored(bus) == []


async def test_a_webhook_for_another_account_is_403_when_the_account_is_configured(bus):
    app = create_app(settings(TWILIO_ACCOUNT_SID="AC" + "1" * 32), bus=bus)
    async with client_for(app) as c:
        other = await post(c, inbound_form("hi"))  # AccountSid AC000…
        missing_form = inbound_form("hi")
        del missing_form["AccountSid"]
        missing = await post(c, missing_form)
        ours = await post(c, inbound_form("hi", AccountSid="AC" + "1" * 32))
    assert other.status_code == 403 and "AccountSid" in other.text
    assert missing.status_code == 403
    assert ours.status_code == 200
    assert len(await stored(bus)) == 1


async def test_a_replay_after_the_duplicate_window_is_answered_200_and_stores_nothing(client, bus):
    await ensure_stream(bus.js, StreamSpec(partitions=8, duplicate_window_s=1))  # 15 min in production
    form = inbound_form("transfer it all")
    assert (await post(client, form)).status_code == 200
    # Wait until the stream has forgotten the MessageSid: a status callback posted after the
    # message (the status endpoint keeps no record of its own) is stored a second time.
    status = status_form("SMprobe", "sent")
    assert (await post(client, status, url=STATUS_URL, path="/twilio/status")).status_code == 200
    for _ in range(SAFETY_POLLS):
        assert (await post(client, status, url=STATUS_URL, path="/twilio/status")).status_code == 200
        if sum(isinstance(e, DeliveryStatusChanged) for e in await stored(bus)) == 2:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the stream's duplicate window never expired")

    replayed = {"endpoint": "messages", "outcome": "replayed"}
    before = REGISTRY.get_sample_value("switchboard_webhooks_total", replayed)
    replay = await post(client, form)
    assert replay.status_code == 200 and "<Response></Response>" in replay.text
    received = [e for e in await stored(bus) if isinstance(e, MessageReceived)]
    assert [e.data.message_sid for e in received] == [form["MessageSid"]]
    assert REGISTRY.get_sample_value("switchboard_webhooks_total", replayed) == before + 1


async def test_the_seen_bucket_is_created_once_and_keeps_sids_for_days(bus):
    first = await SeenMessages.open(bus.nc, bus.js, ttl_days=7)
    again = await SeenMessages.open(bus.nc, bus.js, ttl_days=7)
    status = await again.kv.status()
    assert status.bucket == BUCKET and status.ttl == 7 * 86400
    assert not await first.seen("SM1")
    await first.remember("SM1", 1)
    # remember() does not wait for the store's ack (by design, see seen.py): the record
    # becomes visible once JetStream has stored it, which a flush alone does not promise.
    await eventually(lambda: again.seen("SM1"), 10, "the remembered sid to be seen by another handle")


def test_production_refuses_an_http_public_base_url_with_exit_78(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin", "SWITCHBOARD_ENV": "production", "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": "http://switchboard.example.com", "NATS_URL": "nats://127.0.0.1:1",
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": "0", "NATS_USER": "gateway", "NATS_PASSWORD": "a-real-one",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.gateway"], env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 78
    assert "PUBLIC_BASE_URL must be an https:// URL when SWITCHBOARD_ENV=production" in result.stderr


# --- c. forwarded headers only from trusted proxies ----------------------------------------


async def test_forwarded_host_from_an_untrusted_client_is_ignored(bus):
    """A webhook captured on its way to another app of the same account (signed for that
    app's URL) must not validate here just because the sender says X-Forwarded-Host."""
    elsewhere = "https://other-app.example.com/twilio/messages"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-app.example.com"}
    app = create_app(settings(TRUST_PROXY=True), bus=bus)
    async with client_for(app, "203.0.113.9") as untrusted:
        refused = await post(untrusted, inbound_form("hi"), url=elsewhere, headers=forwarded)
        ours = await post(untrusted, inbound_form("hi"), url=URL)  # PUBLIC_BASE_URL still works
    async with client_for(app, "127.0.0.1") as proxy:  # the default TRUSTED_PROXIES: loopback
        proxied = await post(proxy, inbound_form("hi"), url=elsewhere, headers=forwarded)
    assert refused.status_code == 403
    assert ours.status_code == 200 and proxied.status_code == 200
    assert len(await stored(bus)) == 2


async def test_trusted_proxies_take_cidr_networks(bus):
    app = create_app(settings(TRUST_PROXY=True, TRUSTED_PROXIES="10.0.0.0/8, fd00::/8"), bus=bus)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.org"}
    signed_for = "https://public.example.org/twilio/messages"
    results = []
    for address in ("10.1.2.3", "fd00::5", "127.0.0.1"):
        async with client_for(app, address) as c:
            results.append((await post(c, inbound_form("hi"), url=signed_for, headers=forwarded)).status_code)
    assert results == [200, 200, 403]


def test_trusted_proxies_that_do_not_parse_are_a_config_error():
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        settings(TRUSTED_PROXIES="10.0.0.0/8,not-a-network")


# --- d. senders that are not phone numbers ---------------------------------------------------


@pytest.mark.parametrize("sender", [
    "whatsapp:alice", "whatsapp:+", "whatsapp:+0123456789", "whatsapp:+34 600 111 222",
    "whatsapp:+3460011122233344455", "+34600111222", "sms:+34600111222", "messenger:1234567890",
    "whatsapp:+34600111222x", "whatsapp:+٣٤٦٠٠١١١٢٢٢",
])
async def test_a_sender_that_is_not_a_whatsapp_phone_number_is_400(client, bus, sender):
    response = await post(client, inbound_form("hi", user=sender))
    assert response.status_code == 400 and "From must look like whatsapp:+<digits>" in response.text
    assert await stored(bus) == []


async def test_a_configured_channel_is_accepted(bus):
    app = create_app(settings(GATEWAY_ALLOWED_CHANNELS="whatsapp,sms"), bus=bus)
    async with client_for(app) as c:
        response = await post(c, inbound_form("hi", user="sms:+34600111222"))
    assert response.status_code == 200
    (event,) = await stored(bus)
    assert event.data.from_ == "+34600111222"


# --- e. status callback error codes ----------------------------------------------------------


@pytest.mark.parametrize("code", ["-1", "2147483648", "99999999999999999999", "1e3", "٣٠", "0x10", "1_000"])
async def test_an_error_code_that_does_not_fit_an_integer_column_is_400(client, bus, code):
    response = await post(client, status_form("SMabc", "failed", ErrorCode=code), url=STATUS_URL, path="/twilio/status")
    assert response.status_code == 400 and "ErrorCode" in response.text
    assert await stored(bus) == []


async def test_the_largest_error_code_is_kept(client, bus):
    for sid, code in (("SMa", "2147483647"), ("SMb", "63016")):
        response = await post(client, status_form(sid, "failed", ErrorCode=code), url=STATUS_URL, path="/twilio/status")
        assert response.status_code == 200
    assert [e.data.error_code for e in await stored(bus)] == [2147483647, 63016]


# --- f. control characters and sizes in text ------------------------------------------------


async def test_control_characters_are_removed_from_body_and_profile_name(client, bus):
    form = inbound_form("hi\x00 there\x07\r\n\tok\x1b[31m", ProfileName="An\x00a\x1b")
    assert (await post(client, form)).status_code == 200
    (event,) = await stored(bus)
    assert event.data.body == "hi there\n\tok[31m"
    assert event.data.profile_name == "Ana"


async def test_body_over_whatsapps_4096_characters_is_400_and_profile_name_is_cut_to_256(client, bus):
    too_long = await post(client, inbound_form("é" * 4097))
    assert too_long.status_code == 400 and "4096" in too_long.text
    # The limit counts characters after cleaning: controls do not count.
    assert (await post(client, inbound_form("é" * 4096 + "\x00" * 10, ProfileName="P" * 300))).status_code == 200
    (event,) = await stored(bus)
    assert event.data.body == "é" * 4096 and event.data.profile_name == "P" * 256
