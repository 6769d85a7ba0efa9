"""NATS permissions on a real nats-server configured as `switchboard up` configures it.

Each service connects as its own user (shared.nats_permissions); these tests show what
a stolen or buggy service identity can no longer do: forge another service's events,
call or impersonate the calendar, read other services' replies. The whole pipeline under
these permissions: tests/integration/test_agent_stack.py and tests/e2e/test_up.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
import yaml
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout

from shared.bus import NatsAccess, PublishFailed
from shared.calendar import CalendarClient, CalendarUnreachable, CreateEvent, ListEvents
from shared.events import (
    MessageDeadLettered,
    MessageDeadLetteredData,
    MessageReceived,
    MessageReceivedData,
    ReplyComposed,
    ReplyComposedData,
)
from shared.ids import conversation_id
from shared.nats_permissions import IDENTITIES, SERVICES, inbox_prefix, password_variable
from switchboard.infra import NatsServer
from tests.fakes.calendar_rig import BUSINESS, OWNER_A, OWNER_B, calendar_rig
from tests.waiting import scaled

ATTACKER = "+34600999888"
ROOT = Path(__file__).resolve().parents[2]


async def stored(nats_) -> int:
    admin = await nats_.bus_as("admin")
    return (await admin.js.stream_info(nats_.stream.name)).state.messages


async def told(nats_, identity: str, *words: str) -> str:
    """The server's error to `identity` containing every word, in any case (waits for it to arrive)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(20)  # only ends a hung test: the loop returns on the event
    while loop.time() < deadline:
        for error in nats_.errors.get(identity, []):
            if all(word.lower() in error.lower() for word in words):
                return error
        await asyncio.sleep(0.02)
    raise AssertionError(f"{identity} was never told {words}: {nats_.errors.get(identity)}")


def forged_reply(to: str) -> ReplyComposed:
    return ReplyComposed(
        conversation=conversation_id(BUSINESS, to),
        data=ReplyComposedData(reply_id="forged-" + uuid.uuid4().hex, in_reply_to=("SMx",), from_=BUSINESS, to=to,
                               text="pay here: https://evil.example", model="none"),
    )


def forged_message(user: str) -> MessageReceived:
    return MessageReceived(
        conversation=conversation_id(BUSINESS, user),
        data=MessageReceivedData(message_sid="SM" + uuid.uuid4().hex, from_=f"whatsapp:{user}",
                                 to=f"whatsapp:{BUSINESS}", body="forged", received_at=datetime.now(UTC)),
    )


def who(owner: str) -> dict[str, str]:
    return {"owner": owner, "business": BUSINESS, "conversation": conversation_id(BUSINESS, owner)}


async def test_an_unauthenticated_client_or_a_wrong_password_is_refused(authorized_nats):
    url = authorized_nats.server.url
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    wrong = NatsAccess(user="agent", password="not-the-password").options()
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1, **wrong)


async def test_the_gateway_identity_cannot_publish_a_reply(authorized_nats):
    gateway = await authorized_nats.bus_as("gateway")
    with pytest.raises(PublishFailed):
        await gateway.publish(forged_reply(ATTACKER), msg_id="forged-reply")
    await told(authorized_nats, "gateway", "permissions violation for publish", "wa.reply.")
    assert await stored(authorized_nats) == 0


async def test_the_outbound_identity_cannot_publish_a_received_message(authorized_nats):
    outbound = await authorized_nats.bus_as("outbound")
    with pytest.raises(PublishFailed):
        await outbound.publish(forged_message(ATTACKER), msg_id="forged-received")
    await told(authorized_nats, "outbound", "permissions violation for publish", "wa.received.")
    assert await stored(authorized_nats) == 0


async def test_each_service_publishes_its_own_events(authorized_nats):
    gateway = await authorized_nats.bus_as("gateway")
    agent = await authorized_nats.bus_as("agent")
    assert (await gateway.publish(forged_message(OWNER_A), msg_id="own-received")).seq == 1
    assert (await agent.publish(forged_reply(OWNER_A), msg_id="own-reply")).seq == 2


async def test_only_the_agent_calls_the_calendar(authorized_nats, database_url):
    calendar = await authorized_nats.bus_as("calendar")
    async with calendar_rig(calendar, database_url) as rig:
        agent = CalendarClient((await authorized_nats.bus_as("agent")).nc, timeout_s=10)
        created = await agent.create(CreateEvent(**who(OWNER_B), summary="B's dentist", start="2026-12-01T10:00"))
        assert created.event.summary == "B's dentist"

        for identity in ("gateway", "transcriber", "outbound", "audit", "calendar"):
            client = CalendarClient((await authorized_nats.bus_as(identity)).nc, timeout_s=scaled(1))
            with pytest.raises(CalendarUnreachable):
                await client.list(ListEvents(**who(OWNER_B), start="2026-12-01T00:00", end="2026-12-02T00:00"))
            await told(authorized_nats, identity, "permissions violation for publish", "calendar.list")
        listed = await agent.list(ListEvents(**who(OWNER_B), start="2026-12-01T00:00", end="2026-12-02T00:00"))
        assert [event.summary for event in listed.events] == ["B's dentist"]
        assert rig.service.running


async def test_no_identity_but_the_calendar_can_take_calendar_requests(authorized_nats, database_url):
    """A service that could subscribe to `calendar.>` could answer as the calendar (or read requests)."""
    heard: list[str] = []

    async def eavesdrop(msg) -> None:
        heard.append(msg.subject)

    for identity in (name for name in SERVICES if name != "calendar"):
        nc = (await authorized_nats.bus_as(identity)).nc
        for subject in ("calendar.>", "calendar.create", "$SRV.>", "_INBOX.>", "_INBOX_agent.>"):
            await nc.subscribe(subject, cb=eavesdrop)
            if identity == "agent" and subject == "_INBOX_agent.>":
                continue  # its own inbox
            await told(authorized_nats, identity, "permissions violation for subscription", subject)
    calendar = await authorized_nats.bus_as("calendar")
    async with calendar_rig(calendar, database_url):
        agent = CalendarClient((await authorized_nats.bus_as("agent")).nc, timeout_s=10)
        created = await agent.create(CreateEvent(**who(OWNER_A), summary="Lunch", start="2026-12-01T13:00"))
        assert created.event.summary == "Lunch"
    assert all(subject.startswith("_INBOX_agent.") for subject in heard), heard  # only the agent's own inbox


def deployed_config(source: str) -> str:
    """The users of the cluster (deploy/nats/values-auth.yaml rendered as the NATS chart renders
    it: JSON, `<< $VAR >>` unquoted) or of docker-compose (deploy/nats/compose-auth.conf)."""
    if source == "compose":
        return (ROOT / "deploy" / "nats" / "compose-auth.conf").read_text()
    values = yaml.safe_load((ROOT / "deploy" / "nats" / "values-auth.yaml").read_text())
    return re.sub(r'"<< (\$[A-Z_]+) >>"', r"\1", json.dumps(values["config"]["merge"], indent=2))


@pytest.mark.parametrize("source", ["helm", "compose"])
async def test_the_deploy_configurations_give_a_server_the_same_users(source, tmp_path, monkeypatch):
    """nats-server reads each password from its environment, as in the cluster and under compose."""
    text = deployed_config(source)
    passwords = {identity: uuid.uuid4().hex for identity in IDENTITIES}
    for identity, password in passwords.items():
        monkeypatch.setenv(password_variable(identity), password)
    (tmp_path / "nats.conf").write_text(text)
    server = NatsServer(tmp_path / "nats", config_file=tmp_path / "nats.conf").start()
    try:
        errors: list[str] = []

        async def record(exc: Exception) -> None:
            errors.append(str(exc))

        gateway = await nats.connect(server.url, user="gateway", password=passwords["gateway"], error_cb=record,
                                     inbox_prefix=inbox_prefix("gateway"), allow_reconnect=False)
        await gateway.publish("wa.received.c1", b"{}")
        await gateway.publish("wa.reply.c1", b"{}")
        await gateway.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + scaled(20)  # only ends a hung test: the loop returns on the event
        while not errors and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert errors == ['nats: permissions violation for publish to "wa.reply.c1"']
        await gateway.close()
        with pytest.raises(NatsError, match="Authorization Violation"):
            await nats.connect(server.url, user="gateway", password=passwords["agent"], allow_reconnect=False,
                               max_reconnect_attempts=1)
    finally:
        server.stop()


async def test_the_console_reads_and_retries_dead_letters_and_can_do_nothing_else(authorized_nats):
    """The console's identity: stream and consumer info, the dead letters (an ordered
    consumer), a retried copy and the operator's records; no forged event, no durable, no
    deletion, no eavesdropping on events."""
    from switchboard.dead_letters import dead_letters, discard, retry

    gateway = await authorized_nats.bus_as("gateway")
    transcriber = await authorized_nats.bus_as("transcriber")
    originals = [forged_message(OWNER_A), forged_message(OWNER_B)]
    seqs = [(await gateway.publish(event, msg_id=f"original-{n}")).seq for n, event in enumerate(originals)]
    for seq, event in zip(seqs, originals, strict=True):
        dead = MessageDeadLettered(
            conversation=event.conversation,
            data=MessageDeadLetteredData(consumer="transcriber-received-p000", stream_sequence=seq,
                                         subject=event.subject, deliveries=5, error="boom",
                                         original_type=event.type, original_id=event.id),
        )
        await transcriber.publish(dead, msg_id=f"dead-{seq}")

    console = await authorized_nats.bus_as("console")
    assert (await console.js.stream_info(authorized_nats.stream.name)).state.messages == 4
    await console.js.consumers_info(authorized_nats.stream.name)  # the system page's lag view
    found = await dead_letters(console)
    assert [d.original_seq for d in found] == seqs and all(d.state == "open" for d in found)
    copy = await retry(console, found[0], "ops@example.com")
    await discard(console, found[1], "ops@example.com", "spam")
    assert (await console.js.get_msg(authorized_nats.stream.name, copy)).data == (
        await console.js.get_msg(authorized_nats.stream.name, seqs[0])).data
    assert [d.state for d in await dead_letters(console)] == ["retried", "discarded"]
    assert not authorized_nats.errors.get("console")
    assert await stored(authorized_nats) == 7  # and the copy, the Retried and the Discarded records

    stream = authorized_nats.stream.name
    # Retrying re-stores what the ordered stages consume (received, text, reply); nothing else.
    for kind in ("sent", "status", "calendar", "agent_failed"):
        await console.nc.publish(f"wa.{kind}.c1", b"{}")
        await told(authorized_nats, "console", "permissions violation for publish", f"wa.{kind}.c1")
    with pytest.raises(NatsTimeout):  # a durable (by name) is refused: the request never reaches JetStream
        await console.js.add_consumer(stream, name="sneaky", durable_name="sneaky", timeout=scaled(1))
    await told(authorized_nats, "console", "permissions violation for publish", f"$JS.API.CONSUMER.CREATE.{stream}.sneaky")
    # ... and through the ephemeral subject the console may use, JetStream refuses a durable name.
    answer = await console.nc.request(f"$JS.API.CONSUMER.CREATE.{stream}", json.dumps(
        {"stream_name": stream, "config": {"durable_name": "sneaky", "ack_policy": "explicit"}}).encode(), timeout=scaled(5))
    assert "error" in json.loads(answer.data), answer.data
    await console.nc.publish(f"$JS.API.CONSUMER.DELETE.{stream}.audit", b"")
    await told(authorized_nats, "console", "permissions violation for publish", f"$JS.API.CONSUMER.DELETE.{stream}.audit")
    for subject in ("wa.>", "_INBOX_agent.>"):
        await console.nc.subscribe(subject)
        await told(authorized_nats, "console", "permissions violation for subscription", subject)
    assert await stored(authorized_nats) == 7
