"""What the offline model says about reminders, in English or Spanish (the words are the
`reminder_*` entries of `render.WORDS`)."""

from __future__ import annotations

from services.agent.offline.render import say


def _t(key: str, language: str, **values: object) -> str:
    return say(language, f"reminder_{key}", **values)


def created(item: dict, language: str) -> str:
    if item.get("event_id") and item.get("minutes_before"):
        return _t("created_event", language, text=item["text"], minutes=item["minutes_before"], when=item["when"])
    return _t("created", language, text=item["text"], when=item["when"])


def ask_what(language: str) -> str:
    return _t("ask_what", language)


def ask_when(text: str, language: str) -> str:
    return _t("ask_when", language, text=text)


def in_past(language: str) -> str:
    return _t("in_past", language)


def listing(items: list[dict], language: str) -> str:
    if not items:
        return _t("none", language)
    return _t("list", language) + "\n" + "\n".join(f"• {i['when']} — {i['text']}" for i in items)


def none_found(language: str) -> str:
    return _t("not_found", language)


def which(items: list[dict], language: str) -> str:
    return _t("which", language) + "\n" + "\n".join(f"• {i['when']} — {i['text']}" for i in items)


def changed(data: dict, action: str, language: str) -> str:
    item = data.get("cancelled") or data.get("moved") or {}
    return _t("cancelled" if action == "cancel" else "moved", language, text=item.get("text", ""), when=item.get("when", ""))


def which_event(events: list[dict], language: str) -> str:
    if not events:
        return _t("which_event", language)
    return _t("which", language) + "\n" + "\n".join(f"• {e['when']} — {e['summary']}" for e in events)


def failed(error: str, language: str) -> str:
    return _t("failed", language, error=error.removeprefix("Error: "))


def ask_quiet(language: str) -> str:
    return _t("ask_quiet", language)


def preferences(prefs: dict, language: str) -> str:
    parts = []
    if prefs.get("quiet_start") and prefs.get("quiet_end"):
        parts.append(_t("quiet", language, start=prefs["quiet_start"], end=prefs["quiet_end"]))
    else:
        parts.append(_t("quiet_off", language))
    if prefs.get("default_minutes_before"):
        parts.append(_t("default", language, minutes=prefs["default_minutes_before"]))
    return " ".join(parts)
