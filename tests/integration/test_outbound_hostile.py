"""Outbound against forged replies, rotated credentials and NATS dropping mid-send
(real nats-server, the `twilio` library against the local emulator)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.twilio_api import TwilioMessages
from shared.consumer import Delivery
from shared.errors import DependencyUnavailable
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import MessageDeadLettered, MessageSent, SendFailed
from shared.ids import conversation_id
from tests.integration.test_outbound import (  # noqa: F401 - fixtures
    BUSINESS,
    SID,
    TOKEN,
    emulator,
    reply,
    start_outbound,
    stream_events,
    wait_until,
)

OUTAGE_S = 4.0


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_reply_whose_number_is_not_its_conversations_is_dead_lettered_and_not_sent(bus, emulator, start_outbound):
    await start_outbound()
    victim, attacker = "+34600000010", "+34600000011"
    forged = reply(attacker, "pay here: https://evil.example")
    forged = forged.model_copy(update={"data": forged.data.model_copy(update={"to": victim})})
    assert forged.conversation == conversation_id(BUSINESS, attacker)
    await bus.publish(forged, msg_id="forged")
    honest = reply(attacker, "a real answer")
    await bus.publish(honest, msg_id="honest")
    await wait_until(lambda: emulator.sent_to(attacker))
    events = await stream_events(bus)
    [dead] = [e for e in events if isinstance(e, MessageDeadLettered)]
    assert dead.data.original_id == forged.id and "conversation" in dead.data.error
    assert victim not in dead.data.error
    assert emulator.sent_to(victim) == []
    assert [m["body"] for m in emulator.sent_to(attacker)] == ["a real answer"]


async def test_rejected_credentials_are_a_dependency_outage_and_the_reply_waits_for_the_fix(bus, emulator):
    """401 / 20003 sends nothing, publishes no SendFailed and raises DependencyUnavailable,
    however many deliveries it took; once the credentials work, the reply goes out once."""
    rotated = TwilioMessages(SID, "the-old-token", emulator.url, timeout_s=5)
    events = JetStreamEventLog(bus)
    deps = Outbound(events=events, twilio=rotated, ledger=await SentLedger.open(events), pacer=SenderPacer(0),
                    status_callback=None, retry=RetryPolicy(4, base_s=0.01), max_deliver=3)
    event = reply("+34600000012", "waiting for a fix")
    try:
        before = counter("switchboard_outbound_sends_total", outcome="credentials_rejected")
        for deliveries in (1, 3, 7):  # past max_deliver: still not a failure of the reply
            with pytest.raises(DependencyUnavailable) as caught:
                await deliver_reply(event, Delivery("wa.reply.0.x", 1, deliveries, 0, "outbound-reply-p000"), deps)
            assert caught.value.__cause__.status == 401 and caught.value.__cause__.code == 20003  # the fault fired
        # counted once per delivery
        assert counter("switchboard_outbound_sends_total", outcome="credentials_rejected") == before + 3
        assert emulator.sent_to("+34600000012") == []
        assert not [e for e in await stream_events(bus) if isinstance(e, SendFailed)]
        emulator.state.auth_token = "the-old-token"  # the operator fixes the credentials
        await deliver_reply(event, Delivery("wa.reply.0.x", 1, 8, 0, "outbound-reply-p000"), deps)
    finally:
        await rotated.close()
    assert [m["body"] for m in emulator.sent_to("+34600000012")] == ["waiting for a fix"]
    assert len([e for e in await stream_events(bus) if isinstance(e, MessageSent)]) == 1


async def test_nats_dropping_between_twilios_acceptance_and_the_record_sends_the_part_once(
    bus, emulator, start_outbound, nats_server
):
    await start_outbound()
    user = "+34600000013"
    emulator.inject("latency", count=1, latency_ms=1500)
    event = reply(user, "exactly once, please")
    await bus.publish(event, msg_id="r13")
    await wait_until(lambda: emulator.state.requests_seen >= 1)  # Twilio has the request in hand
    nats_server.stop()  # NATS goes away before Twilio answers
    assert emulator.sent_to(user) == []  # not accepted yet when NATS was gone...
    await wait_until(lambda: emulator.sent_to(user))  # ...and accepted after: the fault fired
    await asyncio.sleep(OUTAGE_S)  # the outage lasts longer than a publish waits for its ack
    nats_server.start()

    async def settled() -> bool:
        try:
            sent = [e for e in await stream_events(bus) if isinstance(e, MessageSent)]
            infos = [c for c in await bus.js.consumers_info(bus.stream) if c.name.startswith("outbound-reply-")]
        except Exception:  # still reconnecting
            return False
        return bool(sent) and all(i.num_ack_pending == 0 and i.num_pending == 0 for i in infos)

    await wait_async(settled, timeout=60)
    assert [m["body"] for m in emulator.sent_to(user)] == ["exactly once, please"]
    sent = [e for e in await stream_events(bus) if isinstance(e, MessageSent)]
    assert [e.data.reply_id for e in sent] == [event.data.reply_id]
    # How the record got through is not the point (the client may hold the put until NATS is
    # back, the put may be retried in place, or a redelivery may find the part at `sending`
    # and Twilio's list settle it): the fault fired above, and the user got one copy.


async def wait_async(check, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_nul_and_control_characters_never_reach_twilio(bus, emulator, start_outbound):
    await start_outbound()
    event = reply("+34600000014", "hi\x00 there\x1b[0m\r\nbye")
    await bus.publish(event, msg_id="r14")
    await wait_until(lambda: emulator.sent_to("+34600000014"))
    assert [m["body"] for m in emulator.sent_to("+34600000014")] == ["hi there[0m\nbye"]
