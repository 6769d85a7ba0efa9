"""The system prompt: read once from a file, rendered for every model call with the current
date, time and time zone, the user's country (how they write dates) and the summary of
older turns.

It is never stored in the conversation's history, so it cannot pile up or go stale.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from langchain_core.messages import SystemMessage

_CLOCK = re.compile(r"^Current time: (\S+) \(([\w/+\-]+)\)", re.MULTILINE)
_PROFILE = re.compile(r"^User's country: ([A-Z]{2})\b", re.MULTILINE)
MONTH_FIRST = frozenset({"US", "PH", "FM", "MH", "PW"})


def load_prompt(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"the prompt file {path} is empty")
    return text


def system_message(prompt: str, zone: str, summary: str = "", now: datetime | None = None,
                   country: str | None = None) -> SystemMessage:
    """The system message for one model call."""
    current = (now or datetime.now(ZoneInfo(zone))).astimezone(ZoneInfo(zone))
    parts = [
        prompt,
        f"Current time: {current.isoformat(timespec='minutes')} ({zone}), {current:%A %d %B %Y, %H:%M}. "
        "The user's times are in this zone unless they say otherwise.",
    ]
    if country:
        order = "month/day" if country in MONTH_FIRST else "day/month"
        parts.append(f"User's country: {country} (from their phone number); they write numeric dates as {order}.")
    if summary:
        parts.append(summary)
    return SystemMessage("\n\n".join(parts))


def read_clock(text: str) -> tuple[datetime, str] | None:
    """The (now, zone) a system message was rendered with, for models that need them."""
    match = _CLOCK.search(text)
    if not match:
        return None
    return datetime.fromisoformat(match.group(1)), match.group(2)


def read_profile(text: str) -> dict[str, str]:
    """What else a system message says about the user: {"country": "AR"} or {}."""
    match = _PROFILE.search(text)
    return {"country": match.group(1)} if match else {}
