"""Cleaning text from users, models and tools before it is stored or sent.

Postgres cannot store U+0000 in `text` or `jsonb`, and other control characters are
never meaningful in a WhatsApp message or a calendar entry, so every edge where text
enters the system (transcriber output, agent inputs, model output and tool results,
calendar fields, outbound bodies) passes it through `clean_text`.
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, and C1 controls.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_NEWLINES = re.compile("\r\n?")


def clean_text(text: str, max_len: int | None = None) -> str:
    """`text` without NUL and other C0/C1 control characters (tab and newline stay).

    A carriage return (alone or before a newline) becomes a newline, a lone surrogate
    becomes U+FFFD, and the result is cut to at most `max_len` characters.
    """
    text = _NEWLINES.sub("\n", text)
    text = _CONTROLS.sub("", text)
    text = _SURROGATES.sub("\ufffd", text)
    if max_len is not None and len(text) > max_len:
        text = text[:max_len]
    return text


def is_clean(text: str) -> bool:
    """True if `clean_text` would leave `text` as it is (ignoring length)."""
    return not (_CONTROLS.search(text) or _SURROGATES.search(text) or "\r" in text)
