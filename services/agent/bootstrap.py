"""Composition root: everything the agent needs, built once per process from settings."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import AsyncIterator, Callable

from langchain_core.language_models import BaseChatModel

from services.agent.config import AgentSettings
from services.agent.graph import build_graph
from services.agent.handler import Agent, handle_text
from services.agent.inputs import with_identity
from services.agent.llm import LlmRetry, build_model
from services.agent.memory import checkpointer, open_pool, probe, until_reachable
from services.agent.migrations import migrate
from services.agent.nodes import GraphOptions
from services.agent.privacy import CUTS_BUCKET, CUTS_DESCRIPTION
from services.agent.prompt import load_prompt
from services.agent.senders import find_sender
from services.agent.timezones import TimeZoneStore
from services.agent.tools.base import AgentTool
from services.agent.tools.calendar import CalendarPort, build_calendar_tools
from services.agent.tools.clock import build_clock_tools
from services.agent.tools.privacy import build_privacy_tools
from services.agent.tools.reminders import build_reminder_tools
from services.agent.tools.search import build_search_tool
from services.reminders.book import ReminderBook
from services.reminders.timers import Timers, ensure_timer_stream
from shared.bus import Bus
from shared.calendar import CalendarClient
from shared.consumer import Delivery, PartitionedConsumer
from shared.database_role import check_database_role
from shared.eventlog import EventLog
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import Event, MessageTranscribed
from shared.health import DependencyHealth


def build_tools(settings: AgentSettings, calendar: CalendarPort, zones: TimeZoneStore,
                reminders: ReminderBook | None = None, events: EventLog | None = None) -> list[AgentTool]:
    return [
        *build_calendar_tools(calendar, settings.calendar_retry_s),
        *(build_reminder_tools(reminders) if reminders is not None else []),
        *build_clock_tools(zones.choose),
        build_search_tool(settings.tavily_api_key, settings.tavily_base_url),
        *(build_privacy_tools(events) if events is not None else []),
    ]


async def open_reminder_book(bus: Bus, replicas: int, publish_timeout_s: float) -> ReminderBook:
    await ensure_timer_stream(bus.js, replicas)
    return await ReminderBook.open(JetStreamEventLog(bus), Timers(bus.js, publish_timeout_s), replicas)


def graph_options(settings: AgentSettings) -> GraphOptions:
    return GraphOptions(
        prompt=load_prompt(settings.prompt_file),
        max_tool_steps=settings.max_tool_steps,
        max_tool_calls_per_round=settings.max_tool_calls_per_round,
        context_tokens=settings.context_tokens,
        history_turns=settings.history_turns,
        llm_retry=LlmRetry(settings.llm_attempts, settings.llm_retry_base_s),
    )


@contextlib.asynccontextmanager
async def open_agent(
    settings: AgentSettings, bus: Bus, *, model: BaseChatModel | None = None, calendar: CalendarPort | None = None,
    health: DependencyHealth | None = None,
) -> AsyncIterator[Agent]:
    """Migrate, open the pool, build the graph; close the pool on the way out.

    Started while Postgres is down, it waits for it (capped backoff) rather than failing.
    `health` (the readiness check `postgres`) follows every checkpoint and time-zone
    query, and a watcher probes Postgres when nothing else has for `AGENT_PG_TIMEOUT_S`.
    """
    health = health or DependencyHealth("postgres")
    await until_reachable(lambda: check_database_role(settings.database_url, "psycopg", "agent", settings.environment),
                          health, "check_role")
    await until_reachable(lambda: migrate(settings.database_url), health, "migrate")
    pool = await until_reachable(lambda: open_pool(settings.database_url, settings.pg_pool_size,
                                                   settings.pg_prepare_threshold, settings.pg_timeout_s),
                                 health, "open_pool")
    health.report(True)
    stop = asyncio.Event()
    watcher = asyncio.create_task(health.watch(lambda: probe(pool), stop, settings.pg_timeout_s, settings.pg_timeout_s))
    try:
        saver = checkpointer(pool, health)
        zones = TimeZoneStore(pool, settings.default_timezone, health)
        events = JetStreamEventLog(bus)
        reminders = await open_reminder_book(bus, settings.stream_replicas, settings.publish_timeout_s)
        tools = build_tools(settings, calendar or CalendarClient(bus.nc, settings.calendar_timeout_s), zones,
                            reminders, events)
        graph = build_graph(model or build_model(settings), tools, saver, graph_options(settings))
        # AGENT_DEBOUNCE_S=0 turns burst waiting off altogether.
        fragment_s = settings.debounce_fragment_s if settings.debounce_s > 0 else 0.0
        cuts = await events.open_kv(CUTS_BUCKET, replicas=settings.stream_replicas, description=CUTS_DESCRIPTION)
        yield Agent(events, graph, saver, zones, settings.debounce_s, settings.burst_max_s, settings.prune_every,
                    fragment_s, log_epoch=await events.epoch(), reminders=reminders, erasure_cuts=cuts,
                    privacy_salt=settings.privacy_salt())
    finally:
        stop.set()
        await watcher
        await pool.close()


async def handle_input(event: Event, delivery: Delivery, agent: Agent) -> None:
    """`handle_text`, after recovering the sender of an input upcast from v1 (see `senders`)."""
    if isinstance(event, MessageTranscribed):
        event = await with_identity(event, functools.partial(find_sender, agent.events))
    await handle_text(event, delivery, agent)


def consumer(bus: Bus, agent: Agent, settings: AgentSettings,
             healthy: Callable[[], bool] | None = None) -> PartitionedConsumer:
    """The ordered consumer of `wa.text` (it uses JetStream directly) running `handle_input`;
    `healthy` (NATS and Postgres) decides when its dead letters are retried automatically."""
    return PartitionedConsumer(
        bus, "agent", "text", functools.partial(handle_input, agent=agent), settings.ack_policy(),
        replicas=settings.stream_replicas, healthy=healthy,
    )
