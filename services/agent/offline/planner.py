"""The offline model's reasoning: from the messages so far to the next tool calls or the answer.

It reads the turn like an LLM would: the user's messages of this turn (each may hold one
request), the tool results it already got this turn, and the earlier conversation (to
know which event "it" is). Tool call ids carry the request's index, so it can tell which
result answers which request. Requests are planned together, so a burst of three
messages gets one answer that covers all three.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage

from services.agent.offline import render
from services.agent.offline.intents import Intent, parse_intents
from services.agent.offline.reminders import REMINDER_HANDLERS
from services.agent.prompt import read_clock

_CALL_ID = re.compile(r"^off_(\d+)_")
_PRONOUN = re.compile(r"^(?:it|that|this|that one|this one|the event|the meeting|the appointment|)$")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


@dataclass(frozen=True)
class Call:
    name: str
    args: dict


@dataclass(frozen=True)
class Step:
    name: str
    args: dict
    ok: bool
    data: dict
    error: str


@dataclass(frozen=True)
class Situation:
    now: datetime  # aware, in the user's zone
    zone: str
    earlier: list[BaseMessage]  # what came before this turn's steps, newest last


def plan(messages: list[BaseMessage], tools: set[str]) -> tuple[str, list[dict]]:
    """(text, tool_calls): the next calls to make, or, when none are left, the answer."""
    now, zone = _clock(messages)
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if last_human < 0:
        return render.GREETING + "\n\n" + render.HELP, []
    first = last_human
    while first > 0 and isinstance(messages[first - 1], HumanMessage):
        first -= 1
    intents = [i for m in messages[first : last_human + 1] for i in parse_intents(_text(m), now.date())]
    after = messages[last_human + 1 :]
    steps = _steps(after, len(intents))
    situation = Situation(now, zone, messages[:first] + after)
    calls: list[dict] = []
    answers: list[str] = []
    for index, intent in enumerate(intents):
        if calls and intent.kind in ("move", "cancel") and _PRONOUN.match(intent.subject):
            calls.append({})  # "it" may be what an earlier request is creating: wait for it
            continue
        outcome = decide(intent, steps[index], situation)
        if isinstance(outcome, Call) and outcome.name in tools:
            calls.append({"name": outcome.name, "args": outcome.args,
                          "id": f"off_{index}_{len(steps[index])}_{uuid.uuid4().hex[:8]}", "type": "tool_call"})
        elif isinstance(outcome, Call):
            answers.append("I couldn't finish that just now. Could you ask again?")
        else:
            answers.append(outcome)
    calls = [call for call in calls if call]
    if calls:
        return "", calls
    if [i.kind for i in intents] == ["greet"]:
        answers = [render.GREETING + "\n\n" + render.HELP]
    return "\n\n".join(answer for answer in answers if answer), []


def decide(intent: Intent, steps: list[Step], situation: Situation) -> Call | str:
    handler = HANDLERS.get(intent.kind)
    return handler(intent, steps, situation) if handler else render.NEEDS_LLM


def _greet(intent: Intent, steps: list[Step], s: Situation) -> str:
    return render.GREETING


def _failed(intent: Intent, steps: list[Step], s: Situation) -> str:
    return intent.text  # the transcriber's polite reply


def _time(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
    if not steps:
        return Call("current_time", {})
    return render.clock(steps[-1].data) if steps[-1].ok else render.clock(_now_dict(s))


def _zone(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
    if not steps:
        return Call("set_time_zone", {"place": intent.place})
    last = steps[-1]
    return render.zone_changed(last.data) if last.ok else render.failed_tool("change your time zone", last.error)


def _create(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
    if steps:
        last = steps[-1]
        if not last.ok:
            return render.failed_tool("add that to your calendar", last.error)
        return render.created(last.data["created"], last.data.get("overlaps", []))
    if not intent.subject:
        return "What should I call the event? For example: “Schedule lunch with Ana tomorrow at 1”."
    when = intent.when
    if when.at is None:
        return f"What time should I put “{intent.subject}” in your calendar? For example: “tomorrow at 3pm”."
    day = when.day or (s.now.date() if when.at > s.now.time() else s.now.date() + timedelta(days=1))
    args: dict[str, Any] = {"summary": intent.subject[:1].upper() + intent.subject[1:], "start": _local(day, when.at)}
    if when.duration_minutes:
        args["duration_minutes"] = when.duration_minutes
    return Call("create_event", args)


def _list(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
    start, end, label = _range(intent, s)
    if not steps:
        return Call("list_events", {"start": start.isoformat(timespec="minutes"), "end": end.isoformat(timespec="minutes")})
    last = steps[-1]
    if not last.ok:
        return render.failed_tool("read your calendar", last.error)
    text = render.listing(last.data["events"], label, last.data.get("truncated", False))
    return f"{render.ONLY_YOURS} {text}" if _PHONE.search(intent.text) else text


def _free(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
    start, end, label = _range(intent, s)
    start = max(start, s.now.replace(tzinfo=None, second=0, microsecond=0))
    if not steps:
        return Call("find_free_slots", {"start": start.isoformat(timespec="minutes"),
                                        "end": end.isoformat(timespec="minutes"),
                                        "duration_minutes": intent.when.duration_minutes or 60,
                                        "day_start": "09:00", "day_end": "18:00"})
    last = steps[-1]
    return render.free(last.data["free"], label) if last.ok else render.failed_tool("check your calendar", last.error)


def _change(tool: str, action: str):
    """Move or cancel: find the event ("it" is the last one we talked about), then act on it."""

    def handle(intent: Intent, steps: list[Step], s: Situation) -> Call | str:
        target = None
        if steps and steps[-1].name == tool:
            last = steps[-1]
            if not last.ok:
                return render.failed_tool(f"{action} it", last.error)
            return render.moved(last.data["updated"]) if tool == "update_event" else render.cancelled(last.data["deleted"])
        if steps:  # we listed candidates by name
            last = steps[-1]
            if not last.ok:
                return render.failed_tool("read your calendar", last.error)
            matches = last.data["events"]
            if not matches:
                return render.not_found(intent.subject, action)
            if len(matches) > 1:
                return render.which_one(matches, action)
            target = matches[0]
        elif _PRONOUN.match(intent.subject):
            target = _last_mentioned(s.earlier)
            if target is None:
                return f"Which event should I {action}? Tell me its name, e.g. “{action} lunch with Ana”."
        else:
            start = s.now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
            return Call("list_events", {"start": start.isoformat(timespec="minutes"),
                                        "end": (start + timedelta(days=90)).isoformat(timespec="minutes"),
                                        "query": intent.subject})
        if tool == "delete_event":
            return Call("delete_event", {"event_id": target["event_id"]})
        when = intent.when
        if when.day is None and when.at is None:
            return f"When should I move “{target['summary']}” to?"
        old = datetime.fromisoformat(target["start"])
        new = datetime.combine(when.day or old.date(), when.at or old.time())
        return Call("update_event", {"event_id": target["event_id"], "start": new.isoformat(timespec="minutes")})

    return handle


HANDLERS = {
    "greet": _greet, "failed": _failed, "time": _time, "zone": _zone, "create": _create, "list": _list,
    "free": _free, "move": _change("update_event", "move"), "cancel": _change("delete_event", "cancel"),
    "help": lambda i, st, s: render.HELP, "thanks": lambda i, st, s: render.THANKS,
    **REMINDER_HANDLERS,
}


def _range(intent: Intent, s: Situation) -> tuple[datetime, datetime, str]:
    today = s.now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    text = intent.text
    if "next week" in text:
        start = today + timedelta(days=7 - today.weekday())
        return start, start + timedelta(days=7), "next week"
    if "weekend" in text:
        start = today + timedelta(days=(5 - today.weekday()) % 7)
        return start, start + timedelta(days=2), "this weekend"
    if "week" in text:
        return today, today + timedelta(days=7 - today.weekday()), "this week"
    if intent.when.day is not None:
        day = datetime.combine(intent.when.day, time())
        offset = (day - today).days
        label = {0: "today", 1: "tomorrow"}.get(offset, f"on {day:%A %d %B}")
        return day, day + timedelta(days=1), label
    return today, today + timedelta(days=7), "in the next 7 days"


def _last_mentioned(messages: list[BaseMessage]) -> dict | None:
    """The event the conversation last talked about: created, moved or the only one listed."""
    deleted: set[str] = set()
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            continue
        data = _json(message.content)
        if "deleted" in data:
            deleted.add(data["deleted"].get("event_id", ""))
        item = data.get("created") or data.get("updated")
        if item is None and len(data.get("events", [])) == 1:
            item = data["events"][0]
        if item and item.get("event_id") not in deleted:
            return item
    return None


def _steps(after: list[BaseMessage], count: int) -> list[list[Step]]:
    results = {m.tool_call_id: m for m in after if isinstance(m, ToolMessage)}
    steps: list[list[Step]] = [[] for _ in range(count)]
    for message in after:
        for call in getattr(message, "tool_calls", None) or []:
            match = _CALL_ID.match(call.get("id") or "")
            result = results.get(call.get("id"))
            if not match or result is None or int(match.group(1)) >= count:
                continue
            content = _text(result)
            ok = result.status != "error" and not content.startswith("Error")
            steps[int(match.group(1))].append(Step(call["name"], call["args"], ok, _json(content) if ok else {}, content))
    return steps


def _clock(messages: list[BaseMessage]) -> tuple[datetime, str]:
    for message in messages:
        if isinstance(message, SystemMessage) and (found := read_clock(_text(message))):
            return found[0].astimezone(ZoneInfo(found[1])), found[1]
    return datetime.now(ZoneInfo("UTC")), "UTC"


def _now_dict(s: Situation) -> dict:
    return {"time": f"{s.now:%H:%M}", "date": f"{s.now:%A %d %B %Y}", "time_zone": s.zone}


def _local(day, at: time) -> str:
    return datetime.combine(day, at).isoformat(timespec="minutes")


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _json(content) -> dict:
    try:
        value = json.loads(content if isinstance(content, str) else "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
