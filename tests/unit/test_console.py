"""The console's rules that need no server: masking, states, timeline entries, settings,
CSRF and who is asking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from services.console.auth import Authenticator, Forbidden, Unauthenticated, session_value
from services.console.config import ConsoleSettings
from services.console.masking import Privacy, mask_body, mask_number
from services.console.readmodels import state_of
from services.console.system import consumer_lag
from services.console.timeline import entries
from switchboard.stack import what_next

DB = "postgresql://console@127.0.0.1:5432/switchboard"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# Production also needs the console's own NATS identity (shared.nats_permissions).
PRODUCTION = {"SWITCHBOARD_ENV": "production", "NATS_USER": "console", "NATS_PASSWORD": "a-real-nats-password"}


def settings(**env: str) -> ConsoleSettings:
    return ConsoleSettings(**{"DATABASE_URL": DB, **env})  # type: ignore[arg-type]


def request(headers: dict[str, str] | None = None, client: str = "127.0.0.1", method: str = "GET") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": method, "path": "/", "headers": raw, "client": (client, 5000),
                    "scheme": "http", "server": ("console.internal", 8090), "query_string": b""})


def test_numbers_and_bodies_are_masked_enough_to_tell_users_apart_and_no_more():
    assert mask_number("whatsapp:+15550001111") == "+1••••••••11"
    assert "5550001" not in mask_number("+15550001111")
    assert mask_body("a secret") == "[hidden: 8 characters]" and mask_body("") == ""
    assert Privacy(reveal=False).number(None) == "—"
    assert Privacy(reveal=True).number("whatsapp:+15550001111") == "+15550001111"


def test_a_conversation_state_follows_its_last_meaningful_event():
    assert state_of("MessageReceived") == state_of("ReplyComposed") == "answering"
    assert state_of("MessageSent") == state_of(None) == "waiting"
    assert state_of("SendFailed") == state_of("MessageDeadLettered") == state_of("AgentFailed") == "failed"


def row(seq: int, kind: str, at: float, data: dict, event_id: str = "", cause: str | None = None) -> dict:
    return {"stream_seq": seq, "type": kind, "occurred_at": T0 + timedelta(seconds=at), "event_id": event_id or f"e{seq}",
            "causation_id": cause, "payload": {"data": data}, "error": None}


TURN = [
    row(1, "MessageReceived", 0, {"message_sid": "SM1", "from": "whatsapp:+15550001111", "body": "book it",
                                   "media": [{"content_type": "audio/ogg", "url": "x"}]}),
    row(2, "MessageTranscribed", 0.25, {"message_sid": "SM1", "text": "book the dentist", "source": "voice",
                                         "engine": "local", "language": "en", "duration_s": 2.0}, cause="e1"),
    row(3, "ReplyComposed", 1.5, {"reply_id": "r1", "text": "Booked", "model": "offline",
                                   "tool_calls": [{"name": "create_event", "ok": True}, {"name": "search", "ok": False}]},
        cause="e2"),
    row(4, "MessageSent", 2.0, {"twilio_sid": "SMo", "part": 1, "parts": 1, "to": "+15550001111", "body": "Booked"},
        cause="e3"),
    row(5, "DeliveryStatusChanged", 3.5, {"twilio_sid": "SMo", "status": "undelivered", "error_code": 63016}),
    row(6, "SomethingNew", 4.0, {"body": "must not show"}),
]


def test_timeline_entries_say_what_happened_and_how_long_each_stage_took():
    found = entries(TURN, Privacy(reveal=True))
    assert [e.kind for e in found] == ["inbound", "text", "reply", "sent", "status", "other"]
    assert found[0].body == "book it" and "media: audio/ogg" in found[0].details
    assert found[1].title == "Transcribed voice note" and "language en" in found[1].details[0]
    assert (found[1].stage, found[1].latency) == ("transcriber", "250 ms")
    assert found[2].tools == [("create_event", True), ("search", False)] and found[2].latency == "1.2 s"
    assert (found[4].badge, found[4].stage, found[4].latency) == ("undelivered", "twilio", "1.5 s")
    assert "Twilio error 63016" in found[4].details
    assert "must not show" not in found[5].as_text()


def test_a_live_stream_keeps_the_times_of_what_the_page_already_showed():
    times: dict = {}
    entries(TURN[:2], Privacy(reveal=True), times)
    later = entries(TURN[2:3], Privacy(reveal=True), times)
    assert later[0].latency == "1.2 s"


def test_masked_entries_hide_every_body_and_number():
    text = "\n".join(e.as_text() for e in entries(TURN, Privacy(reveal=False)))
    for secret in ("book it", "book the dentist", "Booked", "5550001111"):
        assert secret not in text
    assert "create_event" in text and "undelivered" in text


def test_production_needs_authentication_and_a_real_token():
    with pytest.raises(ValidationError, match="needs authentication"):
        settings(**PRODUCTION)
    with pytest.raises(ValidationError, match="at least 24"):
        settings(**PRODUCTION, CONSOLE_AUTH_TOKEN="short-token")
    with pytest.raises(ValidationError, match="real value"):
        settings(**PRODUCTION, CONSOLE_AUTH_TOKEN="changeme")
    with pytest.raises(ValidationError, match="CONSOLE_HEALTH_URLS"):
        settings(CONSOLE_HEALTH_URLS="gateway:8000")
    assert settings(**PRODUCTION, CONSOLE_AUTH_HEADER="X-Auth-Request-Email")


def test_who_may_see_personal_data_and_when_the_web_chat_exists():
    assert settings().reveals_to("local")
    production = settings(**PRODUCTION, CONSOLE_AUTH_HEADER="X-User")
    assert not production.reveals_to("ana@example.org")
    assert settings(CONSOLE_REVEAL="ana@example.org").reveals_to("ana@example.org")
    assert not settings(CONSOLE_REVEAL="ana@example.org").reveals_to("bob@example.org")
    sandbox = {"TWILIO_API_BASE_URL": "http://127.0.0.1:4010", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    assert settings(**sandbox).chat_enabled
    assert not settings(**{**sandbox, "TWILIO_API_BASE_URL": "https://api.twilio.com"}).chat_enabled
    assert not settings(**sandbox, **PRODUCTION, CONSOLE_AUTH_HEADER="X-User").chat_enabled


def test_identity_comes_from_the_token_the_cookie_or_a_trusted_proxy_only():
    token = "t" * 30
    auth = Authenticator.build(settings(CONSOLE_AUTH_TOKEN=token, CONSOLE_AUTH_HEADER="X-User",
                                        CONSOLE_TRUSTED_PROXIES="10.0.0.0/8"))
    assert auth.operator(request({"Authorization": f"Bearer {token}"})) == "token"
    assert auth.operator(request({"Cookie": f"sb_console={session_value(token)}"})) == "token"
    assert auth.operator(request({"X-User": "ana@example.org"}, client="10.1.2.3")) == "ana@example.org"
    for refused in (request(), request({"Authorization": "Bearer nope"}), request({"Cookie": f"sb_console={token}"}),
                    request({"X-User": "ana@example.org"}, client="192.0.2.7")):
        with pytest.raises(Unauthenticated):
            auth.operator(refused)
    assert Authenticator.build(settings()).operator(request()) == "local"


def test_a_state_changing_request_needs_the_operators_csrf_token_and_our_origin():
    auth = Authenticator.build(settings(CONSOLE_SECRET="s" * 32))
    good = auth.csrf_token("ana")
    auth.check_csrf(request({"Origin": "http://console.internal:8090"}, method="POST"), "ana", good)
    with pytest.raises(Forbidden):
        auth.check_csrf(request(method="POST"), "bob", good)  # another operator's token
    with pytest.raises(Forbidden):
        auth.check_csrf(request({"Origin": "https://evil.example"}, method="POST"), "ana", good)
    with pytest.raises(Forbidden):
        auth.check_csrf(request({"Sec-Fetch-Site": "cross-site"}, method="POST"), "ana", good)
    assert Authenticator.build(settings(CONSOLE_SECRET="s" * 32)).csrf_token("ana") == good  # replicas agree


def test_consumer_names_give_stage_and_partition():
    assert consumer_lag("agent-text-p7", 3, 1, 0).stage == "agent-text"
    assert consumer_lag("agent-text-p7", 3, 1, 0).partition == 7
    assert consumer_lag("audit", 0, 0, 0).partition is None


def test_up_ends_with_what_to_do_next():
    lines = what_next({"console_url": "http://127.0.0.1:8090", "sandbox": True})
    assert "http://127.0.0.1:8090/" in lines[1] and "/chat" in lines[2] and "switchboard chat" in lines[3]
    assert not any("chat" in line for line in what_next({"console_url": "http://x", "sandbox": False})[1:-1])


def test_what_users_and_models_wrote_is_escaped_on_the_page():
    from starlette.templating import Jinja2Templates

    from services.console.deps import HERE

    hostile = [row(1, "MessageReceived", 0, {"message_sid": "SM1", "from": "+15550001111",
                                              "body": "<img src=x onerror=alert(1)>", "profile_name": "<b>x</b>"})]
    (entry,) = entries(hostile, Privacy(reveal=True))
    html = Jinja2Templates(directory=str(HERE / "templates")).get_template("_entry.html").render(entry=entry)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "<b>" not in html
