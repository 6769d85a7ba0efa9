"""When a reminder is for, from what people type in English or Spanish.

Relative times ("in 10 minutes", "en 2 horas") go to `dateparser` with the user's local
time as its base. Days and clock times go through the same rules as calendar requests
(`when.parse_when`, then `times.start_of`: "tomorrow at 9", "on friday at 9am", an hour
without am/pm the next sensible daytime one, "at 5" meaning 17:00), because
`dateparser` reads a bare "at 9" as the ninth of the month; Spanish day and time words
are put into English first ("mañana a las 9" → "tomorrow at 9"). Both return the spans
they used, so what is left is what to remember.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import dateparser

from services.agent.offline.times import start_of
from services.agent.offline.when import parse_when
from services.agent.offline.words import fold

_RELATIVE = {
    "en": re.compile(r"\bin (\d+|an?|one|half an) ?(seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?)\b"),
    "es": re.compile(r"\b(?:en|dentro de) (\d+|una?|media) ?(segundos?|minutos?|horas?|d[ií]as?|semanas?)\b"),
}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPANISH_UNITS = {"segundo": "s", "minuto": "m", "hora": "h", "dia": "d", "día": "d", "semana": "w"}
_AMOUNTS = {"a": 1.0, "an": 1.0, "one": 1.0, "half an": 0.5, "un": 1.0, "una": 1.0, "media": 0.5}

# Spanish day and time words into the English that `parse_when` reads; order matters.
_SPANISH: list[tuple[str, Any]] = [
    (r"\b(\d{1,2})(?::(\d{2}))? de la (?:mañana|madrugada)\b", lambda m: f"{m.group(1)}:{m.group(2) or '00'}am"),
    (r"\b(\d{1,2})(?::(\d{2}))? de la (?:tarde|noche)\b", lambda m: f"{m.group(1)}:{m.group(2) or '00'}pm"),
    (r"\bpasado mañana\b", "day after tomorrow"),
    (r"\bmañana\b", "tomorrow"),
    (r"\b(?:hoy|esta tarde|esta noche)\b", "today"),
    (r"\b(?:a las|a la|sobre las) (\d{1,2}(?::\d{2})?(?:am|pm)?)\b", r"at \1"),
    (r"\b(?:al mediod[ií]a)\b", "at noon"),
    (r"\b(?:a medianoche)\b", "at midnight"),
    (r"\b(?:el )?(?:pr[oó]ximo )?lunes\b", "on monday"), (r"\b(?:el )?(?:pr[oó]ximo )?martes\b", "on tuesday"),
    (r"\b(?:el )?(?:pr[oó]ximo )?mi[eé]rcoles\b", "on wednesday"), (r"\b(?:el )?(?:pr[oó]ximo )?jueves\b", "on thursday"),
    (r"\b(?:el )?(?:pr[oó]ximo )?viernes\b", "on friday"), (r"\b(?:el )?(?:pr[oó]ximo )?s[aá]bado\b", "on saturday"),
    (r"\b(?:el )?(?:pr[oó]ximo )?domingo\b", "on sunday"),
]


@dataclass(frozen=True)
class Found:
    at: datetime | None  # local, naive; None: no time was said
    rest: str  # the text without the time
    in_seconds: int | None = None  # said as "in 10 minutes": from the moment it is set, not from `now`
    has_day: bool = False  # a day was said, not only a time of day


def english(text: str, language: str) -> str:
    if language != "es":
        return text
    for pattern, replacement in _SPANISH:
        text = re.sub(pattern, replacement, text)  # type: ignore[call-overload]
    return text


def find_time(text: str, language: str, now: datetime) -> Found:
    """The time `text` names (local, after `now`'s day rules) and the text without it."""
    base = now.replace(tzinfo=None, microsecond=0)
    relative = _RELATIVE["es" if language == "es" else "en"].search(text)
    if relative:
        due = _relative(relative.group(0), relative.group(1), relative.group(2), language, base)
        rest = (text[: relative.start()] + " " + text[relative.end():]).strip()
        return Found(due, _tidy(rest), round((due - base).total_seconds()))
    translated = english(text, language)
    when = parse_when(fold(translated), base)  # folded: the same length, so its spans fit `translated`
    if when.day is None and when.at is None:
        return Found(None, _tidy(text))
    at = start_of(when, base) if when.at is not None else datetime.combine(when.day, time(9, 0))  # type: ignore[arg-type]
    return Found(at, _tidy(when.strip(translated)), has_day=when.day is not None)


def _relative(phrase: str, amount: str, unit: str, language: str, base: datetime) -> datetime:
    found = dateparser.parse(phrase, languages=[language if language in ("en", "es") else "en"],
                             settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"})
    if found is not None and found > base:
        return found
    key = _SPANISH_UNITS.get(unit.rstrip("s"), unit[0]) if language == "es" else unit[0]
    value = _AMOUNTS.get(amount) or float(amount)
    return base + timedelta(seconds=value * _UNIT_SECONDS.get(key, 60))


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,.!?")
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"^(?:to|that|about|of|que|de|a)\s+|\s+(?:on|at|el|a las|a|the|para)$", "", text).strip(" ,.!?")
    return text


def clock(text: str, side: str) -> time | None:
    """A time of day in "after 10pm" / "before 8" / "después de las 22"; without am/pm,
    after means the evening and before the morning."""
    match = re.search(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|de la (?:mañana|tarde|noche))?", text)
    if not match:
        return None
    hour, minute, suffix = int(match.group(1)), int(match.group(2) or 0), match.group(3) or ""
    if hour > 23 or minute > 59:
        return None
    if suffix.startswith(("p", "de la tarde", "de la noche")) and hour < 12:
        hour += 12
    elif suffix.startswith(("a", "de la mañana")) and hour == 12:
        hour = 0
    elif not suffix and side == "start" and 1 <= hour < 12:
        hour += 12
    return time(hour, minute)
