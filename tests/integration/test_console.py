"""The operator console on real NATS, Postgres and audit: conversations, a live timeline,
dead letters retried from the browser, and what production hides."""

from __future__ import annotations

import asyncio
import re

from services.audit.schema import migrate
from services.console.masking import mask_number
from shared.consumer import Delivery, PartitionedConsumer, PermanentFailure
from shared.events import (
    MessageReceived,
    MessageTranscribed,
    MessageTranscribedData,
    ReplyComposed,
    ReplyComposedData,
    ToolCallRecord,
)
from shared.ids import conversation_id
from tests.console_rig import csrf_of, running_console
from tests.integration.test_audit import (
    BUSINESS,
    T0,
    at,
    eventually,
    publish,
    query,
    received,
    running_audit,
    scalar,
    sent,
    status,
)
from tests.integration.test_consumer import FAST
from tests.waiting import scaled

USER = "+34600555666"
SECRET_BODY = "my dentist appointment is secret"
TOKEN = "a-console-token-that-is-long-enough"


def a_turn(user: str) -> list:
    conversation = conversation_id(BUSINESS, user)
    inbound = received(user, "SMconsole1", body=SECRET_BODY, when=0)
    text = MessageTranscribed(
        conversation=conversation, occurred_at=at(0.4), causation_id=inbound.id,
        data=MessageTranscribedData(message_sid="SMconsole1", text=SECRET_BODY, source="typed", from_=user, to=BUSINESS),
    )
    reply = ReplyComposed(
        conversation=conversation, occurred_at=at(1.5), causation_id=text.id,
        data=ReplyComposedData(reply_id="r1", in_reply_to=("SMconsole1",), from_=BUSINESS, to=user,
                               text="Booked: dentist on Friday", model="offline",
                               tool_calls=(ToolCallRecord(name="create_event", ok=True),)),
    )
    out = sent(user, "SMout1", reply_id="r1", when=2)
    out = out.model_copy(update={"causation_id": reply.id})
    return [inbound, text, reply, out, status(user, "SMout1", "delivered", when=3)]


async def test_the_console_lists_searches_and_follows_a_conversation_live(bus, nats_server, database_url):
    await migrate(database_url)
    env = {"DATABASE_URL": database_url, "NATS_URL": nats_server.url, "STREAM_NAME": bus.stream,
           "CONSOLE_POLL_S": "0.1"}
    async with running_audit(bus, database_url), running_console(**env) as console:
        turn = a_turn(USER)
        await publish(bus, *turn[:3])
        conversation = turn[0].conversation

        async def listed() -> bool:
            return conversation in (await console.get("/")).text
        await eventually(listed)
        page = (await console.get("/", params={"q": "555 666"})).text
        assert USER in page and "answering" in page  # local: numbers shown; no reply sent yet
        assert conversation not in (await console.get("/", params={"q": "+1999"})).text

        timeline = (await console.get(f"/conversations/{conversation}")).text
        assert SECRET_BODY in timeline and "create_event" in timeline and "transcriber 400 ms" in timeline
        last_seq = int(re.search(r'stream\?after=(\d+)', timeline).group(1))

        # Live: what is recorded after the page was rendered arrives as server-sent events.
        async with console.stream("GET", f"/conversations/{conversation}/stream", params={"after": last_seq}) as live:
            await publish(bus, *turn[3:])
            seen = ""

            async def read() -> None:
                nonlocal seen
                async for chunk in live.aiter_text():
                    seen += chunk
                    if "Delivery status: delivered" in seen:
                        return
            await asyncio.wait_for(read(), scaled(20))
        assert "Sent part 1/1" in seen and "outbound 500 ms" in seen
        assert "waiting" in (await console.get("/")).text  # the reply went out: waiting for the user

        system = (await console.get("/system")).text
        assert f"Stream {bus.stream}" in system and "events" in system


async def test_production_needs_credentials_and_masks_numbers_and_bodies(bus, nats_server, database_url):
    await migrate(database_url)
    async with running_audit(bus, database_url):
        turn = a_turn(USER)
        await publish(bus, *turn)
        conversation = turn[0].conversation

        async def recorded() -> bool:
            return await scalar(database_url, "SELECT count(*) FROM audit.events") == len(turn)
        await eventually(recorded)

    env = {"DATABASE_URL": database_url, "NATS_URL": nats_server.url, "STREAM_NAME": bus.stream,
           "SWITCHBOARD_ENV": "production", "CONSOLE_AUTH_TOKEN": TOKEN,
           # production needs a NATS identity; this server checks none (the console's own
           # permissions: tests/integration/test_nats_permissions.py)
           "NATS_USER": "console", "NATS_PASSWORD": "console-password-unchecked-here"}
    pages = ["/", f"/conversations/{conversation}", f"/conversations/{conversation}/stream", "/dead-letters",
             "/system", "/chat", f"/?q={USER}"]
    async with running_console(**env) as console:
        for path in pages:
            answer = await console.get(path)
            assert answer.status_code == 401, path
            assert USER not in answer.text and SECRET_BODY not in answer.text
        assert (await console.get("/", headers={"Authorization": "Bearer wrong-token"})).status_code == 401
        assert (await console.post("/dead-letters/1/retry")).status_code == 401

        authorised = {"Authorization": f"Bearer {TOKEN}"}
        for path in pages[:2] + pages[3:]:
            answer = await console.get(path, headers=authorised)
            assert answer.status_code in (200, 404), path  # the web chat does not exist in production
            digits = USER.lstrip("+")
            assert digits not in answer.text and "600555" not in answer.text, path
            assert SECRET_BODY not in answer.text and "Booked: dentist" not in answer.text, path
        timeline = (await console.get(f"/conversations/{conversation}", headers=authorised)).text
        assert "create_event" in timeline and "delivered" in timeline  # masked, still useful
        assert mask_number(USER) in (await console.get("/", params={"q": USER}, headers=authorised)).text
        assert conversation not in (await console.get("/", params={"q": "555"}, headers=authorised)).text

        # The login form sets a cookie that works like the token.
        login = await console.post("/login", data={"token": TOKEN, "next": "/system"})
        cookie = login.headers["set-cookie"]
        assert login.status_code == 303 and {"httponly", "secure", "samesite=strict"} <= set(cookie.lower().split("; "))
        console.cookies.clear()  # Secure: a browser sends it over https only; here it is sent by hand
        assert (await console.get("/system", headers={"Cookie": cookie.split(";")[0]})).status_code == 200
        assert (await console.post("/login", data={"token": "nope"})).status_code == 401

    async with running_console(**{**env, "CONSOLE_REVEAL": "token"}) as console:
        page = await console.get(f"/conversations/{conversation}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert SECRET_BODY in page.text  # this operator may see them


async def test_a_dead_letter_retried_from_the_console_is_handled_again_and_audited(bus, nats_server, database_url):
    await migrate(database_url)
    user = conversation_id(BUSINESS, USER)
    broken = {"SM-dead"}
    handled: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.data.message_sid in broken:
            raise PermanentFailure("a bug")
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    stage = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, FAST).run(stop))
    env = {"DATABASE_URL": database_url, "NATS_URL": nats_server.url, "STREAM_NAME": bus.stream,
           "CONSOLE_AUTH_HEADER": "X-Auth-Request-Email"}
    try:
        async with running_audit(bus, database_url), running_console(**env) as console:
            dead = received(USER, "SM-dead", when=0).model_copy(update={"conversation": user})
            await bus.publish(dead, msg_id="SM-dead")

            async def listed() -> bool:
                return "data-seq=" in (await console.get("/dead-letters", headers={"X-Auth-Request-Email": "ana@example.org"})).text
            await eventually(listed, timeout=30)
            broken.clear()  # the fix is deployed
            who = {"X-Auth-Request-Email": "ana@example.org"}
            page = (await console.get("/dead-letters", headers=who)).text
            seq = int(re.search(r'data-seq="(\d+)"', page).group(1))

            assert (await console.post(f"/dead-letters/{seq}/retry", headers=who,
                                       data={"csrf_token": "forged"})).status_code == 403
            cross = await console.post(f"/dead-letters/{seq}/retry", data={"csrf_token": csrf_of(page)},
                                       headers={**who, "Origin": "https://evil.example"})
            assert cross.status_code == 403
            done = await console.post(f"/dead-letters/{seq}/retry", data={"csrf_token": csrf_of(page)}, headers=who)
            assert done.status_code == 303 and "stored+again" in done.headers["location"]
            await eventually(_true_when(lambda: handled == ["SM-dead"]), timeout=20)

            async def audited() -> bool:
                rows = await query(database_url, "SELECT payload FROM audit.events WHERE type = 'DeadLetterRetried'")
                return bool(rows) and '"ana@example.org"' in str(rows[0]["payload"]).replace("'", '"')
            await eventually(audited)
            again = (await console.get("/dead-letters?all=1", headers=who)).text
            assert "retried" in again
    finally:
        stop.set()
        await stage


def _true_when(predicate):
    async def check() -> bool:
        return bool(predicate())
    return check


assert T0  # the audit tests' clock, reused


async def test_the_web_chat_refuses_bad_input_clearly_and_exists_only_in_sandbox_mode(nats_server, database_url):
    env = {"DATABASE_URL": database_url, "NATS_URL": nats_server.url, "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
           "TWILIO_ACCOUNT_SID": "ACtest", "TWILIO_AUTH_TOKEN": "sandbox-token"}
    async with running_console(**env) as console:
        page = await console.get("/chat", params={"user": "+15550002222"})
        assert page.status_code == 200 and 'data-user="+15550002222"' in page.text
        csrf = csrf_of(page.text)
        assert (await console.post("/chat/send", data={"body": "hi"})).status_code == 403  # no CSRF token
        bad_user = await console.post("/chat/send", data={"csrf_token": csrf, "user": "5550002222", "body": "hi"})
        assert bad_user.status_code == 400 and "+15550001111" in bad_user.json()["error"]
        empty = await console.post("/chat/send", data={"csrf_token": csrf, "user": "+15550002222", "body": " "})
        assert empty.status_code == 400
        text_file = await console.post("/chat/send", data={"csrf_token": csrf, "user": "+15550002222"},
                                       files={"file": ("notes.txt", b"hello", "text/plain")})
        assert text_file.status_code == 415 and "text/plain" in text_file.json()["error"]
        unreachable = await console.post("/chat/send", data={"csrf_token": csrf, "user": "+15550002222", "body": "hi"})
        assert unreachable.status_code == 502 and "emulator" in unreachable.json()["error"]
    async with running_console(**{**env, "TWILIO_API_BASE_URL": "https://api.twilio.com"}) as console:
        assert (await console.get("/chat")).status_code == 404
        assert (await console.get("/chat/stream")).status_code == 404
