"""The offline model's reasoning: from the messages so far to the next tool calls or the answer.

It reads the turn like an LLM would: the user's messages of this turn (each may hold one
request), the tool results it already got this turn, and the earlier conversation (to
know which event "it" is, and what it last asked). Tool call ids carry the request's
index, so it can tell which result answers which request. Requests are planned together,
so a burst of three messages gets one answer that covers all three.

What it must remember between turns (the reply language the user chose, the question it
is waiting for an answer to) goes on its answer message as `additional_kwargs["offline"]`,
which the graph stores in the conversation's checkpoint with the message.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from services.agent.inputs import LOW_VOICE_CONFIDENCE
from services.agent.offline import followups, handlers, render
from services.agent.offline.handlers import Answer, Call, Handler, Situation, Step
from services.agent.offline.intents import _PRONOUN, Intent, parse_intents
from services.agent.offline.privacy import privacy_step
from services.agent.offline.reminder_plans import REMINDER_HANDLERS
from services.agent.offline.render import say
from services.agent.offline.words import fold
from services.agent.prompt import read_clock, read_profile

MEMORY_KEY = "offline"
_CHANGES = {"delete_event", "update_event", "set_time_zone"}
_CALL_ID = re.compile(r"^off_(\d+)_")
_SPANISH_ZONES = re.compile(r"^(?:America/(?:Argentina|Montevideo|Mexico_City|Bogota|Lima|Santiago|Caracas|Asuncion|"
                            r"La_Paz|Guayaquil|Havana|Panama|Costa_Rica|Guatemala|El_Salvador|Tegucigalpa|Managua|"
                            r"Santo_Domingo|Monterrey|Cancun|Merida|Tijuana)|Europe/Madrid|Atlantic/Canary)")


def _simple(key: str) -> Handler:
    return lambda intent, steps, s: Answer(say(s.language, key))


def _time(intent: Intent, steps: list[Step], s: Situation) -> Call | Answer:
    if not steps:
        return Call("current_time", {})
    data = steps[-1].data if steps[-1].ok else {}
    now = datetime.fromisoformat(data["iso"]) if data.get("iso") else s.now
    return Answer(say(s.language, "clock", time=f"{now:%H:%M}", date=render.long_day(now.date(), s.language), zone=s.zone))


def _zone(intent: Intent, steps: list[Step], s: Situation) -> Call | Answer:
    if not steps:
        return Call("set_time_zone", {"place": intent.place})
    last = steps[-1]
    if not last.ok:
        return Answer(render.failed_tool(s.language, "act_zone", last.error))
    return Answer(say(s.language, "zone", zone=last.data["time_zone"], time=last.data["now"]["time"]))


def _failure_text(intent: Intent, s: Situation) -> str:
    """The transcriber's polite reply, in the user's language when we know its code."""
    key = f"fail_{intent.subject}"
    return say(s.language, key) if key in render.WORDS.get(s.language, {}) else intent.text


HANDLERS: dict[str, Handler] = {
    "greet": _simple("greeting"), "help": _simple("help"), "thanks": _simple("thanks"), "ack": _simple("ack"),
    "language": _simple("language"), "declined": _simple("declined"), "freeform": _simple("needs_llm"),
    "failed": lambda intent, steps, s: Answer(_failure_text(intent, s)),
    "time": _time, "zone": _zone, "create": handlers.create, "do": handlers.do, "list": handlers.listing,
    "free": handlers.free, "check": handlers.check, "find": handlers.find, "cancel_all": handlers.cancel_all,
    "move": handlers.change("update_event", "move"), "cancel": handlers.change("delete_event", "cancel"),
    **REMINDER_HANDLERS,
}


def confirm_heard(outcome: Call | list[Call] | Answer, steps: list[Step], s: Situation) -> Call | list[Call] | Answer:
    """A change asked for in a voice note heard with low confidence: ask before making it."""
    calls = outcome if isinstance(outcome, list) else [outcome] if isinstance(outcome, Call) else []
    if not calls or not any(call.name in _CHANGES for call in calls):
        return outcome
    names = {e.get("event_id"): e.get("summary") for step in steps for e in step.data.get("events", [])}
    summaries = [names.get(call.args.get("event_id")) for call in calls if call.args.get("event_id")]
    what = ", ".join(f"“{name}”" for name in summaries if name) or say(s.language, "that_change")
    action = {"delete_event": "cancel", "update_event": "move"}.get(calls[0].name, "zone_change")
    return Answer(say(s.language, "confirm_heard", action=say(s.language, action), what=what),
                  {"kind": "confirm", "calls": [{"name": c.name, "args": c.args} for c in calls]})


def decide(intent: Intent, steps: list[Step], situation: Situation) -> Call | list[Call] | Answer:
    return HANDLERS.get(intent.kind, HANDLERS["freeform"])(intent, steps, situation)


def memory_of(messages: list[BaseMessage]) -> dict[str, Any]:
    """What the model stored on its last answer before this turn."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and not message.tool_calls:
            stored = message.additional_kwargs.get(MEMORY_KEY)
            return dict(stored) if isinstance(stored, dict) else {}
    return {}


def _language(memory: dict[str, Any], intents: list[Intent], zone: str) -> tuple[str, bool]:
    chosen = next((i.language for i in reversed(intents) if i.kind == "language" and i.language), None)
    if chosen:
        return chosen, True
    if memory.get("language_set") and memory.get("language") in render.WORDS:
        return memory["language"], True
    said = next((i.language for i in intents if i.language), None)
    if said:
        return said, False
    if memory.get("language") in render.WORDS:
        return memory["language"], False
    return ("es" if _SPANISH_ZONES.match(zone) else "en"), False


def plan(messages: list[BaseMessage], tools: set[str]) -> tuple[str, list[dict], dict[str, Any]]:
    """(text, tool_calls, memory): the next calls to make, or, when none are left, the answer
    and what to remember with it."""
    asked_about_data = privacy_step(messages, tools)  # services/agent/offline/privacy.py
    if asked_about_data is not None:
        return asked_about_data[0], asked_about_data[1], {}
    now, zone, country = _clock(messages)
    order = "MDY" if country in ("US", "PH", "FM", "MH", "PW") else "DMY"
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if last_human < 0:
        return say("en", "greeting") + "\n\n" + say("en", "help"), [], {}
    first = last_human
    while first > 0 and isinstance(messages[first - 1], HumanMessage):
        first -= 1
    memory = memory_of(messages[:first])
    local = now.replace(tzinfo=None)
    intents: list[Intent] = []
    unsure: list[bool] = []  # the request came from a voice note heard with low confidence
    for position, message in enumerate(messages[first : last_human + 1]):
        text = _text(message)
        answered = followups.answer(memory.get("pending"), text, local, order) if position == 0 else None
        found = [answered] if answered else parse_intents(text, local, order)
        intents += found
        voice = message.additional_kwargs.get("voice") or {}
        confidence = voice.get("confidence") if isinstance(voice, dict) else None
        unsure += [isinstance(confidence, (int, float)) and confidence < LOW_VOICE_CONFIDENCE] * len(found)
    language, chosen = _language(memory, intents, zone)
    after = messages[last_human + 1 :]
    steps = _steps(after, len(intents))
    situation = Situation(now, zone, messages[:first] + after, language, order)
    calls: list[dict] = []
    answers: list[Answer] = []
    for index, intent in enumerate(intents):
        if calls and intent.kind in ("move", "cancel") and _PRONOUN.match(fold(intent.subject)) and not intent.events:
            calls.append({})  # "it" may be what an earlier request is creating: wait for it
            continue
        outcome = decide(intent, steps[index], situation)
        if unsure[index]:
            outcome = confirm_heard(outcome, steps[index], situation)
        wanted = outcome if isinstance(outcome, list) else [outcome] if isinstance(outcome, Call) else []
        if wanted and all(call.name in tools for call in wanted):
            calls += [{"name": call.name, "args": call.args, "type": "tool_call",
                       "id": f"off_{index}_{len(steps[index])}_{k}_{uuid.uuid4().hex[:8]}"} for k, call in enumerate(wanted)]
        elif wanted:
            answers.append(Answer(say(language, "retry")))
        elif isinstance(outcome, Answer):
            answers.append(outcome)
    calls = [call for call in calls if call]
    if calls:
        return "", calls, {}
    if [i.kind for i in intents] == ["greet"]:
        answers = [Answer(say(language, "greeting") + "\n\n" + say(language, "help"))]
    questions = [a.pending for a in answers if a.pending]
    remembered = {"language": language, "language_set": chosen,
                  "pending": {**questions[0], "language": language} if len(questions) == 1 else None}
    return "\n\n".join(a.text for a in answers if a.text), [], remembered


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
            data = _json(content) if ok else {}
            steps[int(match.group(1))].append(Step(call["name"], call["args"], ok, data, content))
    return steps


def _clock(messages: list[BaseMessage]) -> tuple[datetime, str, str | None]:
    for message in messages:
        if isinstance(message, SystemMessage) and (found := read_clock(_text(message))):
            return found[0].astimezone(ZoneInfo(found[1])), found[1], read_profile(_text(message)).get("country")
    return datetime.now(ZoneInfo("UTC")), "UTC", None


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _json(content: str) -> dict:
    try:
        value = json.loads(content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
