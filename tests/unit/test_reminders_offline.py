"""The offline model on reminders, in English and Spanish, at a fixed moment (no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from services.agent.offline.handlers import Answer, Call, Situation
from services.agent.offline.intents import parse_intents
from services.agent.offline.planner import MEMORY_KEY, decide
from services.agent.offline.planner import plan as offline_plan
from services.agent.tools.base import ToolContext
from services.agent.tools.reminders import SetReminderArgs, build_reminder_tools
from services.reminders.book import ReminderBook
from shared.clock import ManualClock
from shared.eventlog_memory import InMemoryEventLog
from tests.fakes.reminders import MemoryTimers

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Europe/Madrid"))  # a Monday


def plan(text: str):
    """(intent, outcome) the way the planner sees one message: the reply language is the
    message's (its own, nothing stored yet), English when it does not say."""
    [intent] = parse_intents(text, NOW.replace(tzinfo=None))
    return intent, decide(intent, [], Situation(NOW, "Europe/Madrid", [], intent.language or "en"))


@pytest.mark.parametrize(("text", "task", "at", "language"), [
    ("remind me to pay the electricity bill on friday at 9", "pay the electricity bill", "2026-12-04T09:00:00", "en"),
    ("Remind me tomorrow at 9 to send the report to Ana", "send the report to Ana", "2026-12-01T09:00:00", "en"),
    ("remind me at 5pm to call Mom", "call Mom", "2026-11-30T17:00:00", "en"),
    ("can you remind me about the meeting at 5", "the meeting", "2026-11-30T17:00:00", "en"),
    ("recordame pagar la luz mañana a las 9", "pagar la luz", "2026-12-01T09:00:00", "es"),
    ("recuérdame llamar a mamá el viernes a las 17:00", "llamar a mamá", "2026-12-04T17:00:00", "es"),
    ("Recuérdame que compre pan mañana a las 8 de la mañana", "compre pan", "2026-12-01T08:00:00", "es"),
])
def test_a_reminder_at_a_time(text, task, at, language):
    intent, outcome = plan(text)
    assert intent.kind == "reminder_create"
    assert outcome == Call("set_reminder", {"text": task, "at": at, "language": language})


@pytest.mark.parametrize(("text", "task", "seconds", "language"), [
    ("remind me in 10 minutes to call Mom", "call Mom", 600, "en"),
    ("please remind me to water the plants in 2 hours", "water the plants", 7200, "en"),
    ("recuérdame en 10 minutos llamar a mamá", "llamar a mamá", 600, "es"),
])
def test_a_reminder_after_a_while_counts_from_when_it_is_set(text, task, seconds, language):
    assert plan(text)[1] == Call("set_reminder", {"text": task, "in_seconds": seconds, "language": language})


def test_without_a_time_it_asks_and_never_guesses():
    outcome = plan("remind me to buy milk")[1]
    assert isinstance(outcome, Answer) and "When should I remind you “buy milk”" in outcome.text
    assert outcome.pending == {"kind": "reminder_when", "text": "buy milk"}  # the next message can answer it


@pytest.mark.parametrize(("text", "kind"), [
    ("what reminders do I have?", "reminder_list"), ("qué recordatorios tengo", "reminder_list"),
    ("cancel the reminder to call mom", "reminder_cancel"), ("cancela el recordatorio de llamar a mamá", "reminder_cancel"),
    ("move the reminder to call mom to 6pm", "reminder_move"), ("mueve el recordatorio de pagar la luz a las 10", "reminder_move"),
])
def test_list_cancel_and_move_look_the_reminder_up_first(text, kind):
    intent, outcome = plan(text)
    assert intent.kind == kind and outcome == Call("list_reminders", {})


def test_a_reminder_before_a_named_event_finds_the_event():
    intent, outcome = plan("remind me 30 minutes before the dentist")
    assert intent.kind == "reminder_event" and intent.minutes == 30
    assert outcome.name == "list_events" and outcome.args["query"] == "dentist"


@pytest.mark.parametrize(("text", "args"), [
    ("remind me 15 minutes before my events", {"default_minutes_before": 15, "language": "en"}),
    ("recuérdame 30 minutos antes de mis eventos", {"default_minutes_before": 30, "language": "es"}),
    ("turn off default reminders", {"default_reminders_off": True, "language": "en"}),
    ("don't message me after 10pm", {"quiet_start": "22:00", "language": "en"}),
    ("don't message me after 10", {"quiet_start": "22:00", "language": "en"}),
    ("don't message me before 8", {"quiet_end": "08:00", "language": "en"}),
    ("no me escribas después de las 10 de la noche", {"quiet_start": "22:00", "language": "es"}),
    ("don't message me between 10pm and 7am", {"quiet_start": "22:00", "quiet_end": "07:00", "language": "en"}),
    ("quiet hours off", {"quiet_hours_off": True, "language": "en"}),
])
def test_preferences(text, args):
    assert plan(text)[1] == Call("set_reminder_preferences", args)


@pytest.mark.parametrize(("text", "answer"), [
    ("STOP", "won't get any more reminders"), ("Unsubscribe", "won't get any more"), ("baja", "No te enviaré"),
    ("START", "back on"), ("alta", "vuelven a estar activos"),
])
def test_stop_and_start_are_acknowledged(text, answer):
    outcome = plan(text)[1]
    assert isinstance(outcome, Answer) and answer in outcome.text


def test_calendar_requests_are_not_taken_for_reminders():
    assert plan("schedule lunch with Ana tomorrow at 1")[0].kind == "create"
    assert plan("stop the meeting at 5")[0].kind != "opt_stop"


async def test_the_tool_sets_tomorrow_at_9_in_the_users_zone_on_a_hand_driven_clock():
    clock = ManualClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    book = await ReminderBook.open(InMemoryEventLog(clock=clock), MemoryTimers())
    tools = {tool.name: tool for tool in build_reminder_tools(book, clock)}
    ctx = ToolContext(owner="+34600111222", conversation="c" + "0" * 24, time_zone="Europe/Madrid", call_key="k1",
                      business="+14155238886")
    await tools["set_reminder"].run(SetReminderArgs(text="pay", at=datetime(2026, 12, 1, 9, 0)), ctx)
    await tools["set_reminder"].run(SetReminderArgs(text="soon", in_seconds=90), ctx.__class__(**{**ctx.__dict__, "call_key": "k2"}))
    [tomorrow, soon] = sorted(await book.active(ctx.conversation), key=lambda r: r.due_at, reverse=True)
    assert tomorrow.due_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
    assert soon.due_at == datetime(2026, 11, 30, 9, 1, 30, tzinfo=UTC)


# --- through the planner: the turn's language, follow-ups, STOP beside a pending question ---

REMINDER_TOOLS = {"set_reminder", "list_reminders", "cancel_reminder", "move_reminder", "set_reminder_preferences",
                  "list_events", "create_event", "delete_event", "update_event", "current_time"}


def turn(history: list, text: str):
    """One turn of the offline planner after `history`; returns (text, calls, memory, messages)."""
    clock = SystemMessage(f"Current time: {NOW.isoformat()} (Europe/Madrid)\nUser's country: ES")
    messages = [clock, *history, HumanMessage(text)]
    answer, calls, memory = offline_plan(messages, REMINDER_TOOLS)
    return answer, calls, memory, [*history, HumanMessage(text), AIMessage(answer, additional_kwargs={MEMORY_KEY: memory})]


def test_a_reminder_without_a_time_is_completed_by_the_next_message():
    answer, calls, memory, history = turn([], "remind me to buy milk")
    assert not calls and "When should I remind you “buy milk”" in answer
    assert memory["pending"]["kind"] == "reminder_when"
    _, calls, _, _ = turn(history, "tomorrow at 9")
    assert [(c["name"], c["args"]) for c in calls] == [
        ("set_reminder", {"text": "buy milk", "at": "2026-12-01T09:00:00", "language": "en"})]


def test_a_question_about_a_reminder_is_dropped_by_a_new_request():
    _, _, _, history = turn([], "remind me to buy milk")
    _, calls, _, _ = turn(history, "what reminders do I have?")
    assert [c["name"] for c in calls] == ["list_reminders"]


def test_spanish_reminder_replies_are_in_spanish():
    answer, calls, memory, _ = turn([], "recuérdame comprar pan")
    assert not calls and answer.startswith("¿Cuándo te recuerdo «comprar pan»") and memory["language"] == "es"
    _, calls, _, _ = turn([], "recuérdame en 10 minutos llamar a mamá")
    assert calls[0]["args"] == {"text": "llamar a mamá", "in_seconds": 600, "language": "es"}


def test_stop_is_an_opt_out_even_while_a_question_is_pending():
    _, _, memory, history = turn([], "schedule lunch with Ana")  # it asks when
    assert memory["pending"]
    answer, calls, _, _ = turn(history, "STOP")
    assert not calls and "won't get any more reminders" in answer
