"""Reminders in the offline model: what a message asks (set, list, cancel, move a reminder;
a reminder before an event; the default reminder; quiet hours; STOP / START), and the
plan for each. English and Spanish.

Two hooks connect it: `intents._classify` asks `match_reminder` first, and the planner's
handler table includes `REMINDER_HANDLERS`. The order of the checks in `match_reminder`
is its specification: opt-out words, then preferences, then event reminders, then
listing, cancelling and moving, then setting one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.agent.offline import reminder_render as say
from services.agent.offline.intents import Intent
from services.agent.offline.reminder_time import clock, english, find_time
from services.reminders.optout import acknowledgement, normalise, opt_keyword

_AMOUNT = r"(\d+|an?|one|half an|una?|media)"
_UNIT = r"(minutes?|mins?|hours?|hrs?|days?|minutos?|horas?|d[ií]as?)"
_EVENTS = r"(?:all |each |every |todos )?(?:my |mis |los |las )?(?:events|meetings|appointments|eventos|citas|reuniones)"
_DEFAULT_ON = re.compile(
    rf"^(?:always |by default |siempre |por defecto )?(?:remind me|recu[eé]rdame|recordame) {_AMOUNT} {_UNIT} "
    rf"(?:before|antes de) {_EVENTS}(?: by default| por defecto)?$")
_DEFAULT_OFF = re.compile(
    r"^(?:turn off|stop|disable|no more|remove|desactiva|quita|sin) (?:the |los )?(?:default reminders|"
    r"recordatorios (?:por defecto|autom[aá]ticos))$|^don'?t remind me before (?:my )?events$")
_EVENT = re.compile(rf"^(?:remind me|recu[eé]rdame|recordame) {_AMOUNT} {_UNIT} (?:before|antes)(?: (?:de |of )?(.+))?$")
_QUIET_OFF = re.compile(r"^(?:turn off |remove |no |desactiva (?:las )?|quita (?:las )?)?quiet hours(?: off)?$|"
                        r"^you can (?:message|text|write) me (?:at )?any ?time$|^sin horas? de silencio$")
_QUIET = re.compile(
    r"^(?:please )?(?:don'?t|do not|never|no me) (?:message|text|write|bother|disturb|remind|escribas|mandes mensajes|"
    r"env[ií]es mensajes|molestes|mandes recordatorios)(?: me)? (after|past|before|between|despu[eé]s de|"
    r"a partir de|antes de|entre) (.+)$")
_LIST = re.compile(r"\b(?:what|which|list|show|any|see)\b.*\breminders?\b|^(?:my )?reminders$|"
                   r"\b(?:qu[eé]|cu[aá]les|mis|lista|ver)\b.*\brecordatorios\b|^recordatorios$")
_CANCEL = re.compile(r"^(?:cancel|delete|remove|drop|clear|cancela|cancelar|borra|borrar|elimina|eliminar|quita|quitar)"
                     r"\b.*\b(?:reminders?|recordatorios?)\b(?: (?:to|about|for|of|de|para|sobre) )?(.*)$")
_MOVE = re.compile(r"^(?:move|change|reschedule|postpone|push|shift|mueve|mover|cambia|cambiar|pasa|pasar)"
                   r"\b.*\b(?:reminder|recordatorio)\b(?: (?:to|about|for|of|de|para|sobre) )?(.*)$")
_CREATE = {
    "en": re.compile(r"^(?:remind me|set a reminder|reminder)\b\s*(.*)$"),
    "es": re.compile(r"^(?:por favor )?(?:recu[eé]rdame|recordame|acu[eé]rdame|av[ií]same|pon(?:me)? un recordatorio)"
                     r"\b\s*(.*)$"),
}
_SPANISH_HINT = re.compile(r"\b(?:recu[eé]rdame|recordame|recordatorios?|acu[eé]rdame|av[ií]same|antes|eventos|citas|"
                           r"escribas|molestes|despu[eé]s|mañana|mis|qu[eé])\b")


@dataclass
class ReminderIntent(Intent):
    language: str = "en"
    minutes: int | None = None
    side: str = ""  # quiet hours: "start", "end" or "both"
    phrase: str = ""  # the part that says when


def language_of(text: str) -> str:
    return "es" if _SPANISH_HINT.search(text) else "en"


def _minutes(amount: str, unit: str) -> int:
    value = {"a": 1.0, "an": 1.0, "one": 1.0, "half an": 0.5, "un": 1.0, "una": 1.0, "media": 0.5}.get(amount)
    number = value if value is not None else float(amount)
    scale = 1440 if unit.startswith(("d", "dí", "di")) else 60 if unit.startswith("h") else 1
    return max(1, round(number * scale))


def match_reminder(core: str) -> Intent | None:
    """The reminder request in `core` (lower case, politeness removed), or None."""
    lang = language_of(core)
    kind = opt_keyword(core)
    if kind is not None:
        return ReminderIntent(f"opt_{kind}", core, language=lang)
    if (found := _DEFAULT_ON.match(core)):
        return ReminderIntent("reminder_default", core, language=lang, minutes=_minutes(found.group(1), found.group(2)))
    if _DEFAULT_OFF.match(core):
        return ReminderIntent("reminder_default", core, language=lang, minutes=0)
    if _QUIET_OFF.match(core):
        return ReminderIntent("reminder_quiet", core, language=lang, side="off")
    if (found := _QUIET.match(core)):
        word = found.group(1)
        side = "both" if word in ("between", "entre") else "end" if word in ("before", "antes de") else "start"
        return ReminderIntent("reminder_quiet", core, language=lang, side=side, phrase=found.group(2))
    if (found := _EVENT.match(core)):
        subject = (found.group(3) or "").strip(" ?.!")
        return ReminderIntent("reminder_event", core, subject=re.sub(r"^(?:the|my|el|la|mi) ", "", subject),
                              language=lang, minutes=_minutes(found.group(1), found.group(2)))
    if _LIST.search(core) and not _CANCEL.match(core) and not _MOVE.match(core):
        return ReminderIntent("reminder_list", core, language=lang)
    if (found := _CANCEL.match(core)):
        return ReminderIntent("reminder_cancel", core, subject=found.group(1).strip(" ?.!"), language=lang)
    if (found := _MOVE.match(core)):
        rest = found.group(1)
        splitter = r"\s+a\s+(?=las?\s|\d|mañana|hoy|el\s)" if lang == "es" else r"\s+to\s+(?=\d|tomorrow|today|on\s|next\s|noon|mon|tue|wed|thu|fri|sat|sun)"
        parts = re.split(splitter, rest, maxsplit=1)
        subject, phrase = (parts[0], ("a " if lang == "es" else "") + parts[1]) if len(parts) == 2 else ("", rest)
        return ReminderIntent("reminder_move", core, subject=subject.strip(), language=lang, phrase=phrase)
    for language, pattern in _CREATE.items():
        if (found := pattern.match(core)):
            task = find_time(found.group(1), language, datetime.now()).rest  # the words, whatever the time
            return ReminderIntent("reminder_create", core, subject=task, language=language, phrase=found.group(1))
    return None


# --- plans ---------------------------------------------------------------------------


def _opt(intent: Intent, steps: list, s: Any) -> str:
    return acknowledgement(intent.text) or ""


def _create(intent: Any, steps: list, s: Any) -> Any:
    from services.agent.offline.planner import Call

    if steps:
        last = steps[-1]
        return say.created(last.data["reminder"], intent.language) if last.ok else say.failed(last.error, intent.language)
    found = find_time(intent.phrase, intent.language, s.now)
    task = intent.subject or found.rest
    if not task:
        return say.ask_what(intent.language)
    if found.at is None:
        return say.ask_when(task, intent.language)
    args: dict[str, Any] = {"text": task[:300], "language": intent.language}
    if found.in_seconds is not None:  # the model's clock has minutes only: "in 2 seconds" counts from the tool
        return Call("set_reminder", {**args, "in_seconds": found.in_seconds})
    if found.at <= s.now.replace(tzinfo=None):
        return say.in_past(intent.language)
    return Call("set_reminder", {**args, "at": found.at.isoformat(timespec="seconds")})


def _list(intent: Any, steps: list, s: Any) -> Any:
    from services.agent.offline.planner import Call

    if not steps:
        return Call("list_reminders", {})
    last = steps[-1]
    return say.listing(last.data["reminders"], intent.language) if last.ok else say.failed(last.error, intent.language)


def _pick(items: list[dict], subject: str) -> list[dict]:
    wanted = normalise(subject)
    if not wanted or wanted in ("it", "that", "this", "the", "my", "lo", "el", "ese"):
        return items
    return [item for item in items if wanted in normalise(item["text"])]


def _change(action: str):
    def handle(intent: Any, steps: list, s: Any) -> Any:
        from services.agent.offline.planner import Call

        if not steps:
            return Call("list_reminders", {})
        last = steps[-1]
        if not last.ok:
            return say.failed(last.error, intent.language)
        if last.name != "list_reminders":
            return say.changed(last.data, action, intent.language)
        matches = _pick(last.data["reminders"], intent.subject)
        if not matches:
            return say.none_found(intent.language)
        if len(matches) > 1:
            return say.which(matches, intent.language)
        target = matches[0]
        if action == "cancel":
            return Call("cancel_reminder", {"reminder_id": target["reminder_id"]})
        found = find_time(intent.phrase, intent.language, s.now)
        if found.at is None:
            return say.ask_when(target["text"], intent.language)
        if found.in_seconds is not None:
            return Call("move_reminder", {"reminder_id": target["reminder_id"], "in_seconds": found.in_seconds})
        at = found.at
        if not found.has_day:  # "move it to 10": same day, like moving an event
            at = datetime.combine(datetime.fromisoformat(target["at"]).date(), at.time())
        return Call("move_reminder", {"reminder_id": target["reminder_id"], "at": at.isoformat(timespec="seconds")})

    return handle


def _event(intent: Any, steps: list, s: Any) -> Any:
    from services.agent.offline.planner import _PRONOUN, Call, _last_mentioned

    if steps and steps[-1].name == "set_reminder":
        last = steps[-1]
        return say.created(last.data["reminder"], intent.language) if last.ok else say.failed(last.error, intent.language)
    target = None
    if steps:
        last = steps[-1]
        if not last.ok:
            return say.failed(last.error, intent.language)
        events = last.data.get("events", [])
        if len(events) != 1:
            return say.which_event(events, intent.language)
        target = events[0]
    elif _PRONOUN.match(intent.subject) or intent.subject in ("eso", "esto", "el evento", "la cita"):
        target = _last_mentioned(s.earlier)
        if target is None:
            return say.which_event([], intent.language)
    else:
        start = s.now.replace(tzinfo=None, second=0, microsecond=0)
        return Call("list_events", {"start": start.isoformat(timespec="minutes"),
                                    "end": (start + timedelta(days=90)).isoformat(timespec="minutes"),
                                    "query": intent.subject})
    at = datetime.fromisoformat(target["start"]) - timedelta(minutes=intent.minutes or 0)
    return Call("set_reminder", {"text": target["summary"][:300], "at": at.isoformat(timespec="seconds"),
                                 "language": intent.language, "event_id": target["event_id"],
                                 "minutes_before": intent.minutes})


def _preferences(intent: Any, steps: list, s: Any) -> Any:
    from services.agent.offline.planner import Call

    if steps:
        last = steps[-1]
        return say.preferences(last.data["preferences"], intent.language) if last.ok else say.failed(last.error, intent.language)
    args: dict[str, Any] = {"language": intent.language}
    if intent.kind == "reminder_default":
        args.update({"default_reminders_off": True} if not intent.minutes else {"default_minutes_before": intent.minutes})
    elif intent.side == "off":
        args["quiet_hours_off"] = True
    elif intent.side == "both":
        parts = re.split(r"\s+(?:and|y)\s+", intent.phrase, maxsplit=1)
        start, end = (clock(parts[0], "start"), clock(parts[1], "end")) if len(parts) == 2 else (None, None)
        if start is None or end is None:
            return say.ask_quiet(intent.language)
        args.update(quiet_start=f"{start:%H:%M}", quiet_end=f"{end:%H:%M}")
    else:
        at = clock(english(intent.phrase, "es") if intent.language == "es" else intent.phrase, intent.side)
        if at is None:
            return say.ask_quiet(intent.language)
        args[f"quiet_{intent.side}"] = f"{at:%H:%M}"
    return Call("set_reminder_preferences", args)


REMINDER_HANDLERS = {
    "opt_stop": _opt, "opt_start": _opt, "reminder_create": _create, "reminder_list": _list,
    "reminder_cancel": _change("cancel"), "reminder_move": _change("move"), "reminder_event": _event,
    "reminder_default": _preferences, "reminder_quiet": _preferences,
}
