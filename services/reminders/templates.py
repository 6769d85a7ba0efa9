"""Content API templates per purpose and language (`REMINDER_TEMPLATES`), and reminder texts."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from services.reminders.model import Reminder

PURPOSE = "reminder"
FREEFORM = {"en": "⏰ Reminder: {text}", "es": "⏰ Recordatorio: {text}"}


def parse_templates(raw: str | dict | None) -> dict[str, dict[str, str]]:
    """`{"reminder": {"en": "HX…", "es": "HX…"}}` from JSON; ValueError with the reason otherwise."""
    if not raw:
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict) or not all(
        isinstance(langs, dict) and all(isinstance(k, str) and isinstance(v, str) and v.startswith("HX")
                                        for k, v in langs.items())
        for langs in value.values()
    ):
        raise ValueError('REMINDER_TEMPLATES must look like {"reminder": {"en": "HX...", "es": "HX..."}}')
    return value


def template_for(templates: dict[str, dict[str, str]], language: str, purpose: str = PURPOSE) -> str | None:
    """The ContentSid for this purpose and language; None when none is configured (never a guess
    in another language: a template is approved for its language)."""
    return templates.get(purpose, {}).get(language)


def freeform_text(reminder: Reminder) -> str:
    return FREEFORM.get(reminder.language, FREEFORM["en"]).format(text=reminder.text)


def template_variables(reminder: Reminder) -> dict[str, str]:
    """{{1}}: what to remember; {{2}}: when it was due, the user's local time."""
    local = reminder.due_at.astimezone(ZoneInfo(reminder.time_zone))
    return {"1": reminder.text, "2": f"{local:%H:%M}"}


def due_local(reminder: Reminder) -> datetime:
    return reminder.due_at.astimezone(ZoneInfo(reminder.time_zone))
