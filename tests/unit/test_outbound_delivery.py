"""Outbound's delivery handler on fakes: the in-memory event log and KV ledger, a port-level Twilio, a manual clock.

Each test is one delivery story: what Twilio accepted, what the ledger holds, what facts the
log has, and what a redelivery then does.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.splitter import split_message
from services.outbound.twilio_api import SendError
from shared.clock import ManualClock
from shared.consumer import Delivery
from shared.eventlog import PublishFailed
from shared.eventlog_memory import InMemoryEventLog
from shared.events import MessageSent, ReplyComposed, ReplyComposedData, SendFailed, decode
from shared.ids import conversation_id
from tests.fakes.twilio_sender import FakeTwilio, permanent, transient

BUSINESS, USER = "+14155238886", "+34600111222"
MAX_DELIVER = 3
# Two paragraphs that do not fit in one WhatsApp message together.
LONG_TEXT = ("Your week: " + "dentist on Friday at 3. " * 40).strip() + "\n\n" + ("Also: " + "gym at 7. " * 100).strip()


def reply(text: str, reply_id: str = "r-1") -> ReplyComposed:
    return ReplyComposed(
        conversation=conversation_id(BUSINESS, USER),
        data=ReplyComposedData(reply_id=reply_id, in_reply_to=("SM1",), from_=BUSINESS, to=USER, text=text, model="test"),
    )


def delivery(deliveries: int = 1) -> Delivery:
    return Delivery("wa.reply.0.x", 1, deliveries, 0, "outbound-reply-p000")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def log(clock) -> InMemoryEventLog:
    return InMemoryEventLog(clock=clock)


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
async def deps(log, twilio, clock) -> Outbound:
    return Outbound(
        events=log, twilio=twilio, ledger=await SentLedger.open(log), pacer=SenderPacer(0, clock),
        status_callback=None, retry=RetryPolicy(attempts=3, base_s=0.5, cap_s=8.0, jitter=0.5),
        max_deliver=MAX_DELIVER, clock=clock,
    )


def facts(log: InMemoryEventLog, kind: type) -> list:
    return [event for event in (decode(m.data) for m in log.messages) if isinstance(event, kind)]


async def test_a_long_reply_goes_out_in_parts_in_order_each_recorded_and_announced(deps, log, twilio):
    event = reply(LONG_TEXT)
    parts = split_message(LONG_TEXT)
    assert len(parts) == 2
    await deliver_reply(event, delivery(), deps)

    assert twilio.sent == [(BUSINESS, USER, part) for part in parts]
    sent = facts(log, MessageSent)
    assert [(s.data.part, s.data.parts, s.data.body) for s in sent] == [(1, 2, parts[0]), (2, 2, parts[1])]
    assert [s.data.twilio_sid for s in sent] == [f"SM{n:032d}" for n in (1, 2)]
    assert all(s.causation_id == event.id and s.conversation == event.conversation for s in sent)
    assert [m.headers["Nats-Msg-Id"] for m in log.messages] == ["sent:r-1:1", "sent:r-1:2"]
    assert [await deps.ledger.get("r-1", n) for n in (1, 2)] == [f"published:SM{n:032d}" for n in (1, 2)]


async def test_a_redelivered_reply_sends_nothing_twice(deps, log, twilio):
    event = reply(LONG_TEXT)
    await deliver_reply(event, delivery(), deps)
    await deliver_reply(event, delivery(2), deps)
    assert len(twilio.sent) == 2 and twilio.attempts == 2
    assert len(facts(log, MessageSent)) == 2  # re-announced under the same Nats-Msg-Id: stored once


async def test_a_part_twilio_accepted_but_not_announced_is_announced_not_resent(deps, log, twilio):
    event = reply(LONG_TEXT)
    log.unavailable = True  # NATS goes away after Twilio accepted part 1
    with pytest.raises(PublishFailed):
        await deliver_reply(event, delivery(), deps)
    assert len(twilio.sent) == 1 and await deps.ledger.get("r-1", 1) == f"sent:SM{1:032d}"
    assert log.messages == []

    log.unavailable = False
    await deliver_reply(event, delivery(2), deps)  # the redelivery
    assert [body for _, _, body in twilio.sent] == split_message(LONG_TEXT)  # part 1 went out once
    assert [(s.data.part, s.data.twilio_sid) for s in facts(log, MessageSent)] == [(1, f"SM{1:032d}"), (2, f"SM{2:032d}")]


async def test_a_part_left_at_sending_that_twilio_has_is_recorded_from_its_list_not_resent(deps, log, twilio):
    """A process died after Twilio accepted part 1 and before it learnt the SID."""
    event = reply("hello there")
    await twilio.send(BUSINESS, USER, "hello there", None)  # what the dead attempt handed over
    await deps.ledger.record("r-1", 1, f"sending:{time.time() - 1:.3f}")
    await deliver_reply(event, delivery(2), deps)
    assert len(twilio.sent) == 1  # not sent again
    assert [s.data.twilio_sid for s in facts(log, MessageSent)] == [f"SM{1:032d}"]
    assert await deps.ledger.get("r-1", 1) == f"published:SM{1:032d}"


async def test_a_part_left_at_sending_that_twilio_never_took_is_sent_again(deps, log, twilio):
    event = reply("hello there")
    await deps.ledger.record("r-1", 1, "sending:0")
    await deliver_reply(event, delivery(2), deps)
    assert twilio.sent == [(BUSINESS, USER, "hello there")]
    assert len(facts(log, MessageSent)) == 1


async def test_a_permanent_error_is_recorded_announced_once_and_never_retried(deps, log, twilio, clock):
    event = reply(LONG_TEXT)
    twilio.fail_next(permanent(63016))
    await deliver_reply(event, delivery(), deps)  # handled: nothing to hand back

    assert twilio.attempts == 1 and twilio.sent == [] and clock.slept == []
    [failed] = facts(log, SendFailed)
    assert (failed.data.part, failed.data.parts, failed.data.error_code, failed.data.permanent) == (1, 2, 63016, True)
    assert await deps.ledger.get("r-1", 1) == "failed:63016" and await deps.ledger.get("r-1", 2) is None

    await deliver_reply(event, delivery(2), deps)
    assert twilio.attempts == 1 and len(facts(log, SendFailed)) == 1


async def test_transient_errors_are_retried_with_backoff_within_one_delivery(deps, log, twilio, clock):
    twilio.fail_next(transient(503), transient(429))
    await clock.run(deliver_reply(reply("see you friday"), delivery(), deps))
    assert twilio.attempts == 3 and [body for _, _, body in twilio.sent] == ["see you friday"]
    assert len(clock.slept) == 2
    assert 0.25 <= clock.slept[0] <= 0.5 and 0.5 <= clock.slept[1] <= 1.0  # half to all of 0.5 s, then 1 s
    assert len(facts(log, MessageSent)) == 1 and facts(log, SendFailed) == []


async def test_an_outage_hands_the_reply_back_and_only_the_last_delivery_announces_the_failure(deps, log, twilio, clock):
    event = reply("see you friday")
    twilio.fail_next(*(transient() for _ in range(3)))
    with pytest.raises(SendError) as first:
        await clock.run(deliver_reply(event, delivery(1), deps))
    assert first.value.permanent is False
    # Nothing announced; the ledger knows Twilio surely did not take it, so it comes back.
    assert log.messages == [] and await deps.ledger.get("r-1", 1) == "unsent:503"

    twilio.fail_next(*(transient() for _ in range(3)))
    with pytest.raises(SendError):
        await clock.run(deliver_reply(event, delivery(MAX_DELIVER), deps))
    [failed] = facts(log, SendFailed)
    assert failed.data.permanent is False and failed.data.part == 1
    assert twilio.attempts == 6 and twilio.sent == []


async def test_sends_from_one_number_are_paced_and_other_numbers_do_not_wait(clock):
    pacer = SenderPacer(2.0, clock)  # two messages a second per sending number
    together = asyncio.gather(*(pacer.wait(sender) for sender in (BUSINESS, BUSINESS, "+14155550000", BUSINESS)))
    assert await clock.run(together) == [0.0, 0.5, 0.0, 1.0]
    assert clock.monotonic() == 1.0
