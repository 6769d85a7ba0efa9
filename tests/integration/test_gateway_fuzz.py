"""Property-based fuzzing of both webhooks on a real nats-server.

Forms start from a real webhook and are mutated (fields dropped, values replaced by
arbitrary text, random and repeated keys added), or are arbitrary bytes; each is sent
correctly signed, wrongly signed or unsigned. Whatever arrives: never a 5xx (NATS is up
throughout), never a 200 without a valid signature, and every message in the stream is
an event that decodes.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import event as note_outcome
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.gateway.app import create_app
from services.gateway.signature import FormParams
from shared.events import decode
from tests.integration.test_gateway import BASE, TOKEN, settings
from tests.twilio_forms import inbound_form, status_form

KEYS = [
    "MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "ProfileName", "WaId", "NumMedia",
    "MediaUrl0", "MediaContentType0", "MediaUrl1", "MessageStatus", "ErrorCode", "ApiVersion",
]
TRICKY = [
    "", " ", "0", "-1", "10", "11", "2147483648", "whatsapp:+34600111222", "whatsapp:alice", "sms:+1555",
    "delivered", "failed", "\x00", "\u202e", "\ud7ff", "\U0001f600" * 3, "a" * 5000, "SM" + "f" * 32, "%FF",
]
any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
values = st.one_of(any_text, st.sampled_from(TRICKY))
keys = st.one_of(st.sampled_from(KEYS), any_text)


@st.composite
def webhook(draw) -> tuple[str, bytes, dict[str, str], bool]:
    """(path, body, headers, correctly signed?)"""
    endpoint = draw(st.sampled_from(["messages", "status"]))
    path = f"/twilio/{endpoint}"
    if draw(st.integers(0, 9)) == 0:  # arbitrary bytes, never validly signed
        body = draw(st.binary(max_size=300))
        signature = draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
        return path, body, {"X-Twilio-Signature": signature}, False
    base = inbound_form(draw(any_text)) if endpoint == "messages" else status_form(
        draw(st.sampled_from(["SMabc", "SM" + "0" * 32])), draw(st.sampled_from(["sent", "delivered", "read"]))
    )
    pairs = [(k, v) for k, v in base.items() if draw(st.integers(0, 7)) != 0]  # drop some
    pairs = [(k, draw(values)) if draw(st.integers(0, 5)) == 0 else (k, v) for k, v in pairs]  # change some
    pairs += draw(st.lists(st.tuples(keys, values), max_size=4))  # add some, maybe repeated
    params = FormParams()
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    signing = draw(st.sampled_from(["right", "right", "wrong_url", "none"]))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signing != "none":
        url = f"{BASE}{path}" if signing == "right" else f"https://elsewhere.example.com{path}"
        headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, params)
    return path, urlencode(pairs).encode(), headers, signing == "right"


@pytest.fixture
async def client(bus):
    app = create_app(settings(), bus=bus)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.internal") as c:
        yield c


@hypothesis_settings(
    max_examples=200, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=webhook())
async def test_fuzzed_webhooks_never_fail_the_server_nor_store_junk(client, bus, case):
    path, body, headers, correctly_signed = case
    before = (await bus.js.stream_info(bus.stream)).state.last_seq
    response = await client.post(path, content=body, headers=headers)
    note_outcome(f"{'signed' if correctly_signed else 'not signed'}: {response.status_code}")
    assert response.status_code < 500, response.text
    if not correctly_signed:
        assert response.status_code in (400, 403, 413), response.text
        assert (await bus.js.stream_info(bus.stream)).state.last_seq == before
    if response.status_code != 200:
        assert (await bus.js.stream_info(bus.stream)).state.last_seq == before
    after = (await bus.js.stream_info(bus.stream)).state.last_seq
    for seq in range(before + 1, after + 1):
        msg = await bus.js.get_msg(bus.stream, seq)
        event = decode(msg.data)
        assert msg.headers["Nats-Msg-Id"] and event.type == msg.headers["Sb-Type"]
