"""The agent's real graph (the offline model by default), in one process with no servers.

The graph (`build_graph`), its nodes, the calendar and clock tools and the calendar
service's own handlers are the production code; only the ports are in memory: the
checkpointer (`InMemorySaver`), the calendar backend (`MemoryCalendar`), the event log and
the clock (fixed, so "tomorrow" means the same day in every run).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from services.agent.graph import build_graph
from services.agent.nodes import GraphOptions
from services.agent.offline.model import OfflineAssistant
from services.agent.prompt import load_prompt
from services.agent.state import Turn, turn_input
from services.agent.tools.calendar import build_calendar_tools
from services.agent.tools.clock import build_clock_tools
from services.calendar import handlers
from services.calendar.memory import MemoryCalendar
from services.calendar.ports import StoredEvent
from services.calendar.routing import Backends
from shared.calendar import (
    CreateEvent,
    DeleteEvent,
    DeleteResult,
    EventList,
    FindFreeSlots,
    FreeSlots,
    ListEvents,
    SaveResult,
    UpdateEvent,
)
from shared.clock import ManualClock
from shared.eventlog_memory import InMemoryEventLog
from shared.ids import conversation_id
from shared.phones import zone_of_number

BUSINESS = "+14155238886"
PROMPT = Path(__file__).resolve().parents[1] / "services/agent/prompts/system.md"


class InProcessCalendar:
    """The calendar RPC as the agent's `CalendarPort`, calling the service's handlers directly."""

    def __init__(self, deps: handlers.Calendar):
        self.deps = deps

    async def create(self, request: CreateEvent) -> SaveResult:
        return await handlers.create_event(request, self.deps)

    async def list(self, request: ListEvents) -> EventList:
        return await handlers.list_events(request, self.deps)

    async def update(self, request: UpdateEvent) -> SaveResult:
        return await handlers.update_event(request, self.deps)

    async def delete(self, request: DeleteEvent) -> DeleteResult:
        return await handlers.delete_event(request, self.deps)

    async def free_slots(self, request: FindFreeSlots) -> FreeSlots:
        return await handlers.find_free_slots(request, self.deps)


class Assistant:
    """One graph, calendar and clock for many users (each conversation is its own thread)."""

    def __init__(self, now: datetime, zone: str, model: BaseChatModel | None = None):
        self.now = now
        clock = ManualClock(now.replace(tzinfo=ZoneInfo(zone)))
        self.backend = MemoryCalendar()
        self.events = InMemoryEventLog()
        deps = handlers.Calendar(backends=Backends(local=self.backend), events=self.events)
        self.zones: dict[str, str] = {}

        async def choose(conversation: str, zone: str) -> None:
            self.zones[conversation] = zone

        tools = [*build_calendar_tools(InProcessCalendar(deps), 1.0, clock), *build_clock_tools(choose)]
        self.graph = build_graph(model or OfflineAssistant(), tools, InMemorySaver(), GraphOptions(prompt=load_prompt(PROMPT),
                                                                                          clock=clock))

    def chat(self, user: str) -> Chat:
        return Chat(self, user)


@dataclass
class Chat:
    """One user's conversation with the assistant."""

    assistant: Assistant
    user: str
    replies: list[str] = field(default_factory=list)
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.zone = zone_of_number(self.user) or "UTC"
        self.conversation = conversation_id(BUSINESS, self.user)
        self.backend = self.assistant.backend

    async def say(self, text: str, heard: float | None = None) -> str:
        """Send `text`; with `heard`, as words of a voice note heard with that confidence."""
        seq = next(self.seq)
        voice = {"voice": {"source": "voice", "confidence": heard, "language": None}} if heard is not None else {}
        turn = Turn(first_seq=seq, last_seq=seq, message_sids=[f"SM{seq}"], user=self.user, business=BUSINESS,
                    correlation_id=None, causation_id=f"e{seq}", started_at=time.time())
        zone = self.assistant.zones.get(self.conversation, self.zone)
        state = await self.assistant.graph.ainvoke(turn_input([HumanMessage(text, id=f"in-{seq}", additional_kwargs=voice)], turn, zone),
                                                   {"configurable": {"thread_id": self.conversation}})
        reply = state["reply"]["text"]
        self.replies.append(reply)
        return reply

    def seed(self, summary: str, start: str, minutes: int = 60, recurrence: str | None = None) -> None:
        """An event already in the calendar (local wall-clock `start`)."""
        begins = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)
        event_id = f"seed-{self.user}-{len(self.backend.events)}"
        self.backend.events[event_id] = (self.user, StoredEvent(
            event_id, summary, begins, begins + timedelta(minutes=minutes), self.zone, recurrence=recurrence))

    def calendar(self) -> list[StoredEvent]:
        return sorted((event for owner, event in self.backend.events.values() if owner == self.user),
                      key=lambda e: e.start)

    def local(self, event: StoredEvent) -> str:
        return event.start.astimezone(ZoneInfo(self.zone)).replace(tzinfo=None).isoformat(timespec="minutes")
