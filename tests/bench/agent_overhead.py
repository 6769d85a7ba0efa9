"""Agent overhead per turn with a zero-latency scripted model, at 10, 100 and 1,000 turns.

In one process, on a real nats-server and Postgres: for each turn an input is stored in
the stream and the agent's handler runs on it exactly as the consumer would call it
(checkpoint read, burst look-ahead, time zone, graph, checkpoint write, reply publish).
The model answers at once and times itself; its time is taken out. Reported per length L:
the median and p90 of turns L-9..L of one conversation, and what that thread stores.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from services.agent.bootstrap import open_agent
from services.agent.config import AgentSettings
from services.agent.handler import handle_text
from shared.bus import Bus
from shared.consumer import Delivery
from shared.events import MessageTranscribed, MessageTranscribedData
from shared.ids import conversation_id
from shared.settings import driver_url

BUSINESS = "+14155238886"


class ScriptedModel(BaseChatModel):
    """Answers every call at once with a short reply, and adds up the time it spent."""

    spent_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        started = time.perf_counter()
        said = messages[-1].content if messages else ""
        message = AIMessage(f"Noted: {str(said)[:120]}",
                            usage_metadata={"input_tokens": 100, "output_tokens": 20, "total_tokens": 120})
        self.spent_s += time.perf_counter() - started
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)


@dataclass
class Window:
    length: int
    median_ms: float
    p90_ms: float
    checkpoints: int
    stored_kb: float
    messages_kept: int


def text(user: str, n: int) -> MessageTranscribed:
    return MessageTranscribed(
        conversation=conversation_id(BUSINESS, user),
        data=MessageTranscribedData(message_sid=f"SMbench{user[-4:]}{n:05d}", source="typed", from_=user, to=BUSINESS,
                                    text=f"Message {n}: please remember that the meeting notes are in the blue folder."),
    )


async def stored(database_url: str, thread: str) -> tuple[int, float]:
    async with await psycopg.AsyncConnection.connect(driver_url(database_url, "")) as conn:
        count, size = await (await conn.execute(
            "SELECT (SELECT count(*) FROM agent.checkpoints WHERE thread_id = %s), "
            "(SELECT coalesce(sum(length(blob)), 0) FROM agent.checkpoint_blobs WHERE thread_id = %s)",
            (thread, thread))).fetchone()
    return count, size / 1024


async def measure(bus: Bus, database_url: str, user: str, turns: int, lengths: tuple[int, ...], **env: Any) -> list[Window]:
    settings = AgentSettings(DATABASE_URL=database_url, STREAM_NAME=bus.stream, AGENT_MODEL="offline",
                             OPENAI_API_KEY="", AGENT_DEBOUNCE_S=0, **env)
    model = ScriptedModel()
    windows: list[Window] = []
    timings: list[float] = []
    async with open_agent(settings, bus, model=model) as agent:
        for n in range(1, turns + 1):
            event = text(user, n)
            ack = await bus.publish(event, msg_id=event.data.message_sid)
            subject = (await bus.js.get_msg(bus.stream, ack.seq)).subject
            delivery = Delivery(subject=subject, stream_sequence=ack.seq, deliveries=1, partition=0, consumer="bench")
            model_before = model.spent_s
            started = time.perf_counter()
            await handle_text(event, delivery, agent)
            timings.append((time.perf_counter() - started - (model.spent_s - model_before)) * 1000)
            if n in lengths:
                window = timings[n - 10 : n]
                count, size = await stored(database_url, event.conversation)
                state = await agent.graph.aget_state({"configurable": {"thread_id": event.conversation}})
                windows.append(Window(n, statistics.median(window), sorted(window)[int(0.9 * len(window))],
                                      count, size, len(state.values["messages"])))
    return windows
