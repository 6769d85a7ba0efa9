"""What the offline model does about each intent: the next tool call(s), or the answer.

Each handler is a function of (intent, the steps it already took this turn, the
situation) and returns a `Call`, several, or an `Answer` (which may carry a question the
next message answers: `pending`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from langchain_core.messages import BaseMessage, ToolMessage

from services.agent.offline import render
from services.agent.offline.followups import when_to_dict
from services.agent.offline.intents import _PRONOUN, Intent
from services.agent.offline.render import say
from services.agent.offline.times import day_range, duration_of, start_of
from services.agent.offline.words import fold

_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_STOP = {"the", "my", "a", "an", "el", "la", "los", "las", "mi", "de", "del", "with", "con", "to", "for", "on", "at"}


@dataclass(frozen=True)
class Call:
    name: str
    args: dict


@dataclass(frozen=True)
class Answer:
    text: str
    pending: dict | None = None


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
    language: str = "en"
    order: str = "DMY"
    local: datetime = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "local", self.now.replace(tzinfo=None, second=0, microsecond=0))


Outcome = Call | list[Call] | Answer
Handler = Callable[[Intent, list[Step], Situation], Outcome]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def _failed(s: Situation, action: str, step: Step) -> Answer:
    return Answer(render.failed_tool(s.language, action, step.error))


def create(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    lang, when = s.language, intent.when
    if when.birthday and when.at is None:
        when.all_day = True
        if when.yearly and not when.recurrence and when.day is not None:
            when.recurrence = "FREQ=YEARLY"
    if steps:
        last = steps[-1]
        if not last.ok:
            return _failed(s, "act_create", last)
        created = last.data.get("created")
        if not isinstance(created, dict) or not {"summary", "start", "end"} <= created.keys():
            # made, but its description did not come back whole (cut to fit the context)
            return Answer(say(lang, "created_short", summary=last.args.get("summary") or intent.subject))
        return Answer(render.created(created, last.data.get("overlaps", []), lang, when.recurrence))
    if not intent.subject:
        return Answer(say(lang, "ask_title"), {"kind": "create_title", "when": when_to_dict(when)})
    start = start_of(when, s.local, intent.subject, recurring=bool(when.recurrence))
    if start is None:
        pending = {"kind": "create_time", "subject": intent.subject, "when": when_to_dict(when)}
        if when.day is None:
            return Answer(say(lang, "ask_day", subject=intent.subject), pending)
        day = " " + say(lang, "on_day", day=render.day_text(when.day, lang))
        return Answer(say(lang, "ask_time", subject=intent.subject, day=day), pending)
    if when.recurrence and start < s.local:
        start = next_occurrence(start, when.recurrence, s.local)
    args: dict[str, Any] = {"summary": intent.subject[:300], "start": iso(start)}
    if minutes := duration_of(when, start):
        args["duration_minutes"] = minutes
    if when.recurrence:
        args["recurrence"] = when.recurrence
    if when.all_day and when.at is None:
        args["all_day"] = True
    if start < s.local and not intent.calls:
        args["confirm_past"] = True
        shown = render.when_text({"start": iso(start), "end": iso(start + timedelta(minutes=minutes or 60))}, lang)
        return Answer(say(lang, "past", when=shown, summary=intent.subject),
                      {"kind": "confirm", "calls": [{"name": "create_event", "args": args}]})
    return Call("create_event", args)


def next_occurrence(start: datetime, rule: str, now: datetime) -> datetime:
    """The first start of a repeating event that is not past."""
    from dateutil.rrule import rrulestr

    found = rrulestr(rule, dtstart=start).after(now)
    return found if isinstance(found, datetime) else start


def do(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    """Calls the user confirmed: run them all, then say what happened."""
    if not steps:
        return [Call(c["name"], c["args"]) for c in intent.calls]
    failed = [step for step in steps if not step.ok]
    if failed:
        return _failed(s, "act_create" if failed[0].name == "create_event" else "act_read", failed[0])
    if all(step.name == "delete_event" for step in steps):
        gone = [step.data["deleted"] for step in steps]
        if len(gone) == 1:
            return Answer(say(s.language, "cancelled", summary=gone[0]["summary"]))
        items = "\n".join(f"• {item['summary']}" for item in gone)
        return Answer(say(s.language, "cancelled_many", count=len(gone), items=items))
    last = steps[-1]
    if last.name == "update_event":
        return Answer(say(s.language, "moved", summary=last.data["updated"]["summary"],
                          when=render.when_text(last.data["updated"], s.language)))
    rule = next((c["args"].get("recurrence") for c in intent.calls if c["name"] == "create_event"), None)
    return Answer(render.created(last.data["created"], last.data.get("overlaps", []), s.language, rule))


def label(key: str, day: Any, lang: str) -> str:
    return say(lang, "on_day", day=render.day_text(day, lang)) if key == "day" else say(lang, key)


def _label(intent: Intent, s: Situation) -> tuple[datetime, datetime, str]:
    start, end, key, day = day_range(intent.when, s.local)
    if day is not None and (day - s.local.date()).days in (0, 1):
        key = "today" if day == s.local.date() else "tomorrow"
    return start, end, label(key, day, s.language)


def listing(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    start, end, text = _label(intent, s)
    if intent.when.period and (end - start).days == 1:  # "tomorrow morning", "esta tarde"
        start, end = (datetime.combine(start.date(), datetime.strptime(t, "%H:%M").time())
                      for t in _PERIODS[intent.when.period])
    if not steps:
        return Call("list_events", {"start": iso(start), "end": iso(end)})
    last = steps[-1]
    if not last.ok:
        return _failed(s, "act_read", last)
    events = _events(last)
    answer = render.listing(events, text, last.data.get("truncated", "events" not in last.data), s.language)
    return Answer(f"{say(s.language, 'only_yours')} {answer}" if _PHONE.search(intent.text) else answer)


_PERIODS = {"morning": ("06:00", "12:00"), "afternoon": ("12:00", "18:00"), "evening": ("17:00", "22:00")}


def free(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    start, end, text = _label(intent, s)
    start = max(start, s.local)
    day_start, day_end = _PERIODS.get(intent.when.period or "", ("09:00", "18:00"))
    if not steps:
        return Call("find_free_slots", {"start": iso(start), "end": iso(end),
                                        "duration_minutes": intent.when.duration_minutes or 60,
                                        "day_start": day_start, "day_end": day_end})
    last = steps[-1]
    if not last.ok:
        return _failed(s, "act_check", last)
    return Answer(render.free(last.data["free"], text, s.language, last.data.get("slots")))


def check(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    """"Am I free friday at 3?": yes, or what is in the way."""
    start = start_of(intent.when, s.local) or s.local
    minutes = duration_of(intent.when, start) or 60
    end = start + timedelta(minutes=minutes)
    if not steps:
        return Call("list_events", {"start": iso(start), "end": iso(end)})
    last = steps[-1]
    if not last.ok:
        return _failed(s, "act_check", last)
    shown = render.when_text({"start": iso(start), "end": iso(end)}, s.language)
    events = last.data.get("events", [])
    if not events:
        return Answer(say(s.language, "free_at", when=shown))
    return Answer(say(s.language, "busy", when=shown, items=render.bullet_list(events, s.language)))


def find(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    """"When is my dentist appointment?": the coming events that match the name."""
    start = datetime.combine(s.local.date(), datetime.min.time())
    window = {"start": iso(start), "end": iso(start + timedelta(days=180))}
    if not steps:
        return Call("list_events", {**window, "query": _keyword(intent.subject)})
    last = steps[-1]
    if not last.ok:
        return _failed(s, "act_read", last)
    found = _matching(_events(last), intent.subject)
    if not found and len(steps) == 1:
        return Call("list_events", window)
    if not found:
        return Answer(say(s.language, "not_found_plain", subject=intent.subject))
    return Answer(say(s.language, "found", items=render.bullet_list(found[:5], s.language)))


def cancel_all(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
    """"Cancel everything tomorrow": list, then ask before cancelling any of it."""
    if intent.when.day is None and intent.when.span is None:
        intent.when.day = s.local.date()
    start, end, text = _label(intent, s)
    start = max(start, s.local - timedelta(hours=12)) if intent.when.day == s.local.date() else start
    if not steps:
        return Call("list_events", {"start": iso(start), "end": iso(end)})
    last = steps[-1]
    if not last.ok:
        return _failed(s, "act_read", last)
    events = last.data.get("events", [])
    if not events:
        return Answer(say(s.language, "nothing_to_cancel", label=text))
    calls = [{"name": "delete_event", "args": {"event_id": e["event_id"]}} for e in events]
    key = "confirm_cancel_one" if len(events) == 1 else "confirm_cancel_all"
    return Answer(say(s.language, key, count=len(events), label=text,
                      items=render.bullet_list(events, s.language)), {"kind": "confirm", "calls": calls})


def _window(intent: Intent, s: Situation) -> tuple[datetime, datetime]:
    if intent.when.day is not None:
        day = datetime.combine(intent.when.day, datetime.min.time())
        return day, day + timedelta(days=1)
    start = datetime.combine(s.local.date(), datetime.min.time())
    return start, start + timedelta(days=60)


def _keyword(subject: str) -> str:
    words = [w for w in re.findall(r"[\w'-]+", subject) if fold(w) not in _STOP]
    return max(words, key=len) if words else subject


_GENERIC = re.compile(r"^(?:event|appointment|appt|meeting|thing|session|evento|cita|compromiso|cosa|turno|reunion)s?$")


def _matching(events: list[dict], subject: str) -> list[dict]:
    wanted = fold(subject)
    if _GENERIC.match(wanted):  # "the 4pm appointment": which one is said by its time or day
        return events
    scored = []
    for event in events:
        title = fold(event.get("summary", ""))
        ratio = max(difflib.SequenceMatcher(None, wanted, title).ratio(),
                    max((difflib.SequenceMatcher(None, w, t).ratio() for w in wanted.split() if w not in _STOP
                         for t in title.split()), default=0))
        if wanted in title or title in wanted or ratio >= 0.75:
            scored.append(event)
    return scored


def change(tool: str, action: str) -> Handler:
    """Move or cancel: find the event ("it" is the last one we talked about), then act on it."""

    def handle(intent: Intent, steps: list[Step], s: Situation) -> Outcome:
        lang = s.language
        if steps and steps[-1].name == tool:
            last = steps[-1]
            if not last.ok:
                return _failed(s, f"act_{action}", last)
            if tool == "update_event":
                item = last.data["updated"]
                return Answer(say(lang, "moved", summary=item["summary"], when=render.when_text(item, lang)))
            return Answer(say(lang, "cancelled", summary=last.data["deleted"]["summary"]))
        targets = list(intent.events)
        if not targets and steps:  # we listed candidates by name (then, if none, everything near)
            last = steps[-1]
            if not last.ok:
                return _failed(s, "act_read", last)
            targets = _matching(_events(last), intent.subject) if len(steps) > 1 else _events(last)
            targets = _at_time(targets, intent.when)
            if not targets and len(steps) == 1 and intent.subject:
                start, end = _window(intent, s)
                return Call("list_events", {"start": iso(start), "end": iso(end)})
            if not targets:
                return Answer(say(lang, "not_found", subject=intent.subject, action=say(lang, action)))
        elif not targets and _PRONOUN.match(fold(intent.subject)) and not intent.when.at:
            target = last_mentioned(s.earlier)
            if target is None:
                return Answer(say(lang, "ask_which", action=say(lang, action)))
            targets = [target]
        elif not targets:
            start, end = _window(intent, s)
            found = {"start": iso(start), "end": iso(end)}
            return Call("list_events", {**found, "query": _keyword(intent.subject)} if intent.subject else found)
        if len(targets) > 1 and tool == "delete_event" and intent.events:
            return [Call("delete_event", {"event_id": t["event_id"]}) for t in targets]
        if len(targets) > 1:
            pending = {"kind": "which", "action": "move" if tool == "update_event" else "cancel", "events": targets[:9],
                       "target": when_to_dict(intent.target) if intent.target else None}
            return Answer(say(lang, "which", action=say(lang, action), items=render.bullet_list(targets[:9], lang, True)),
                          pending)
        target = targets[0]
        if tool == "delete_event":
            return Call("delete_event", {"event_id": target["event_id"]})
        return _move(intent, target, s)

    return handle


def _at_time(events: list[dict], when: Any) -> list[dict]:
    """The events that start at the time the user named ("my 1pm", "la reunión de las 9"), if they named one."""
    if when is None or when.at is None:
        return events
    times = {when.at.strftime("%H:%M")}
    if when.bare and when.at.hour < 12:
        times.add(f"{when.at.hour + 12:02d}:{when.at.minute:02d}")
    return [e for e in events if str(e.get("start", ""))[11:16] in times]


def _move(intent: Intent, target: dict, s: Situation) -> Outcome:
    if intent.shift_minutes:
        new = datetime.fromisoformat(target["start"]) + timedelta(minutes=intent.shift_minutes)
        return Call("update_event", {"event_id": target["event_id"], "start": iso(new)})
    when = intent.target
    if when is None or not (when.day or when.at or when.moment):
        return Answer(say(s.language, "ask_move", summary=target["summary"]), {"kind": "move_when", "event": target})
    old = datetime.fromisoformat(target["start"])
    if when.at is None and not when.moment:
        new = datetime.combine(when.day or old.date(), old.time())
    else:  # a time alone keeps the event's day
        same_day = when if when.day or when.moment else dataclasses.replace(when, day=old.date())
        new = start_of(same_day, s.local, target.get("summary", "")) or old
    args: dict[str, Any] = {"event_id": target["event_id"], "start": iso(new)}
    if when.until is not None or when.duration_minutes:
        if minutes := duration_of(when, new):
            args["end"] = iso(new + timedelta(minutes=minutes))
    if new < s.local and not intent.calls:
        args["confirm_past"] = True
        shown = render.when_text({"start": iso(new), "end": iso(new + timedelta(hours=1))}, s.language)
        return Answer(say(s.language, "past", when=shown, summary=target["summary"]),
                      {"kind": "confirm", "calls": [{"name": "update_event", "args": args}]})
    return Call("update_event", args)


def _events(step: Step) -> list[dict]:
    events = step.data.get("events")
    if isinstance(events, list):
        return events
    # a listing cut short (tool results are bounded): the complete entries it holds
    return [json.loads(m) for m in re.findall(r'\{"event_id":[^{}]*\}', step.error or "")]


def last_mentioned(messages: list[BaseMessage]) -> dict | None:
    """The event the conversation last talked about: created, moved or the only one listed."""
    deleted: set[str] = set()
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            continue
        try:
            data = json.loads(message.content if isinstance(message.content, str) else "")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if "deleted" in data:
            deleted.add(data["deleted"].get("event_id", ""))
        item = data.get("created") or data.get("updated")
        if item is None and len(data.get("events", [])) == 1:
            item = data["events"][0]
        if item and item.get("event_id") not in deleted:
            return item
    return None
