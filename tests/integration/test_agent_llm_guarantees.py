"""The LLM path keeps the guarantees that are ours, whatever the model says: a calendar
tool refuses a past start unless the user confirmed it, the prompt carries the user's
local date, time, zone and country (date order) and asks for replies in their language,
and a reply to a voice note shows what was heard.

The real `langchain-openai` client talks to the fake OpenAI-compatible server
(tests/fakes/openai_chat.py); the graph, tools and calendar handlers are the real ones,
in one process (tests/offline_rig.py).
"""

from __future__ import annotations

from datetime import datetime

from langchain_openai import ChatOpenAI

from tests.fakes.openai_chat import FakeOpenAIChat
from tests.offline_rig import Assistant

NOW = datetime(2025, 6, 10, 10, 0)  # Tuesday, New York
USER = "+12125550123"


def model(llm: FakeOpenAIChat) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", api_key=llm.api_key, base_url=llm.base_url, max_retries=0)


def tool_results(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_a_past_start_is_refused_until_the_user_confirms():
    with FakeOpenAIChat() as llm:
        llm.call_tool("create_event", {"summary": "Dentist", "start": "2025-06-09T09:00"})
        llm.reply("That time has passed. Should I still add it?")
        llm.call_tool("create_event", {"summary": "Dentist", "start": "2025-06-09T09:00", "confirm_past": True})
        llm.reply("Done.")
        chat = Assistant(NOW, "America/New_York", model(llm)).chat(USER)
        await chat.say("dentist yesterday at 9am")
        assert chat.calendar() == []
        [refusal] = tool_results(llm.requests[1])
        assert "in the past" in refusal and "confirm_past" in refusal
        await chat.say("yes, add it anyway")
        [event] = chat.calendar()
        assert (event.summary, chat.local(event)) == ("Dentist", "2025-06-09T09:00")


async def test_moving_into_the_past_is_refused_too_and_the_future_is_fine():
    with FakeOpenAIChat() as llm:
        llm.call_tool("create_event", {"summary": "Gym", "start": "2025-06-11T07:00"})
        chat = Assistant(NOW, "America/New_York", model(llm)).chat(USER)
        llm.respond_with(lambda request: _move_created(request, "2025-06-01T07:00"))
        llm.reply("ok")
        await chat.say("gym tomorrow 7am, then move it to june 1")
        [event] = chat.calendar()
        assert chat.local(event) == "2025-06-11T07:00"
        assert any("in the past" in result for result in tool_results(llm.requests[-1]))


def _move_created(request: dict, start: str):
    import json

    from tests.fakes.openai_chat import Answer

    created = next(json.loads(m["content"])["created"] for m in request["messages"]
                   if m["role"] == "tool" and '"created"' in m["content"])
    return Answer(tool_calls=[("update_event", {"event_id": created["event_id"], "start": start})])


async def test_the_prompt_carries_local_time_zone_country_and_language_rule_and_voice_is_echoed():
    with FakeOpenAIChat() as llm:
        llm.reply("Tenés el dentista el jueves.")
        chat = Assistant(NOW, "America/New_York", model(llm)).chat(USER)
        reply = await chat.say("qué tengo el jueves?", heard=0.9)
        system = llm.requests[0]["messages"][0]["content"]
        assert "Current time: 2025-06-10T10:00-04:00 (America/New_York), Tuesday 10 June 2025, 10:00" in system
        assert "User's country: US" in system and "month/day" in system
        assert "Answer in the language the user writes in" in system
        assert reply == "🎤 “qué tengo el jueves?”\n\nTenés el dentista el jueves."


async def test_a_voice_note_heard_with_low_confidence_tells_the_model_to_confirm_changes():
    with FakeOpenAIChat() as llm:
        llm.reply("Did you say cancel the dentist?")
        chat = Assistant(NOW, "America/New_York", model(llm)).chat(USER)
        await chat.say("cancel the dentist", heard=0.42)
        system = llm.requests[0]["messages"][0]["content"]
        assert "transcribed with low confidence (0.42)" in system and "ask the user to confirm" in system
        llm.reply("ok")
        await chat.say("what do I have tomorrow?", heard=0.9)
        assert "low confidence" not in llm.requests[1]["messages"][0]["content"]
