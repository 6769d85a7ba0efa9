"""Hostile text on real NATS and Postgres: control characters never poison a conversation."""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
from langchain_core.messages import AIMessage

from services.agent.offline.model import OfflineAssistant
from shared.events import MessageDeadLettered, ReplyComposed
from shared.ids import conversation_id
from shared.settings import driver_url
from tests.integration.test_agent_memory import (
    BUSINESS,
    OWNER_A,
    Recorder,
    agent_settings,
    running_agent,
    send_text,
    wait_until,
)

# A tiny context and turn budget, so the first turn is folded into the summary (the
# checkpoint's JSONB) within a few turns.
SMALL_MEMORY = {"AGENT_CONTEXT_TOKENS": 5000, "AGENT_HISTORY_TURNS": 2}


async def summary_of(database_url: str, conversation: str) -> str | None:
    async with await psycopg.AsyncConnection.connect(driver_url(database_url, "")) as conn:
        row = await (await conn.execute(
            "SELECT checkpoint->'channel_values'->>'summary' FROM agent.checkpoints WHERE thread_id = %s "
            "ORDER BY checkpoint_id DESC LIMIT 1", (conversation,))).fetchone()
    return row[0] if row else None


async def test_a_message_with_nul_is_answered_and_so_is_every_later_message(database_url, bus):
    settings = agent_settings(database_url, bus, **SMALL_MEMORY)
    conversation = conversation_id(BUSINESS, OWNER_A)
    async with Recorder(bus) as seen, running_agent(bus, settings):
        await send_text(bus, OWNER_A, "hello\x00 there\x1b[2J, what can you do?")
        await wait_until(lambda: len(seen.of(ReplyComposed)) == 1)
        for n in range(2, 7):
            await send_text(bus, OWNER_A, f"message {n}: " + "hello " * 20)
            await wait_until(lambda n=n: len(seen.of(ReplyComposed)) == n or seen.of(MessageDeadLettered))
        assert not seen.of(MessageDeadLettered)
        assert len(seen.of(ReplyComposed)) == 6
        summary = await summary_of(database_url, conversation)
    # the fault fired: the first message was folded into the stored summary, cleaned
    assert summary and "hello there[2J" in summary and "\x00" not in summary


class NulSpeaker(OfflineAssistant):
    """The offline model whose answers carry NUL and escape characters."""

    calls: ClassVar[int] = 0

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs: Any):
        result = await super()._agenerate(messages, stop, run_manager, **kwargs)
        NulSpeaker.calls += 1
        message = result.generations[0].message
        result.generations[0].message = AIMessage("Sure\x00 thing\x07!\r\n" + str(message.content), id=message.id)
        return result


async def test_a_model_answer_with_nul_is_cleaned_before_it_is_stored_or_sent(database_url, bus):
    settings = agent_settings(database_url, bus, **SMALL_MEMORY)
    conversation = conversation_id(BUSINESS, OWNER_A)
    async with Recorder(bus) as seen, running_agent(bus, settings, model=NulSpeaker()):
        for n in range(1, 6):
            await send_text(bus, OWNER_A, f"message {n}: " + "hello " * 20)
            await wait_until(lambda n=n: len(seen.of(ReplyComposed)) == n or seen.of(MessageDeadLettered))
        assert not seen.of(MessageDeadLettered)
        replies = seen.of(ReplyComposed)
        summary = await summary_of(database_url, conversation)
    assert NulSpeaker.calls >= 5  # the fault fired on every turn
    assert all(r.data.text.startswith("Sure thing!\n") for r in replies)
    assert summary and "Sure thing!" in summary
