"""Reminders in the offline model: what a message asks (set, list, cancel, move a reminder;
a reminder before an event; the default reminder; quiet hours; STOP / START), in English
and Spanish. The plan for each is in `reminder_plans.py`.

It plugs in as the `remind` row of `intents.INTENTS` (after help, before cancel: "cancel
the reminder …" is not an event). The order of the checks in `match_reminder` is its
specification: opt-out words, then preferences, then event reminders, then listing,
cancelling and moving, then setting one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from services.agent.offline.reminder_time import find_time
from services.reminders.optout import opt_keyword

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


@dataclass(frozen=True)
class ReminderRequest:
    """What `intents` turns into an `Intent` of the same fields."""

    kind: str
    subject: str = ""
    language: str | None = None  # "es" when reminder words say so; else the message's, as for any intent
    minutes: int | None = None
    side: str = ""  # quiet hours: "start", "end", "both" or "off"
    phrase: str = ""  # the part that says when


def language_of(text: str) -> str | None:
    return "es" if _SPANISH_HINT.search(text) else None


def _minutes(amount: str, unit: str) -> int:
    value = {"a": 1.0, "an": 1.0, "one": 1.0, "half an": 0.5, "un": 1.0, "una": 1.0, "media": 0.5}.get(amount)
    number = value if value is not None else float(amount)
    scale = 1440 if unit.startswith(("d", "dí", "di")) else 60 if unit.startswith("h") else 1
    return max(1, round(number * scale))


def match_reminder(core: str, now: datetime) -> ReminderRequest | None:
    """The reminder request in `core` (lower case with its accents, politeness removed), or None."""
    lang = language_of(core)
    kind = opt_keyword(core)
    if kind is not None:
        return ReminderRequest(f"opt_{kind}", language=lang)
    if (found := _DEFAULT_ON.match(core)):
        return ReminderRequest("reminder_default", language=lang, minutes=_minutes(found.group(1), found.group(2)))
    if _DEFAULT_OFF.match(core):
        return ReminderRequest("reminder_default", language=lang, minutes=0)
    if _QUIET_OFF.match(core):
        return ReminderRequest("reminder_quiet", language=lang, side="off")
    if (found := _QUIET.match(core)):
        word = found.group(1)
        side = "both" if word in ("between", "entre") else "end" if word in ("before", "antes de") else "start"
        return ReminderRequest("reminder_quiet", language=lang, side=side, phrase=found.group(2))
    if (found := _EVENT.match(core)):
        subject = (found.group(3) or "").strip(" ?.!")
        return ReminderRequest("reminder_event", subject=re.sub(r"^(?:the|my|el|la|mi) ", "", subject),
                              language=lang, minutes=_minutes(found.group(1), found.group(2)))
    if _LIST.search(core) and not _CANCEL.match(core) and not _MOVE.match(core):
        return ReminderRequest("reminder_list", language=lang)
    if (found := _CANCEL.match(core)):
        return ReminderRequest("reminder_cancel", subject=found.group(1).strip(" ?.!"), language=lang)
    if (found := _MOVE.match(core)):
        rest = found.group(1)
        splitter = r"\s+a\s+(?=las?\s|\d|mañana|hoy|el\s)" if lang == "es" else r"\s+to\s+(?=\d|tomorrow|today|on\s|next\s|noon|mon|tue|wed|thu|fri|sat|sun)"
        parts = re.split(splitter, rest, maxsplit=1)
        subject, phrase = (parts[0], ("a " if lang == "es" else "") + parts[1]) if len(parts) == 2 else ("", rest)
        return ReminderRequest("reminder_move", subject=subject.strip(), language=lang, phrase=phrase)
    for language, pattern in _CREATE.items():
        if (found := pattern.match(core)):
            task = find_time(found.group(1), language, now).rest  # the words, whatever the time
            return ReminderRequest("reminder_create", subject=task, language=language if language == "es" else lang,
                                   phrase=found.group(1))
    return None
