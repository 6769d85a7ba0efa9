"""The offline model on reminders, in English and Spanish, at a fixed moment (no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.agent.offline.intents import parse_intents
from services.agent.offline.planner import Call, Situation, decide
from services.agent.tools.base import ToolContext
from services.agent.tools.reminders import SetReminderArgs, build_reminder_tools
from services.reminders.book import ReminderBook
from shared.clock import ManualClock
from shared.eventlog_memory import InMemoryEventLog
from tests.fakes.reminders import MemoryTimers

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Europe/Madrid"))  # a Monday
SITUATION = Situation(NOW, "Europe/Madrid", [])


def plan(text: str):
    [intent] = parse_intents(text, NOW.date())
    return intent, decide(intent, [], SITUATION)


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
    assert "When should I remind you “buy milk”" in plan("remind me to buy milk")[1]


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
    assert answer in plan(text)[1]


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
