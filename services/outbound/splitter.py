"""Splitting a reply into WhatsApp messages Twilio accepts (at most 1,600 characters).

Twilio counts UTF-16 code units, so an emoji outside the Basic Multilingual Plane counts
as two. Parts break at a paragraph if one is near the limit, else at a sentence end,
else at whitespace; so never inside a word or a URL (URLs hold no whitespace). Only a
single unbroken token longer than the limit is cut, and never inside a surrogate pair.
"""

from __future__ import annotations

import re

TWILIO_MAX_BODY = 1600

_PARAGRAPH = re.compile(r"\n\s*\n")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SPACE = re.compile(r"\s+")


def twilio_length(text: str) -> int:
    """The length Twilio checks against its limit: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fits(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _best_cut(text: str, limit: int) -> int:
    window = _fits(text, limit)
    # A boundary is only worth taking if it keeps the part at least half full.
    floor = window // 2
    for pattern in (_PARAGRAPH, _LINE, _SENTENCE, _SPACE):
        ends = [m.start() for m in pattern.finditer(text, 0, window + 1) if floor <= m.start() <= window]
        if ends:
            return ends[-1]
    ends = [m.start() for m in _SPACE.finditer(text, 0, window + 1) if 0 < m.start() <= window]
    return ends[-1] if ends else window


def split_message(text: str, limit: int = TWILIO_MAX_BODY) -> list[str]:
    """The parts of `text`, in order, each at most `limit` (Twilio-counted) long."""
    text = text.strip()
    if twilio_length(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while twilio_length(rest) > limit:
        cut = _best_cut(rest, limit)
        part = rest[:cut].rstrip()
        if not part:  # leading whitespace only; cannot happen after strip, but never loop
            cut, part = _fits(rest, limit), rest[: _fits(rest, limit)]
        parts.append(part)
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
