"""Reading dates and times out of what people type: "tomorrow at 3pm", "next Friday 10:30".

Relative days and clock times are parsed here by rule, so the result never depends on
the locale; explicit calendar dates ("June 5", "3rd of July", "2025-06-03") go to
`dateparser`. Every function returns the spans it used, so the caller can take them out
of the text to find what the event is called.

Rules worth knowing: an hour without am/pm from 1 to 7 means the afternoon ("lunch at 1"
is 13:00); "next Friday" and "on Friday" both mean the first Friday after today; "this
Friday" includes today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import dateparser

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WEEKDAY = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|rsday|urday)?"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"

DAY_PATTERNS: list[tuple[str, str]] = [
    (r"\bday after tomorrow\b", "after_tomorrow"),
    (r"\btomorrow\b|\btmrw\b|\btmr\b", "tomorrow"),
    (r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b", "today"),
    (rf"\b(?:next|this|on|coming)?\s*{_WEEKDAY}\b", "weekday"),
    (r"\bin (\d{1,3}) days?\b", "in_days"),
    (rf"\b\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_MONTH}(?: \d{{4}})?\b", "date"),
    (rf"\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b", "date"),
    (r"\b\d{4}-\d{2}-\d{2}\b", "date"),
    (r"\b(?:on )?the \d{1,2}(?:st|nd|rd|th)\b", "date"),
]
TIME_PATTERNS: list[tuple[str, str]] = [
    (r"\b(?:at |@ ?)?(\d{1,2})(?:[:.](\d{2}))? ?([ap])\.?m\.?\b", "ampm"),
    (r"\b(?:at |@ ?)?(\d{1,2})[:h](\d{2})\b", "clock"),
    (r"\b(?:at|@|to|by|from)\s+(\d{1,2})\b(?!\s*(?:days?|hours?|hrs?|minutes?|mins?|people|%))", "bare"),
    (r"\b(?:at )?noon\b|\b(?:at )?midday\b", "noon"),
    (r"\b(?:at )?midnight\b", "midnight"),
]
DURATION = re.compile(
    r"\bfor (?:(an?|one|half an|\d+(?:\.\d+)?) ?(hours?|hrs?|h|minutes?|mins?|m)\b|(half an hour))"
)


@dataclass
class When:
    day: date | None = None
    at: time | None = None
    duration_minutes: int | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)

    def strip(self, text: str) -> str:
        """`text` without the parts that said when."""
        kept, last = [], 0
        for start, end in sorted(self.spans):
            if start >= last:
                kept.append(text[last:start])
                last = end
        kept.append(text[last:])
        return re.sub(r"\s+", " ", " ".join(kept)).strip()


def _day(kind: str, match: re.Match[str], today: date) -> date | None:
    if kind == "tomorrow":
        return today + timedelta(days=1)
    if kind == "after_tomorrow":
        return today + timedelta(days=2)
    if kind == "today":
        return today
    if kind == "in_days":
        return today + timedelta(days=int(match.group(1)))
    if kind == "weekday":
        target = next(i for i, name in enumerate(WEEKDAYS) if name.startswith(match.group(1)[:3]))
        ahead = (target - today.weekday()) % 7
        if ahead == 0 and not match.group(0).strip().startswith("this"):
            ahead = 7
        return today + timedelta(days=ahead)
    found = dateparser.parse(
        match.group(0).removeprefix("on ").strip(), languages=["en"],
        settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": datetime.combine(today, time()),
                  "REQUIRE_PARTS": ["day"]},
    )
    return found.date() if found else None


def _time(kind: str, match: re.Match[str]) -> time | None:
    if kind == "noon":
        return time(12, 0)
    if kind == "midnight":
        return time(0, 0)
    hour = int(match.group(1))
    minute = int(match.group(2)) if kind in ("ampm", "clock") and match.group(2) else 0
    if kind == "ampm":
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(3) == "p" else 0)
    elif kind == "bare" and 1 <= hour <= 7:
        hour += 12  # "lunch at 1", "move it to 2": people mean the afternoon
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_when(text: str, today: date) -> When:
    """Find a day, a time of day and a duration in `text` (lower-case it first)."""
    when = When()
    for pattern, kind in DAY_PATTERNS:
        match = re.search(pattern, text)
        if match and (day := _day(kind, match, today)) is not None:
            when.day = day
            when.spans.append(match.span())
            break
    for pattern, kind in TIME_PATTERNS:
        match = re.search(pattern, text)
        if match and not _inside(match.span(), when.spans) and (at := _time(kind, match)) is not None:
            when.at = at
            when.spans.append(match.span())
            break
    duration = DURATION.search(text)
    if duration:
        when.duration_minutes = _minutes(duration)
        when.spans.append(duration.span())
    return when


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


def _minutes(match: re.Match[str]) -> int:
    if match.group(3):
        return 30
    amount, unit = match.group(1), match.group(2)
    value = {"a": 1.0, "an": 1.0, "one": 1.0, "half an": 0.5}.get(amount) or float(amount)
    return max(1, round(value * (60 if unit.startswith("h") else 1)))
