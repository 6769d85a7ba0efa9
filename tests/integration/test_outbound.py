"""Outbound through the real `twilio` library against the local emulator, on real NATS."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.splitter import TWILIO_MAX_BODY, twilio_length
from services.outbound.twilio_api import SendError, TwilioMessages
from shared.bus import Bus
from shared.consumer import AckPolicy, PartitionedConsumer
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import MessageSent, ReplyComposed, ReplyComposedData, SendFailed, decode
from shared.ids import conversation_id, parse_stored_subject
from switchboard.sandbox.server import TwilioEmulator
from tests.waiting import scaled

SID, TOKEN = "AC" + "1" * 32, "sandbox-token-for-tests"
BUSINESS = "+14155238886"
POLICY = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=5, fetch_timeout_s=0.5)


def reply(user: str, text: str, business: str = BUSINESS) -> ReplyComposed:
    return ReplyComposed(
        conversation=conversation_id(business, user),
        data=ReplyComposedData(
            reply_id=uuid.uuid4().hex, in_reply_to=("SM1",), from_=business, to=user, text=text, model="test"
        ),
    )


async def stream_events(bus: Bus) -> list:
    info = await bus.js.stream_info(bus.stream)
    return [decode((await bus.js.get_msg(bus.stream, s)).data) for s in range(1, info.state.last_seq + 1)]


async def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def wait_until_idle(bus: Bus, timeout: float = 20.0) -> None:
    """Until every reply is acknowledged: its handler has finished, so nothing more can be sent
    for it (what a fixed sleep after the last expected send used to stand for)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        infos = [c for c in await bus.js.consumers_info(bus.stream) if c.name.startswith("outbound-reply-")]
        if infos and all(i.num_ack_pending == 0 and i.num_pending == 0 for i in infos):
            return
        if time.monotonic() > deadline:
            raise AssertionError("outbound still holds a reply")
        await asyncio.sleep(0.02)


@pytest.fixture
async def emulator():
    async with TwilioEmulator(SID, TOKEN, status_delay_s=0.01) as running:
        yield running


@pytest.fixture
async def start_outbound(bus, emulator):
    """Start in-process outbound workers; returns their deps. Stopped at teardown."""
    stop = asyncio.Event()
    tasks, clients = [], []

    async def start(rate_per_s: float = 0.0, attempts: int = 4) -> Outbound:
        twilio = TwilioMessages(SID, TOKEN, emulator.url, timeout_s=5)
        deps = Outbound(
            events=JetStreamEventLog(bus), twilio=twilio, ledger=await SentLedger.open(JetStreamEventLog(bus)), pacer=SenderPacer(rate_per_s),
            status_callback=None, retry=RetryPolicy(attempts, base_s=0.02), max_deliver=POLICY.max_deliver,
        )
        consumer = PartitionedConsumer(bus, "outbound", "reply", functools.partial(deliver_reply, deps=deps), POLICY)
        tasks.append(asyncio.create_task(consumer.run(stop)))
        clients.append(twilio)
        return deps

    yield start
    stop.set()
    await asyncio.gather(*tasks)
    for client in clients:
        await client.close()


async def test_a_4000_character_reply_arrives_as_three_ordered_parts(bus, emulator, start_outbound):
    words = " ".join(f"word{i % 97} https://example.com/p/{i}" if i % 50 == 0 else f"word{i % 97}" for i in range(700))
    text = words[:4000].rsplit(" ", 1)[0]
    await start_outbound()
    event = reply("+34600000001", text)
    await bus.publish(event, msg_id=f"reply:{event.data.reply_id}")
    await wait_until(lambda: len(emulator.sent_to("+34600000001")) == 3)
    await wait_until_idle(bus)
    bodies = [m["body"] for m in emulator.sent_to("+34600000001")]
    assert len(bodies) == 3
    assert all(twilio_length(b) <= TWILIO_MAX_BODY for b in bodies)
    assert " ".join(bodies).split() == text.split()  # in order, no word or URL broken
    sent = [e for e in await stream_events(bus) if isinstance(e, MessageSent)]
    assert [(e.data.part, e.data.parts) for e in sent] == [(1, 3), (2, 3), (3, 3)]
    assert [e.data.twilio_sid for e in sent] == [m["sid"] for m in emulator.sent_to("+34600000001")]
    assert all(e.correlation_id == event.id and e.causation_id == event.id for e in sent)


def retries_counted() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect() if metric.name == "switchboard_outbound_retries"
        for sample in metric.samples if sample.name.endswith("_total")
    )


async def test_two_429s_then_success_delivers_exactly_once_and_counts_the_retries(bus, emulator, start_outbound):
    before = retries_counted()
    emulator.inject("429", count=2)
    await start_outbound()
    event = reply("+34600000002", "hello there")
    await bus.publish(event, msg_id="r2")
    await wait_until(lambda: emulator.sent_to("+34600000002"))
    await wait_until_idle(bus)
    assert [m["body"] for m in emulator.sent_to("+34600000002")] == ["hello there"]
    assert emulator.state.requests_seen == 3
    assert retries_counted() - before == 2


async def test_outside_the_24_hour_window_is_a_permanent_failure_without_retry(bus, emulator, start_outbound):
    emulator.inject("63016", count=1)
    await start_outbound()
    event = reply("+34600000003", "first part\n\n" + "x " * 900)
    await bus.publish(event, msg_id="r3")
    await wait_until(lambda: emulator.state.requests_seen >= 1)
    await wait_until_idle(bus)  # the reply is settled: no retry can come after this
    assert emulator.state.requests_seen == 1
    assert emulator.sent_to("+34600000003") == []
    failed = [e for e in await stream_events(bus) if isinstance(e, SendFailed)]
    assert len(failed) == 1
    assert failed[0].data.permanent is True and failed[0].data.error_code == 63016
    assert failed[0].data.part == 1


async def test_a_redelivered_reply_sends_nothing_twice(bus, emulator, start_outbound):
    deps = await start_outbound()
    event = reply("+34600000004", "only once")
    await bus.publish(event, msg_id="r4")
    await wait_until(lambda: emulator.sent_to("+34600000004"))
    await wait_until_idle(bus)  # the first delivery finished: sent, recorded, acknowledged
    # The same reply handled again, as after a redelivery.
    from shared.consumer import Delivery

    await deliver_reply(event, Delivery("wa.reply.0.x", 1, 2, 0, "outbound-reply-p000"), deps)
    await wait_until_idle(bus)
    assert len(emulator.sent_to("+34600000004")) == 1
    assert len([e for e in await stream_events(bus) if isinstance(e, MessageSent)]) == 1


async def partition_of(bus: Bus, event: ReplyComposed) -> int:
    probe = await bus.js.publish(f"wa.reply.{event.conversation}", b"{}", headers={"Nats-Msg-Id": f"probe:{event.conversation}"})
    partition = parse_stored_subject((await bus.js.get_msg(bus.stream, probe.seq)).subject)[1]
    await bus.js.delete_msg(bus.stream, probe.seq)
    return partition


async def test_pacing_holds_one_sender_to_its_rate_without_holding_back_others(bus, emulator, start_outbound):
    slow_user = "+34600000005"
    paced = [reply(slow_user, f"paced {i}") for i in range(50)]
    slow_partition = await partition_of(bus, paced[0])
    other_business = "+14155230000"
    other = None
    for i in range(100):
        candidate = reply(f"+3461000{i:04d}", "not held back", business=other_business)
        if await partition_of(bus, candidate) != slow_partition:
            other = candidate
            break
    assert other is not None
    await start_outbound(rate_per_s=10)
    started = time.monotonic()
    for event in paced:
        await bus.publish(event, msg_id=event.data.reply_id)
    await bus.publish(other, msg_id=other.data.reply_id)
    await wait_until(lambda: emulator.sent_to(other.data.to), timeout=30)
    await wait_until(lambda: len(emulator.sent_to(slow_user)) == 50, timeout=30)
    elapsed = time.monotonic() - started
    assert elapsed >= 4.9  # the slow sender held to 10 a second
    # Not held back: published after all 50, it reached Twilio while the paced ones were still
    # going out (by the emulator's order of arrival, not a wall-clock bound; it used to assert
    # under 2 s, which a second suite on the machine broke at 2.25 s).
    other_index = emulator.sent_to(other.data.to)[0]["index"]
    assert other_index < max(m["index"] for m in emulator.sent_to(slow_user))
    assert [m["body"] for m in emulator.sent_to(slow_user)] == [f"paced {i}" for i in range(50)]


async def test_a_twilio_request_that_hangs_is_cut_off_at_the_client_timeout(emulator):
    """The twilio library's async client drops its own timeout; ours must still apply."""
    emulator.inject("latency", count=1, latency_ms=3000)
    twilio = TwilioMessages(SID, TOKEN, emulator.url, timeout_s=0.3)
    try:
        with pytest.raises(SendError) as failure:
            await twilio.send("+14155238886", "+34600000009", "are you there?", None)
    finally:
        await twilio.close()
    assert emulator.state.requests_seen == 1  # the slow answer was really under way
    assert failure.value.accepted_maybe and not failure.value.permanent
    assert "Timeout" in str(failure.value)
