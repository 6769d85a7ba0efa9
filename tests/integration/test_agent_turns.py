"""Turns on real NATS and Postgres: order, bursts, exactly-once replies, replicas, bad input."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY

from services.agent.offline.model import OfflineAssistant
from shared.bus import PublishFailed
from shared.consumer import AckPolicy
from shared.events import MessageDeadLettered, ReplyComposed
from shared.ids import conversation_id
from tests.fakes.calendar_rig import calendar_rig
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.integration.test_agent_memory import (
    BUSINESS,
    OWNER_A,
    Recorder,
    agent_settings,
    running_agent,
    send_text,
    text_event,
    wait_until,
)


class SlowOffline(OfflineAssistant):
    """The offline model taking its time, like an LLM, and noting what it was asked."""

    delay_s: ClassVar[float] = 0.0
    seen: ClassVar[list] = []
    gate: ClassVar[asyncio.Event | None] = None  # a test's hook: answer only once it is set

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs: Any):
        self.seen.append([m.content for m in messages if m.type == "human"])
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay_s)
        return await super()._agenerate(messages, stop, run_manager, **kwargs)


class ReplicaA(SlowOffline):
    seen: ClassVar[list] = []


class ReplicaB(SlowOffline):
    seen: ClassVar[list] = []


def metric(name: str) -> float:
    return sum(s.value for m in REGISTRY.collect() for s in m.samples if s.name == name)


async def consumers_idle(bus) -> bool:
    infos = [c for c in await bus.js.consumers_info(bus.stream) if c.name.startswith("agent-text-")]
    return bool(infos) and all(i.num_ack_pending == 0 and i.num_pending == 0 for i in infos)


async def test_the_offline_model_creates_lists_moves_and_cancels_through_the_calendar_service(database_url, bus):
    async with Recorder(bus) as seen, calendar_rig(bus, database_url), \
            running_agent(bus, agent_settings(database_url, bus)):
        async def say(text: str) -> str:
            before = len(seen.of(ReplyComposed))
            await send_text(bus, OWNER_A, text)
            await wait_until(lambda: len(seen.of(ReplyComposed)) > before)
            return seen.of(ReplyComposed)[-1].data.text

        created = await say("Schedule lunch with Ana tomorrow at 1")
        assert "“Lunch with Ana” is in your calendar" in created and "13:00–14:00" in created
        moved = await say("move it to 2")
        assert "is now" in moved and "14:00–15:00" in moved
        listed = await say("What do I have tomorrow?")
        assert "Lunch with Ana" in listed and "14:00–15:00" in listed
        assert "Cancelled “Lunch with Ana”" in await say("cancel it")
        assert "nothing in your calendar tomorrow" in await say("what do I have tomorrow?")
        last = seen.of(ReplyComposed)[-1]
        assert last.data.model == "offline" and last.data.to == OWNER_A and last.data.from_ == BUSINESS
        assert [t.name for t in last.data.tool_calls] == ["list_events"] and last.data.latency_ms is not None
        assert last.data.usage.input_tokens > 0


async def test_three_messages_300_ms_apart_get_one_reply_that_addresses_all_three(database_url, bus):
    settings = agent_settings(database_url, bus, AGENT_DEBOUNCE_S=0.4, AGENT_DEBOUNCE_FRAGMENT_S=1.8)  # defaults
    async with Recorder(bus) as seen, calendar_rig(bus, database_url), running_agent(bus, settings):
        sids = []
        for text in ("Hi!", "What time is it?", "What do I have tomorrow?"):
            event, _ = await send_text(bus, OWNER_A, text)
            sids.append(event.data.message_sid)
            await asyncio.sleep(0.3)
        await wait_until(lambda: seen.of(ReplyComposed), timeout=15)
        await wait_until(lambda: consumers_idle(bus))  # the other two were delivered, found answered, acked
        [reply] = seen.of(ReplyComposed)
        assert list(reply.data.in_reply_to) == sids
        assert reply.data.text.startswith("Hi!")
        assert "It's " in reply.data.text and "(Europe/Madrid)" in reply.data.text
        assert "nothing in your calendar tomorrow" in reply.data.text


@pytest.mark.parametrize("texts", [
    ("hi", "can you book the dentist", "friday at 3pm"),
    ("burst 1", "burst 2", "burst 3"),
    ("hola", "agendá gimnasio", "el lunes a las 7"),
])
async def test_three_messages_typed_a_second_apart_still_get_one_answer(database_url, bus, texts):
    settings = agent_settings(database_url, bus, AGENT_DEBOUNCE_S=0.4, AGENT_DEBOUNCE_FRAGMENT_S=1.8)  # defaults
    async with Recorder(bus) as seen, calendar_rig(bus, database_url), running_agent(bus, settings):
        sids = []
        for i, text in enumerate(texts):
            if i:
                await asyncio.sleep(1.0)  # the user typing, not a wait for a result
            event, _ = await send_text(bus, OWNER_A, text)
            sids.append(event.data.message_sid)
        await wait_until(lambda: seen.of(ReplyComposed), timeout=20)
        await wait_until(lambda: consumers_idle(bus))
        assert [list(r.data.in_reply_to) for r in seen.of(ReplyComposed)] == [sids]


async def test_messages_sent_while_a_turn_runs_are_answered_together_in_the_next_turn(database_url, bus):
    SlowOffline.delay_s, SlowOffline.seen, SlowOffline.gate = 0.0, [], asyncio.Event()
    try:
        async with Recorder(bus) as seen, running_agent(bus, agent_settings(database_url, bus), model=SlowOffline()):
            first, _ = await send_text(bus, OWNER_A, "hello")
            await wait_until(lambda: SlowOffline.seen)  # the first turn is at the model now
            second, _ = await send_text(bus, OWNER_A, "help")
            third, _ = await send_text(bus, OWNER_A, "thanks")
            SlowOffline.gate.set()  # both are stored: the first turn may end
            await wait_until(lambda: len(seen.of(ReplyComposed)) >= 2, timeout=15)
            await wait_until(lambda: consumers_idle(bus))
            answered = [list(r.data.in_reply_to) for r in seen.of(ReplyComposed)]
            assert answered == [[first.data.message_sid], [second.data.message_sid, third.data.message_sid]]
            assert SlowOffline.seen[-1][-2:] == ["help", "thanks"]
            assert "You're welcome" in seen.of(ReplyComposed)[-1].data.text
    finally:
        SlowOffline.gate = None  # never left for another test


async def test_a_redelivery_after_a_crash_between_publish_and_ack_makes_no_second_llm_call_or_reply(database_url, bus):
    crash_policy = AckPolicy(max_deliver=4, backoff_s=(0.05,), ack_wait_s=1.0, fetch_timeout_s=0.2)
    with FakeOpenAIChat() as llm:
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url)
        async with Recorder(bus) as seen:
            async with running_agent(bus, settings, crash_policy) as agent:
                real_publish = agent.events.publish
                crashed = asyncio.Event()

                async def publish_then_die(event, msg_id):
                    ack = await real_publish(event, msg_id)
                    if isinstance(event, ReplyComposed):
                        crashed.set()
                        raise asyncio.CancelledError  # the process dies here: no ack, no nak
                    return ack

                agent.events.publish = publish_then_die
                await send_text(bus, OWNER_A, "What is the capital of France?")
                await crashed.wait()
                del agent.events.publish  # tidy: the next "process" builds its own
            assert llm.calls == 1
            republished = metric("switchboard_agent_replies_republished_total")
            async with running_agent(bus, settings, crash_policy):  # a new process gets the redelivery
                await wait_until(lambda: metric("switchboard_agent_replies_republished_total") > republished)
                await wait_until(lambda: consumers_idle(bus))
            assert llm.calls == 1  # no second model call
            [reply] = seen.of(ReplyComposed)  # the stream dropped the re-published copy (same Nats-Msg-Id)
            assert reply.data.text == "You said: What is the capital of France?"


async def test_a_crash_between_composing_and_publishing_publishes_the_stored_reply_once(database_url, bus):
    with FakeOpenAIChat() as llm:
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url)
        async with Recorder(bus) as seen, running_agent(bus, settings) as agent:
            real_publish = agent.events.publish
            failures = iter([True])

            async def lose_the_first_publish(event, msg_id):
                if isinstance(event, ReplyComposed) and next(failures, False):
                    raise PublishFailed("NATS went away")
                return await real_publish(event, msg_id)

            agent.events.publish = lose_the_first_publish
            await send_text(bus, OWNER_A, "tell me a joke")
            await wait_until(lambda: seen.of(ReplyComposed))
            await wait_until(lambda: consumers_idle(bus))
            del agent.events.publish
        assert llm.calls == 1
        [reply] = seen.of(ReplyComposed)
        assert reply.data.text == "You said: tell me a joke"


async def test_two_replicas_answer_ten_conversations_of_twenty_messages_in_order_exactly_once(database_url, bus):
    users = [f"+3460000{n:04d}" for n in range(10)]
    settings = agent_settings(database_url, bus)
    ReplicaA.delay_s = ReplicaB.delay_s = 0.01
    workers: list = []
    async with Recorder(bus) as seen, running_agent(bus, settings, model=ReplicaA(), workers=workers) as agent, \
            running_agent(bus, settings, model=ReplicaB(), workers=workers):
        # Both have joined and split the partitions between them (on a busy machine the second
        # used to join after the first had answered everything).
        await wait_until(lambda: all(w.owned for w in workers)
                         and sum(len(w.owned) for w in workers) == workers[0].partitions)
        sent: dict[str, list[str]] = {user: [] for user in users}
        order = [user for user in users for _ in range(20)]
        random.Random(7).shuffle(order)
        for user in order:  # interleaved across conversations, in order within each
            event = text_event(user, f"thanks {len(sent[user]) + 1}")
            await bus.publish(event, msg_id=event.data.message_sid)
            sent[user].append(event.data.message_sid)
        await wait_until(lambda: sum(len(r.data.in_reply_to) for r in seen.of(ReplyComposed)) >= 200, timeout=60)
        await wait_until(lambda: consumers_idle(bus))
        for user in users:
            answered = [sid for r in seen.of(ReplyComposed, user) for sid in r.data.in_reply_to]
            assert answered == sent[user]  # every input answered once, in the order sent
            state = await agent.graph.aget_state({"configurable": {"thread_id": conversation_id(BUSINESS, user)}})
            said = [m.content for m in state.values["messages"] if m.type == "human"]
            assert said == [f"thanks {n}" for n in range(1, 21)]  # the thread took them in order
        assert ReplicaA.seen and ReplicaB.seen  # both replicas answered turns


async def test_an_input_without_the_senders_numbers_is_dead_lettered_and_the_next_one_is_answered(database_url, bus):
    async with Recorder(bus) as seen, running_agent(bus, agent_settings(database_url, bus)):
        bad = text_event(OWNER_A, "hello")
        bad = bad.model_copy(update={"data": bad.data.model_copy(update={"from_": None, "to": None})})
        await bus.publish(bad, msg_id="bad")
        good, _ = await send_text(bus, OWNER_A, "hello again")
        await wait_until(lambda: seen.of(ReplyComposed))
        [dead] = seen.of(MessageDeadLettered)
        assert dead.data.original_id == bad.id and "from/to" in dead.data.error
        [reply] = seen.of(ReplyComposed)
        assert reply.data.text.startswith("Hi!") and reply.data.in_reply_to == (good.data.message_sid,)


async def test_a_v1_input_as_first_published_is_answered_with_the_sender_of_its_received_message(database_url, bus):
    # MessageTranscribed v1 as first published had no from/to: the agent finds them in the
    # MessageReceived that started the chain instead of dead-lettering the input.
    from shared.events import MessageReceived, MessageReceivedData, utcnow
    from shared.ids import publish_subject

    conversation = conversation_id(BUSINESS, OWNER_A)
    received = MessageReceived(conversation=conversation, data=MessageReceivedData(
        message_sid="SMv1", from_=OWNER_A, to=BUSINESS, body="hello", received_at=utcnow()))
    await bus.publish(received, msg_id="SMv1")
    v1 = {"id": "v1-text", "type": "MessageTranscribed", "version": 1, "conversation": conversation,
          "occurred_at": utcnow().isoformat(), "correlation_id": received.id, "causation_id": received.id,
          "data": {"message_sid": "SMv1", "text": "hello", "source": "typed", "engine": None,
                   "language": None, "duration_s": None, "failure": None}}
    await bus.js.publish(publish_subject("text", conversation), json.dumps(v1).encode(),
                         stream=bus.stream, headers={"Nats-Msg-Id": "text:SMv1"})
    async with Recorder(bus) as seen, running_agent(bus, agent_settings(database_url, bus)):
        await wait_until(lambda: seen.of(ReplyComposed))
        [reply] = seen.of(ReplyComposed)
        assert reply.data.to == OWNER_A and reply.data.from_ == BUSINESS and reply.data.in_reply_to == ("SMv1",)
        assert reply.causation_id == "v1-text"
        assert not seen.of(MessageDeadLettered)
