"""The offline assistant model: dates, intents, and the tool calls and answers it makes."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from services.agent.offline.intents import parse_intents
from services.agent.offline.model import OfflineAssistant
from services.agent.offline.when import parse_when
from services.agent.offline.words import fold
from services.agent.prompt import system_message

WEDNESDAY = datetime(2025, 6, 4, 10, 0)
TOOLS = ["create_event", "list_events", "update_event", "delete_event", "find_free_slots", "current_time",
         "set_time_zone", "web_search"]


@pytest.mark.parametrize("text, day, at, minutes", [
    ("lunch with ana tomorrow at 1", date(2025, 6, 5), time(1), None),  # bare: `start_of` reads it
    ("dentist next friday 10:30", date(2025, 6, 6), time(10, 30), None),
    ("call this wednesday at 9am", date(2025, 6, 4), time(9), None),
    ("standup wednesday at 9am", date(2025, 6, 11), time(9), None),
    ("review on june 5 at 3pm for 2 hours", date(2025, 6, 5), time(15), 120),
    ("gym in 3 days at 7:15 for half an hour", date(2025, 6, 7), time(7, 15), 30),
    ("party 2025-07-01 at 21:00", date(2025, 7, 1), time(21), None),
    ("dinner on the 15th at 8pm", date(2025, 6, 15), time(20), None),
    ("brunch day after tomorrow at noon", date(2025, 6, 6), time(12), None),
    ("move it to 2", None, time(2), None),
    ("a call with 5 people at 9am", None, time(9), None),
])
def test_dates_and_times_people_type(text, day, at, minutes):
    when = parse_when(fold(text), WEDNESDAY)
    assert (when.day, when.at, when.duration_minutes) == (day, at, minutes)


@pytest.mark.parametrize("message, kinds, subject", [
    ("Schedule lunch with Ana tomorrow at 1", ["create"], "Lunch with Ana"),
    ("Hi! Can you add Dentist next Friday 10:30?", ["greet", "create"], "Dentist"),
    ("Put a meeting called Planning on June 5 at 3pm for 2 hours in my calendar", ["create"], "Planning"),
    ("move it to 2", ["move"], ""),
    ("Reschedule the dentist to Friday at 3", ["move"], "Dentist"),
    ("cancel lunch with Ana", ["cancel"], "Lunch with Ana"),
    ("dentist thursday 4pm", ["create"], "Dentist"),
    ("agendame almuerzo con Ana mañana a la 1", ["create"], "Almuerzo con Ana"),
    ("cancelá todo lo de mañana", ["cancel_all"], ""),
    ("qué tengo esta semana?", ["list"], ""),
    ("hablame en inglés", ["language"], ""),
    ("What do I have tomorrow?", ["list"], ""),
    ("list the events of +1 555 0100", ["list"], ""),
    ("when am I free tomorrow?", ["free"], ""),
    ("What time is it?", ["time"], ""),
    ("I'm in Madrid now", ["zone"], ""),
    ("I'm in a meeting", ["freeform"], ""),  # not a place: not a time zone change
    ("help", ["help"], ""),
    ("thanks!", ["thanks"], ""),
    ("What's the capital of France?", ["freeform"], ""),
])
def test_what_a_message_asks_for(message, kinds, subject):
    intents = parse_intents(message, WEDNESDAY)
    assert [i.kind for i in intents] == kinds
    assert intents[-1].subject.removeprefix("") == subject


def test_a_failed_voice_note_is_answered_with_the_transcribers_reply():
    note = "[voice note not understood (too_large): That voice note is too long for me.]"
    assert [(i.kind, i.text) for i in parse_intents(note, WEDNESDAY)] == [("failed", "That voice note is too long for me.")]
    intents = parse_intents(f"what time is it\n{note}", WEDNESDAY)
    assert [i.kind for i in intents] == ["time", "failed"]


def conversation(*messages):
    now = datetime(2025, 6, 4, 10, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    return [system_message("You are a test.", "Europe/Madrid", now=now), *messages]


async def test_it_emits_real_tool_calls_then_answers_from_their_results():
    model = OfflineAssistant().bind_tools([{"type": "function", "function": {"name": n}} for n in TOOLS])
    asked = await model.ainvoke(conversation(HumanMessage("Schedule lunch with Ana tomorrow at 1")))
    [call] = asked.tool_calls
    assert (call["name"], call["args"]) == ("create_event", {"summary": "Lunch with Ana", "start": "2025-06-05T13:00"})
    assert asked.usage_metadata["input_tokens"] > 0
    created = {"event_id": "e1", "summary": "Lunch with Ana", "when": "Thu 05 Jun 2025, 13:00–14:00",
               "start": "2025-06-05T13:00", "end": "2025-06-05T14:00", "time_zone": "Europe/Madrid"}
    result = ToolMessage(json.dumps({"created": created, "overlaps": []}), tool_call_id=call["id"])
    answered = await model.ainvoke(conversation(HumanMessage("Schedule lunch with Ana tomorrow at 1"), asked, result))
    assert answered.tool_calls == []
    assert answered.content == "Done: “Lunch with Ana” is in your calendar for Thu 5 Jun, 13:00–14:00."
    moving = await model.ainvoke(conversation(HumanMessage("schedule..."), asked, result, answered, HumanMessage("move it to 2")))
    assert [(c["name"], c["args"]) for c in moving.tool_calls] == [("update_event", {"event_id": "e1", "start": "2025-06-05T14:00"})]


async def test_a_burst_is_planned_together_and_answered_in_one_message():
    model = OfflineAssistant().bind_tools([{"type": "function", "function": {"name": n}} for n in TOOLS])
    burst = [HumanMessage("hi"), HumanMessage("what time is it?"), HumanMessage("who wrote Hamlet?")]
    asked = await model.ainvoke(conversation(*burst))
    [call] = asked.tool_calls
    clock = ToolMessage(json.dumps({"date": "Wednesday 04 June 2025", "time": "10:00", "time_zone": "Europe/Madrid"}),
                        tool_call_id=call["id"])
    answer = (await model.ainvoke(conversation(*burst, asked, clock))).content
    first, second, third = answer.split("\n\n")
    assert first == "Hi! I'm your assistant."
    assert second == "It's 10:00 on Wednesday 4 Jun 2025 (Europe/Madrid)."
    assert third.startswith("Sorry, I can only help with your calendar")


async def test_moving_an_event_by_name_lists_first_and_asks_when_several_match():
    model = OfflineAssistant().bind_tools([{"type": "function", "function": {"name": n}} for n in TOOLS])
    ask = HumanMessage("move the dentist to friday at 3")
    listing = await model.ainvoke(conversation(ask))
    [call] = listing.tool_calls
    assert call["name"] == "list_events" and call["args"]["query"] == "Dentist"
    two = [{"event_id": f"e{i}", "summary": "Dentist", "when": f"day {i}", "start": "2025-06-05T10:00"} for i in (1, 2)]
    answer = await model.ainvoke(conversation(ask, listing, ToolMessage(json.dumps({"events": two}), tool_call_id=call["id"])))
    assert answer.tool_calls == [] and answer.content.startswith("Several events match. Which one should I move?")


async def test_without_tools_it_never_emits_a_call():
    model = OfflineAssistant().bind_tools([{"type": "function", "function": {"name": n}} for n in TOOLS], tool_choice="none")
    answer = await model.ainvoke(conversation(HumanMessage("what time is it?")))
    assert answer.tool_calls == [] and answer.content
    assert isinstance(answer, AIMessage)


def test_a_voice_note_that_failed_reaches_the_model_as_a_note_with_the_transcribers_reply():
    from services.agent.inputs import input_message
    from shared.events import MessageTranscribed, MessageTranscribedData

    event = MessageTranscribed(conversation="c" + "0" * 24, data=MessageTranscribedData(
        message_sid="MM1", source="voice", failure="too_large: 20 minutes", failure_code="too_large",
        failure_reply="That voice note is too long for me. Could you type it?", from_="+34600111222", to="+14155238886"))
    message = input_message(7, event)
    assert message.id == "in-7"
    assert message.content == "[voice note not understood (too_large): That voice note is too long for me. Could you type it?]"
    assert [(i.kind, i.text) for i in parse_intents(message.content, WEDNESDAY)] == [
        ("failed", "That voice note is too long for me. Could you type it?")]


@pytest.mark.parametrize("text, now, expected", [
    ("at 4", datetime(2025, 6, 4, 10), datetime(2025, 6, 4, 16)),  # an hour without am/pm: daytime
    ("at 8", datetime(2025, 6, 4, 10), datetime(2025, 6, 4, 20)),  # 8:00 has passed, 20:00 is still daytime
    ("at 9", datetime(2025, 6, 4, 10), datetime(2025, 6, 5, 9)),  # 21:00 is not: tomorrow morning
    ("tomorrow at 7", datetime(2025, 6, 4, 10), datetime(2025, 6, 5, 19)),
    ("dinner friday at 9", datetime(2025, 6, 4, 10), datetime(2025, 6, 6, 21)),  # an evening hint
    ("today at 9am", datetime(2025, 6, 4, 10), datetime(2025, 6, 4, 9)),  # the day was said: kept (then asked)
    ("at 9am", datetime(2025, 6, 4, 10), datetime(2025, 6, 5, 9)),  # no day: the next 9am
    ("a las 20", datetime(2025, 6, 4, 10), datetime(2025, 6, 4, 20)),
])
def test_the_next_sensible_time(text, now, expected):
    from services.agent.offline.times import start_of

    subject = "dinner" if "dinner" in text else ""
    assert start_of(parse_when(fold(text), now), now, subject) == expected


@pytest.mark.parametrize("text, order, day", [
    ("on 11/20", "MDY", date(2025, 11, 20)),
    ("el 20/11", "DMY", date(2025, 11, 20)),
    ("on 6/1", "MDY", date(2025, 6, 1)),  # passed days ago: this year's (the planner asks)
    ("on 1/3", "MDY", date(2026, 1, 3)),  # passed months ago: next year's
    ("on the 3rd", "DMY", date(2025, 7, 3)),  # a day of the month that passed: next month
    ("el 5 de julio", "DMY", date(2025, 7, 5)),
    ("march 3rd", "MDY", date(2026, 3, 3)),
])
def test_dates_in_the_users_order(text, order, day):
    assert parse_when(fold(text), WEDNESDAY, order).day == day
