"""Calendar side effects happen once: a turn re-run after a crash with a new message in its
burst, and a create whose reply was lost, on real NATS, Postgres and calendar service."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from services.agent.bootstrap import build_tools, graph_options, open_agent
from services.agent.graph import build_graph
from services.agent.llm import build_model
from shared.calendar import CalendarUnreachable, ListEvents
from shared.errors import DependencyUnavailable
from shared.ids import conversation_id
from tests.fakes.calendar_rig import calendar_rig
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.integration.test_agent_memory import BUSINESS, OWNER_A, Turns, agent_settings

MADRID = ZoneInfo("Europe/Madrid")
DENTIST = {"summary": "Dentist", "start": (datetime.now(MADRID) + timedelta(days=3)).strftime("%Y-%m-%dT10:00")}


async def events_of(client, rig, owner: str):
    now = datetime.now(MADRID).replace(tzinfo=None)
    found = await client.list(ListEvents(**rig.who(owner), start=now - timedelta(days=1), end=now + timedelta(days=10)))
    return found.events


async def test_a_turn_run_again_after_a_crash_with_a_new_message_in_its_burst_creates_the_event_once(database_url, bus):
    conversation = conversation_id(BUSINESS, OWNER_A)
    with FakeOpenAIChat() as llm:
        # the first attempt, then the same request again when the turn is run again
        llm.call_tool("create_event", DENTIST).reply("Booked.").call_tool("create_event", DENTIST).reply("Booked!")
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url)
        async with calendar_rig(bus, database_url) as rig, open_agent(settings, bus, calendar=rig.client) as agent:
            # The process that dies: its graph checkpoints in memory, lost with it.
            doomed = build_graph(build_model(settings), build_tools(settings, rig.client, agent.time_zones),
                                 InMemorySaver(), graph_options(settings))
            await Turns(doomed, conversation).say("book the dentist on Thursday at 10")
            assert len(await events_of(rig.client, rig, OWNER_A)) == 1  # the side effect of the lost attempt
            # The redelivered input, with a message that arrived meanwhile in its burst.
            final = await Turns(agent.graph, conversation).say("book the dentist on Thursday at 10", "thanks!")
            events = await events_of(rig.client, rig, OWNER_A)
        assert llm.calls == 4  # both attempts asked for the create: the fault fired
    assert final["answered_seq"] == 2 and final["reply"]["text"] == "Booked!"
    assert [e.summary for e in events] == ["Dentist"]


class LosesReplies:
    """The calendar RPC over a network that loses the reply to the first `count` creates:
    the service applies them, the agent sees a timeout."""

    def __init__(self, client, count: int = 1):
        self.client, self.count, self.lost = client, count, 0

    async def create(self, request):
        result = await self.client.create(request)
        if self.lost < self.count:
            self.lost += 1
            raise CalendarUnreachable()
        return result

    def __getattr__(self, name):
        return getattr(self.client, name)


async def test_a_create_whose_reply_was_lost_is_retried_with_the_same_request_id_and_made_once(database_url, bus):
    conversation = conversation_id(BUSINESS, OWNER_A)
    with FakeOpenAIChat() as llm:
        llm.call_tool("create_event", DENTIST).reply("Booked.")
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url)
        async with calendar_rig(bus, database_url) as rig:
            lossy = LosesReplies(rig.client)
            async with open_agent(settings, bus, calendar=lossy) as agent:
                final = await Turns(agent.graph, conversation).say("book the dentist on Thursday at 10")
            events = await events_of(rig.client, rig, OWNER_A)
    assert lossy.lost == 1  # the fault fired
    assert [e.summary for e in events] == ["Dentist"]
    assert final["tool_calls"] == [{"name": "create_event", "ok": True}]
    assert final["reply"]["text"] == "Booked."


async def test_a_calendar_down_for_longer_than_the_retry_budget_stops_the_turn_as_a_dependency_outage(database_url, bus):
    conversation = conversation_id(BUSINESS, OWNER_A)
    with FakeOpenAIChat() as llm:
        llm.call_tool("create_event", DENTIST).reply("Booked.")
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url,
                                  AGENT_CALENDAR_TIMEOUT_S=0.5, AGENT_CALENDAR_RETRY_S=1)
        async with open_agent(settings, bus) as agent:  # no calendar service: no responders
            with pytest.raises(DependencyUnavailable):
                await Turns(agent.graph, conversation).say("book the dentist on Thursday at 10")
        assert llm.calls == 1  # the model was not told "your calendar isn't reachable"


async def test_a_backlog_of_bookings_answered_as_one_burst_books_each_once(database_url, bus):
    """After an outage a user's queued messages are answered as one burst; the offline model
    redoes its plan when older tool results fall out of its context. Every booking must
    exist exactly once (seen in the chaos suite: 6 copies each)."""
    from shared.events import ReplyComposed
    from tests.integration.test_agent_memory import Recorder, running_agent, send_text, wait_until
    from tests.integration.test_agent_turns import consumers_idle
    from tests.waiting import eventually

    titles = [f"backlog item {n}" for n in range(25)]
    async with calendar_rig(bus, database_url) as rig:
        for title in titles:  # written while no agent ran; all in one busy hour
            await send_text(bus, OWNER_A, f"schedule {title} tomorrow at 9")
        settings = agent_settings(database_url, bus)
        async with Recorder(bus) as seen, running_agent(bus, settings) as agent:
            await wait_until(lambda: sum(len(r.data.in_reply_to) for r in seen.of(ReplyComposed)) >= len(titles),
                             timeout=60)
            await eventually(lambda: consumers_idle(bus), 60, "every input of the burst to be settled")
            thread = {"configurable": {"thread_id": conversation_id(BUSINESS, OWNER_A)}}
            checkpoints = [c async for c in agent.checkpointer.alist(thread)]
        now = datetime.now(ZoneInfo("UTC")).replace(tzinfo=None)
        found = await rig.client.list(ListEvents(**rig.who(OWNER_A), start=now - timedelta(days=1),
                                                 end=now + timedelta(days=3)))
        summaries = sorted(e.summary.lower() for e in found.events)
        told = "\n".join(r.data.text.lower() for r in seen.of(ReplyComposed))
    assert len(summaries) == len(set(summaries))  # no booking twice
    assert all(any(t in s for s in summaries) for t in titles), "; ".join(summaries)  # and none missing
    # and the user is told each is done (chaos found 25 x "Could you ask again?" after a
    # Postgres outage: the round's results no longer fitted the context, so the model asked
    # for them again until its step limit)
    assert all(f"“{t}”" in told for t in titles), told[:500]
    # the 24 inputs after the burst's first were found answered with one read each: the
    # turn wrote its checkpoint, they wrote none (each used to write one)
    assert len(checkpoints) <= 2, len(checkpoints)
