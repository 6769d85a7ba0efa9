"""What the offline model does about each reminder request (see `reminders.py`): the next
tool call, or the answer, in the conversation's language (`Situation.language`).

Each is a `handlers.Handler`; the planner's table includes `REMINDER_HANDLERS`. Asking
when to remind ("remind me to buy milk") leaves a `reminder_when` question that the next
message answers (`followups.answer`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from services.agent.offline import reminder_render as words
from services.agent.offline.handlers import Answer, Call, Handler, Outcome, Situation, Step, last_mentioned
from services.agent.offline.intents import _PRONOUN, Intent
from services.agent.offline.reminder_time import clock, english, find_time
from services.agent.offline.words import fold
from services.reminders.optout import acknowledgement, normalise


def _parsing(intent: Intent, s: Situation) -> str:
    """The language to read the request's time words in."""
    return intent.language or s.language


def _opt(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    return Answer(acknowledgement(intent.text) or "")


def _created(step: Step, s: Situation) -> Answer:
    return Answer(words.created(step.data["reminder"], s.language) if step.ok else words.failed(step.error, s.language))


def _create(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    if steps:
        return _created(steps[-1], s)
    found = find_time(intent.phrase, _parsing(intent, s), s.now)
    task = intent.subject or found.rest
    if not task:
        return Answer(words.ask_what(s.language))
    if found.at is None:
        return Answer(words.ask_when(task, s.language), {"kind": "reminder_when", "text": task})
    args: dict[str, Any] = {"text": task[:300], "language": s.language}
    if found.in_seconds is not None:  # the model's clock has minutes only: "in 2 seconds" counts from the tool
        return Call("set_reminder", {**args, "in_seconds": found.in_seconds})
    if found.at <= s.now.replace(tzinfo=None):
        return Answer(words.in_past(s.language), {"kind": "reminder_when", "text": task})
    return Call("set_reminder", {**args, "at": found.at.isoformat(timespec="seconds")})


def _list(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    if not steps:
        return Call("list_reminders", {})
    last = steps[-1]
    return Answer(words.listing(last.data["reminders"], s.language) if last.ok else words.failed(last.error, s.language))


def _pick(items: list[dict], subject: str) -> list[dict]:
    wanted = normalise(subject)
    if not wanted or wanted in ("it", "that", "this", "the", "my", "lo", "el", "ese"):
        return items
    return [item for item in items if wanted in normalise(item["text"])]


def _change(action: str) -> Handler:
    def handle(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
        if not steps:
            return Call("list_reminders", {})
        last = steps[-1]
        if not last.ok:
            return Answer(words.failed(last.error, s.language))
        if last.name != "list_reminders":
            return Answer(words.changed(last.data, action, s.language))
        matches = _pick(last.data["reminders"], intent.subject)
        if not matches:
            return Answer(words.none_found(s.language))
        if len(matches) > 1:
            return Answer(words.which(matches, s.language))
        target = matches[0]
        if action == "cancel":
            return Call("cancel_reminder", {"reminder_id": target["reminder_id"]})
        found = find_time(intent.phrase, _parsing(intent, s), s.now)
        if found.at is None:
            return Answer(words.ask_when(target["text"], s.language))
        if found.in_seconds is not None:
            return Call("move_reminder", {"reminder_id": target["reminder_id"], "in_seconds": found.in_seconds})
        at = found.at
        if not found.has_day:  # "move it to 10": same day, like moving an event
            at = datetime.combine(datetime.fromisoformat(target["at"]).date(), at.time())
        return Call("move_reminder", {"reminder_id": target["reminder_id"], "at": at.isoformat(timespec="seconds")})

    return handle


def _event(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    if steps and steps[-1].name == "set_reminder":
        return _created(steps[-1], s)
    target = None
    if steps:
        last = steps[-1]
        if not last.ok:
            return Answer(words.failed(last.error, s.language))
        events = last.data.get("events", [])
        if len(events) != 1:
            return Answer(words.which_event(events, s.language))
        target = events[0]
    elif _PRONOUN.match(fold(intent.subject)) or fold(intent.subject) in ("esto", "la cita"):
        target = last_mentioned(s.earlier)
        if target is None:
            return Answer(words.which_event([], s.language))
    else:
        start = s.now.replace(tzinfo=None, second=0, microsecond=0)
        return Call("list_events", {"start": start.isoformat(timespec="minutes"),
                                    "end": (start + timedelta(days=90)).isoformat(timespec="minutes"),
                                    "query": intent.subject})
    at = datetime.fromisoformat(target["start"]) - timedelta(minutes=intent.minutes or 0)
    return Call("set_reminder", {"text": target["summary"][:300], "at": at.isoformat(timespec="seconds"),
                                 "language": s.language, "event_id": target["event_id"],
                                 "minutes_before": intent.minutes})


def _preferences(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    if steps:
        last = steps[-1]
        text = words.preferences(last.data["preferences"], s.language) if last.ok else words.failed(last.error, s.language)
        return Answer(text)
    args: dict[str, Any] = {"language": s.language}
    if intent.kind == "reminder_default":
        args.update({"default_reminders_off": True} if not intent.minutes else {"default_minutes_before": intent.minutes})
    elif intent.side == "off":
        args["quiet_hours_off"] = True
    elif intent.side == "both":
        parts = re.split(r"\s+(?:and|y)\s+", intent.phrase, maxsplit=1)
        start, end = (clock(parts[0], "start"), clock(parts[1], "end")) if len(parts) == 2 else (None, None)
        if start is None or end is None:
            return Answer(words.ask_quiet(s.language))
        args.update(quiet_start=f"{start:%H:%M}", quiet_end=f"{end:%H:%M}")
    else:
        phrase = english(intent.phrase, "es") if _parsing(intent, s) == "es" else intent.phrase
        at = clock(phrase, intent.side)
        if at is None:
            return Answer(words.ask_quiet(s.language))
        args[f"quiet_{intent.side}"] = f"{at:%H:%M}"
    return Call("set_reminder_preferences", args)


REMINDER_HANDLERS: dict[str, Handler] = {
    "opt_stop": _opt, "opt_start": _opt, "reminder_create": _create, "reminder_list": _list,
    "reminder_cancel": _change("cancel"), "reminder_move": _change("move"), "reminder_event": _event,
    "reminder_default": _preferences, "reminder_quiet": _preferences,
}
