"""Answers to the offline model's own questions ("what time?", "which one?", "are you sure?").

When it asks, the model stores what it is waiting for (`pending`) on its answer message,
in the conversation's checkpoint, so the next message is read as the answer even after a
restart or on another replica. A message that is clearly a new request drops the question.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, time
from typing import Any

from services.agent.offline.intents import NO, YES, Intent, classify
from services.agent.offline.reminder_time import find_time
from services.agent.offline.when import When
from services.agent.offline.words import fold
from services.reminders.optout import opt_keyword

_NEW_REQUEST = {"cancel", "cancel_all", "move", "zone", "language", "help", "time", "list", "free", "check", "thanks"}
_ORDINALS = {"first": 1, "primero": 1, "primer": 1, "primera": 1, "1st": 1, "second": 2, "segundo": 2, "segunda": 2,
             "2nd": 2, "third": 3, "tercero": 3, "tercera": 3, "3rd": 3, "fourth": 4, "cuarto": 4, "cuarta": 4,
             "last": -1, "ultimo": -1, "ultima": -1}


def when_to_dict(when: When) -> dict[str, Any]:
    return {"day": when.day.isoformat() if when.day else None, "at": when.at.isoformat() if when.at else None,
            "until": when.until.isoformat() if when.until else None, "bare": when.bare,
            "duration_minutes": when.duration_minutes, "all_day": when.all_day, "recurrence": when.recurrence,
            "period": when.period, "birthday": when.birthday, "yearly": when.yearly, "explicit_date": when.explicit_date,
            "moment": when.moment.isoformat() if when.moment else None}


def when_from_dict(data: dict[str, Any]) -> When:
    return When(day=date.fromisoformat(data["day"]) if data.get("day") else None,
                at=time.fromisoformat(data["at"]) if data.get("at") else None,
                until=time.fromisoformat(data["until"]) if data.get("until") else None,
                bare=bool(data.get("bare")), duration_minutes=data.get("duration_minutes"),
                all_day=bool(data.get("all_day")), recurrence=data.get("recurrence"), period=data.get("period"),
                birthday=bool(data.get("birthday")), yearly=bool(data.get("yearly")), explicit_date=bool(data.get("explicit_date")),
                moment=datetime.fromisoformat(data["moment"]) if data.get("moment") else None)


def merge(stored: When, new: When) -> When:
    """The stored request completed with what the answer says."""
    merged = When(**{**vars(stored), "spans": []})
    if new.moment:
        merged.moment, merged.day, merged.at, merged.bare = new.moment, new.day, new.at, False
    if new.day:
        merged.day, merged.explicit_date = new.day, new.explicit_date
    if new.at:
        merged.at, merged.bare, merged.until = new.at, new.bare, new.until
    for name in ("duration_minutes", "recurrence", "period"):
        if getattr(new, name):
            setattr(merged, name, getattr(new, name))
    merged.all_day = merged.all_day or new.all_day
    return merged


def answer(pending: dict[str, Any] | None, message: str, now: datetime, order: str) -> Intent | None:
    """The request `message` completes, if it answers `pending`; None if it is something else."""
    if not pending or opt_keyword(message) is not None:  # STOP / START never answer a question
        return None
    folded = fold(message).strip(" .!?¡¿")
    kind = pending.get("kind")
    if kind == "confirm":
        if YES.match(folded):
            return Intent("do", folded, calls=list(pending.get("calls", [])), language=pending.get("language"))
        if NO.match(folded):
            return Intent("declined", folded)
        return None
    if kind == "which":
        if NO.match(folded):
            return Intent("declined", folded)
        chosen = choose(pending.get("events", []), folded, now, order)
        if not chosen:
            return None
        target = when_from_dict(pending["target"]) if pending.get("target") else None
        return Intent(pending["action"], folded, target=target, events=chosen)
    intent = classify(message, now, order)
    if intent.kind in _NEW_REQUEST or intent.kind.startswith(("reminder_", "opt_")):
        return None
    if kind == "reminder_when":  # "remind me to buy milk" … "tomorrow at 9"
        phrase, language = message.strip(" .!?¡¿"), pending.get("language") or "en"
        if find_time(phrase.lower(), language, now).at is None:
            return None
        return Intent("reminder_create", folded, subject=pending.get("text", ""), phrase=phrase.lower(), language=language)
    stored = when_from_dict(pending.get("when") or {})
    if kind == "create_time" and (intent.when.anything or intent.when.at):
        subject = pending.get("subject", "")
        if intent.kind == "create" and intent.subject and not _similar(intent.subject, subject):
            return None
        return Intent("create", folded, merge(stored, intent.when), subject)
    untimed = intent.kind == "freeform" or intent.kind == "create" and not intent.when.anything
    if kind == "create_title" and untimed and re.search(r"[^\W\d_]{2}", message):
        title = message.strip(" .!?¡¿")
        return Intent("create", folded, stored, title[:1].upper() + title[1:])
    if kind == "move_when" and intent.when.anything:
        return Intent("move", folded, target=intent.when, events=[pending["event"]])
    return None


def _similar(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, fold(a), fold(b)).ratio() > 0.7 or fold(a) in fold(b) or fold(b) in fold(a)


def choose(events: list[dict], folded: str, now: datetime, order: str) -> list[dict]:
    """The events of a numbered list the answer picks: "2", "the first", "both", "el del viernes", a name."""
    if not events:
        return []
    if re.search(r"\b(?:both|all|all of them|todos|todas|los dos|las dos|ambos)\b", folded):
        return events
    if m := re.search(r"\b(\d{1,2})\b", folded):
        if len(folded) <= 12 and 1 <= int(m.group(1)) <= len(events):
            return [events[int(m.group(1)) - 1]]
    for word, index in _ORDINALS.items():
        if re.search(rf"\b{word}\b", folded):
            return [events[index if index < 0 else index - 1]] if abs(index) <= len(events) else []
    when = classify(folded, now, order).when
    if when.day or when.at:
        picked = [e for e in events if _at(e, when)]
        if len(picked) == 1:
            return picked
    scored = sorted(((difflib.SequenceMatcher(None, fold(e.get("summary", "")), folded).ratio(), i)
                     for i, e in enumerate(events)), reverse=True)
    if scored and scored[0][0] > 0.6 and (len(scored) == 1 or scored[0][0] - scored[1][0] > 0.1):
        return [events[scored[0][1]]]
    return []


def _at(event: dict, when: When) -> bool:
    try:
        start = datetime.fromisoformat(event["start"])
    except (KeyError, ValueError):
        return False
    if when.day and start.date() != when.day:
        return False
    if when.at and start.time() not in (when.at, time((when.at.hour + 12) % 24, when.at.minute)):
        return False
    return True
