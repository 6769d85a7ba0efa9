"""The agent's memory on real Postgres, and the rig the other agent tests run it with.

The rig runs the agent as `python -m services.agent` wires it (`open_agent` + the
partitioned consumer) inside the test's event loop, on the test's nats-server and
database, with the calendar service in-process (`tests.fakes.calendar_rig`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator

import psycopg
from langchain_core.messages import HumanMessage

from services.agent.bootstrap import consumer, open_agent
from services.agent.config import AgentSettings
from services.agent.handler import DURABILITY, Agent
from services.agent.migrations import migrate
from services.agent.state import turn_input
from shared.bus import Bus
from shared.consumer import AckPolicy
from shared.events import Event, MessageTranscribed, MessageTranscribedData, decode
from shared.ids import conversation_id
from shared.settings import driver_url
from tests.fakes.calendar_rig import BUSINESS, OWNER_A, OWNER_B
from tests.waiting import scaled

FAST = AckPolicy(max_deliver=4, backoff_s=(0.05, 0.1, 0.2), ack_wait_s=5, fetch_timeout_s=0.2)
__all__ = ["BUSINESS", "OWNER_A", "OWNER_B"]


def agent_settings(database_url: str, bus: Bus, **env: Any) -> AgentSettings:
    """Explicit values for everything a developer's environment might set differently."""
    model = "openai:gpt-4o-mini" if env.get("OPENAI_API_KEY") else "offline"
    values = {"DATABASE_URL": database_url, "STREAM_NAME": bus.stream, "HEALTH_PORT": 0, "AGENT_MODEL": model,
              "OPENAI_API_KEY": "", "OPENAI_BASE_URL": None, "TAVILY_API_KEY": None, "DEFAULT_TIMEZONE": "UTC",
              "AGENT_DEBOUNCE_S": 0, "AGENT_LLM_RETRY_BASE_S": 0.01, **env}
    return AgentSettings(**values)


@contextlib.asynccontextmanager
async def running_agent(bus: Bus, settings: AgentSettings, policy: AckPolicy = FAST,
                        workers: list[Any] | None = None, **deps: Any) -> AsyncIterator[Agent]:
    """One agent replica consuming `wa.text`; stopped (message in hand finished) on exit.
    Its PartitionedConsumer is appended to `workers`, for tests that wait on its partitions."""
    async with open_agent(settings, bus, **deps) as agent:
        stop = asyncio.Event()
        worker = consumer(bus, agent, settings)
        worker.policy = policy
        if workers is not None:
            workers.append(worker)
        task = asyncio.create_task(worker.run(stop))
        try:
            yield agent
        finally:
            stop.set()
            await asyncio.wait([task], timeout=30)
            if not task.done():
                raise AssertionError("the agent did not stop within 30 s")
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()


def text_event(user: str, text: str, business: str = BUSINESS, **data: Any) -> MessageTranscribed:
    return MessageTranscribed(
        conversation=conversation_id(business, user),
        correlation_id=uuid.uuid4().hex,
        data=MessageTranscribedData(message_sid=data.pop("message_sid", "SM" + uuid.uuid4().hex),
                                    text=text, source=data.pop("source", "typed"), from_=user, to=business, **data),
    )


async def send_text(bus: Bus, user: str, text: str, business: str = BUSINESS, **data: Any) -> tuple[MessageTranscribed, int]:
    event = text_event(user, text, business, **data)
    ack = await bus.publish(event, msg_id=f"text:{event.data.message_sid}")
    return event, ack.seq


async def stream_events(bus: Bus, kind: type[Event] | None = None) -> list[Event]:
    info = await bus.js.stream_info(bus.stream)
    events = [decode((await bus.js.get_msg(bus.stream, seq)).data) for seq in range(1, info.state.last_seq + 1)]
    return [e for e in events if kind is None or isinstance(e, kind)]


class Recorder:
    """Every event stored in the stream, as it arrives (an ordered push consumer)."""

    def __init__(self, bus: Bus):
        self.bus = bus
        self.events: list[Event] = []
        self._sub = None

    async def __aenter__(self) -> Recorder:
        async def record(msg) -> None:
            self.events.append(decode(msg.data))

        self._sub = await self.bus.js.subscribe("wa.>", ordered_consumer=True, cb=record, stream=self.bus.stream)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    def of(self, kind: type[Event], user: str | None = None, business: str = BUSINESS) -> list:
        conversation = conversation_id(business, user) if user else None
        return [e for e in self.events if isinstance(e, kind) and (conversation is None or e.conversation == conversation)]


async def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll until `predicate` holds; the deadline (scaled by TEST_TIME_FACTOR) only ends a hung test."""
    deadline = time.monotonic() + scaled(timeout)
    while not (await result if asyncio.iscoroutine(result := predicate()) else result):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


@dataclass
class Turns:
    """Running a graph directly, turn by turn, as the handler does (no NATS)."""

    graph: Any
    conversation: str
    user: str = OWNER_A
    zone: str = "Europe/Madrid"
    seq: int = 0

    async def say(self, *texts: str) -> dict:
        first = self.seq + 1
        self.seq += len(texts)
        turn = dict(first_seq=first, last_seq=self.seq, message_sids=[f"SM{first + i}" for i in range(len(texts))],
                    user=self.user, business=BUSINESS, correlation_id=None, causation_id=f"ev{self.seq}",
                    started_at=time.time())
        messages = [HumanMessage(text, id=f"in-{first + i}") for i, text in enumerate(texts)]
        return await self.graph.ainvoke(turn_input(messages, turn, self.zone),
                                        {"configurable": {"thread_id": self.conversation}}, durability=DURABILITY)


# --- tests ---------------------------------------------------------------------------


async def test_migrations_are_repeatable_concurrent_and_stay_in_the_agent_schema(database_url):
    await asyncio.gather(*(migrate(database_url) for _ in range(3)))
    await migrate(database_url)
    async with await psycopg.AsyncConnection.connect(driver_url(database_url, "")) as conn:
        rows = await (await conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_name IN ('checkpoints', 'checkpoint_blobs', 'checkpoint_writes', 'user_time_zones', "
            "'alembic_version', 'checkpoint_migrations')"
        )).fetchall()
        assert sorted(rows) == sorted(
            ("agent", name) for name in ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "user_time_zones",
                                         "alembic_version", "checkpoint_migrations")
        )
        version = await (await conn.execute("SELECT version_num FROM agent.alembic_version")).fetchone()
        assert version == ("0001",)


async def test_the_time_zone_a_user_chooses_is_stored_and_outlives_the_process(database_url, bus):
    settings = agent_settings(database_url, bus)
    conversation = conversation_id(BUSINESS, OWNER_A)
    async with open_agent(settings, bus, calendar=object()) as agent:
        assert await agent.time_zones.zone_for(conversation, OWNER_A) == "Europe/Madrid"  # from +34
        assert await agent.time_zones.zone_for(conversation_id(BUSINESS, "+80012345678"), "+80012345678") == "UTC"
        await agent.time_zones.choose(conversation, "Asia/Tokyo")
    async with open_agent(settings, bus, calendar=object()) as agent:
        assert await agent.time_zones.zone_for(conversation, OWNER_A) == "Asia/Tokyo"
        assert await agent.time_zones.zone_for(conversation_id(BUSINESS, OWNER_B), OWNER_B) == "Europe/London"


async def test_a_long_conversation_keeps_the_stored_thread_bounded(database_url, bus):
    """The checkpoint of a long conversation stays small: old turns are folded and pruned."""
    settings = agent_settings(database_url, bus, AGENT_CONTEXT_TOKENS=5000, AGENT_PRUNE_EVERY=50)
    conversation = conversation_id(BUSINESS, OWNER_A)

    async def stored() -> tuple[int, int]:
        async with await psycopg.AsyncConnection.connect(driver_url(database_url, "")) as conn:
            return await (await conn.execute(
                "SELECT (SELECT count(*) FROM agent.checkpoints WHERE thread_id = %s), "
                "(SELECT coalesce(sum(length(blob)), 0) FROM agent.checkpoint_blobs WHERE thread_id = %s)",
                (conversation, conversation))).fetchone()

    async with open_agent(settings, bus, calendar=object()) as agent:
        turns = Turns(agent.graph, conversation)
        sizes = {}
        for n in range(1, 201):
            final = await turns.say(f"Message number {n}: " + "blah " * 30)
            if n in (50, 120, 200):
                await agent.checkpointer.aprune([conversation])
                sizes[n] = await stored()
        assert final["answered_seq"] == 200 and final["turns"] == 200
        assert len(final["messages"]) < 40  # what is kept is bounded, not the whole history
        assert "Message number 200" in final["messages"][-2].content
        assert final["summary"].startswith("Earlier in this conversation")
        assert not [m for m in final["messages"] if m.type == "system"]  # the prompt is never stored
        assert "Message number 1:" not in final["summary"]  # the summary is bounded too
        assert {count for count, _ in sizes.values()} == {1}
        assert sizes[200][1] < 1.3 * sizes[50][1]  # flat, not growing with turns
