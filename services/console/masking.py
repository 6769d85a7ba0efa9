"""What an operator without the right to see personal data is shown instead of it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.ids import normalise_address

_DIGITS = re.compile(r"\D")


def mask_number(number: str | None) -> str:
    """`+15550001111` becomes `+1••••••••11`: enough to tell two users apart on a page."""
    if not number:
        return "—"
    digits = _DIGITS.sub("", normalise_address(number))
    if len(digits) < 4:
        return "•••"
    return f"+{digits[0]}{'•' * (len(digits) - 3)}{digits[-2:]}"


def mask_body(body: str | None) -> str:
    if not body:
        return ""
    return f"[hidden: {len(body)} characters]"


@dataclass(frozen=True)
class Privacy:
    """Applied to every number and body a page shows."""

    reveal: bool

    def number(self, number: str | None) -> str:
        if self.reveal:
            return normalise_address(number) if number else "—"
        return mask_number(number)

    def body(self, body: str | None) -> str:
        return (body or "") if self.reveal else mask_body(body)
