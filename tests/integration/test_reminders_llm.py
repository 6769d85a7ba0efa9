"""Reminder tools on the LLM path: a scripted OpenAI-compatible model sets, lists and moves a
reminder through the real `langchain-openai` client; STOP is recorded whatever the model says."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.events import ProactiveMessagesStopped, ReminderRescheduled, ReminderScheduled
from shared.ids import conversation_id
from tests.fakes.openai_chat import Answer, FakeOpenAIChat
from tests.integration.test_agent_memory import BUSINESS, OWNER_A, Recorder, running_agent
from tests.integration.test_agent_openai import llm_settings, say, tool_results, user_today
from tests.reminders_rig import open_book

MADRID = ZoneInfo("Europe/Madrid")


def set_bill_reminder(request: dict) -> Answer:
    names = {t["function"]["name"] for t in request["tools"]}
    assert {"set_reminder", "list_reminders", "move_reminder", "cancel_reminder", "set_reminder_preferences"} <= names
    tomorrow = user_today(request) + timedelta(days=1)
    return Answer(tool_calls=[("set_reminder", {"text": "pay the electricity bill", "at": f"{tomorrow}T09:00"})])


def move_to_ten(request: dict) -> Answer:
    [listed] = [r for r in tool_results(request) if "reminders" in r][-1:]
    [item] = listed["reminders"]
    return Answer(tool_calls=[("move_reminder", {"reminder_id": item["reminder_id"], "at": item["at"][:11] + "10:00"})])


async def test_the_model_sets_lists_and_moves_a_reminder_and_stop_is_recorded_anyway(database_url, bus):
    with FakeOpenAIChat() as llm:
        (llm.respond_with(set_bill_reminder).respond_with(lambda r: Answer("I'll remind you tomorrow at 9."))
            .respond_with(lambda r: Answer(tool_calls=[("list_reminders", {})])).respond_with(move_to_ten)
            .respond_with(lambda r: Answer("Moved to 10."))
            .respond_with(lambda r: Answer("OK, no more reminders.")))
        async with Recorder(bus) as seen, running_agent(bus, llm_settings(database_url, bus, llm)):
            await say(bus, seen, "remind me to pay the electricity bill tomorrow at 9")
            await say(bus, seen, "make that 10")
            await say(bus, seen, "STOP")
            book = await open_book(bus)
            conversation = conversation_id(BUSINESS, OWNER_A)
            [item] = await book.active(conversation)
            prefs = await book.preferences_of(conversation)
    tomorrow = datetime.now(MADRID).date() + timedelta(days=1)
    assert item.text == "pay the electricity bill" and item.revision == 2
    assert item.due_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 10, tzinfo=MADRID)
    assert [e.data.reminder_id for e in seen.of(ReminderScheduled)] == [item.reminder_id]
    assert [e.data.reason for e in seen.of(ReminderRescheduled)] == ["user"]
    assert prefs.opted_out and [e.data.keyword for e in seen.of(ProactiveMessagesStopped)] == ["STOP"]
