"""Collecting a burst on the in-memory event log with a manual clock: what is waited for, and who joins.

`collect_burst` reads the conversation's later inputs through the event-log port and waits on
the injected clock, so each test states exactly how long the agent waited.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.agent.burst import collect_burst
from services.agent.senders import find_sender
from shared.clock import ManualClock
from shared.eventlog_memory import InMemoryEventLog
from shared.events import MessageReceived, MessageReceivedData, MessageTranscribed, MessageTranscribedData
from shared.ids import conversation_id

BUSINESS, ANA, BOB = "+14155238886", "+34600111222", "+34600333444"
SHORT_S, LONG_S, MAX_S = 0.5, 2.0, 10.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def log(clock: ManualClock) -> InMemoryEventLog:
    return InMemoryEventLog(partitions=1, clock=clock)  # one partition: every conversation shares it


class Chat:
    """One user typing into the log, each message stamped with the clock's time."""

    def __init__(self, log: InMemoryEventLog, clock: ManualClock, user: str = ANA):
        self.log, self.clock, self.user, self.count = log, clock, user, 0
        self.conversation = conversation_id(BUSINESS, user)

    def message(self, text: str, ago_s: float = 0.0) -> MessageTranscribed:
        self.count += 1
        return MessageTranscribed(
            conversation=self.conversation, occurred_at=self.clock.now() - timedelta(seconds=ago_s),
            data=MessageTranscribedData(message_sid=f"SM{self.user[-3:]}{self.count}", text=text, source="typed",
                                        from_=self.user, to=BUSINESS))

    async def send(self, text: str, ago_s: float = 0.0) -> tuple[int, MessageTranscribed]:
        event = self.message(text, ago_s)
        return await self.log.publish(event, msg_id=f"text:{event.data.message_sid}"), event

    async def subject(self) -> str:
        return (await self.log.last_for_subject(f"wa.text.*.{self.conversation}")).subject


def finished(task: asyncio.Task):
    """The result of a task that must be over by now (a hang would be a failure, not a timeout)."""
    assert task.done(), "collect_burst is still waiting"
    return task.result()


def texts(inputs: list[tuple[int, MessageTranscribed]]) -> list[str]:
    return [event.data.text for _, event in inputs]


async def test_a_lone_complete_message_waits_the_short_window_and_no_longer(log, clock):
    ana = Chat(log, clock)
    first = await ana.send("book the dentist friday at 3pm")
    burst = asyncio.create_task(collect_burst(log, await ana.subject(), first, SHORT_S, MAX_S, LONG_S, clock))
    await clock.sleeping()
    await clock.advance(0.25)
    assert not burst.done()
    await clock.advance(0.25)
    assert texts(finished(burst)) == ["book the dentist friday at 3pm"]
    assert clock.slept == [SHORT_S]


async def test_an_opener_waits_the_long_window_and_what_follows_joins_the_turn(log, clock):
    ana = Chat(log, clock)
    first = await ana.send("hi")
    burst = asyncio.create_task(collect_burst(log, await ana.subject(), first, SHORT_S, MAX_S, LONG_S, clock))
    await clock.sleeping()
    assert clock.slept == [LONG_S]
    await clock.advance(1.0)
    await ana.send("can you book the dentist friday at 3?")  # at t=1.0
    await clock.advance(1.0)  # the first window ends at t=2.0; a second message has joined
    assert not burst.done()
    assert clock.slept == [LONG_S, 1.0]  # a burst has started: the long window again, from t=1.0
    await clock.advance(1.0)
    assert texts(finished(burst)) == ["hi", "can you book the dentist friday at 3?"]
    assert [seq for seq, _ in finished(burst)] == [1, 2]


async def test_a_backlog_is_answered_together_without_waiting(log, clock):
    ana = Chat(log, clock)
    first = await ana.send("hi", ago_s=60)
    await ana.send("what's on tomorrow?", ago_s=59)
    await ana.send("and friday", ago_s=58)
    inputs = await collect_burst(log, await ana.subject(), first, SHORT_S, MAX_S, LONG_S, clock)
    assert texts(inputs) == ["hi", "what's on tomorrow?", "and friday"]
    assert clock.slept == []


async def test_a_user_who_keeps_typing_is_answered_after_the_longest_wait(log, clock):
    ana = Chat(log, clock)
    first = await ana.send("hi")
    burst = asyncio.create_task(collect_burst(log, await ana.subject(), first, SHORT_S, 3.0, LONG_S, clock))
    await clock.sleeping()
    await clock.advance(1.5)
    await ana.send("so")  # t=1.5: the window would end at t=3.5, past the 3 s cap
    await clock.advance(0.5)  # t=2.0: the first window ends; the wait is cut to the cap
    await clock.advance(0.5)
    await ana.send("about friday")  # t=2.5
    await clock.advance(0.5)
    assert texts(finished(burst)) == ["hi", "so", "about friday"]
    assert clock.monotonic() == 3.0 and clock.slept == [LONG_S, 1.0]


async def test_only_this_conversations_inputs_join_and_an_undecodable_one_ends_the_read_ahead(log, clock):
    ana, bob = Chat(log, clock), Chat(log, clock, BOB)
    first = await ana.send("hi", ago_s=30)
    await bob.send("hello, it's Bob", ago_s=29)  # same partition, other conversation
    await ana.send("what's on tomorrow?", ago_s=28)
    log.append(f"wa.text.{ana.conversation}", b"not an event")  # the consumer dead-letters it in its turn
    await ana.send("and friday?", ago_s=27)
    inputs = await collect_burst(log, await ana.subject(), first, SHORT_S, MAX_S, LONG_S, clock)
    assert texts(inputs) == ["hi", "what's on tomorrow?"]
    assert clock.slept == []


async def test_the_sender_of_an_input_is_found_by_its_message_sid(log, clock):
    ana = Chat(log, clock)
    for sid, user in (("SM1", ANA), ("SM2", ANA)):
        received = MessageReceived(conversation=ana.conversation, data=MessageReceivedData(
            message_sid=sid, from_=user, to=BUSINESS, body="hi", received_at=clock.now()))
        await log.publish(received, msg_id=sid)
    _, typed = await ana.send("hi")
    asked = typed.model_copy(update={"data": typed.data.model_copy(update={"message_sid": "SM2"})})
    assert await find_sender(log, asked) == (ANA, BUSINESS)
    missing = typed.model_copy(update={"data": typed.data.model_copy(update={"message_sid": "SM9"})})
    assert await find_sender(log, missing) is None
