"""Structured logging that keeps phone numbers and message bodies out of the logs.

Above debug level, fields that carry personal data are dropped, anything that looks
like a phone number is masked, and conversation ids become salted pseudonyms
(`shared.privacy.pseudonymise_conversations`: the same conversation always gets the same
pseudonym, so a log can still be followed, but an erased user's id never appears in a
log). Set LOG_LEVEL=debug to see them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from shared.privacy import LOCAL_SALT, privacy_salt, pseudonymise_conversations

PERSONAL_FIELDS = frozenset(
    {"from", "from_", "to", "body", "text", "profile_name", "wa_id", "phone", "number", "owner", "summary"}
)
_PHONE_RE = re.compile(r"(?<![\w])(\+?\d[\d\s().-]{6,}\d)(?![\w])")


def mask_phone_numbers(text: str) -> str:
    """Replace anything that looks like a phone number with a mask keeping two digits."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        if len(digits) < 7:
            return match.group(1)
        return "+" + "*" * (len(digits) - 2) + digits[-2:]

    return _PHONE_RE.sub(mask, text)


_salt = LOCAL_SALT


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return pseudonymise_conversations(mask_phone_numbers(value), _salt)
    if isinstance(value, dict):
        return {k: ("[redacted]" if k in PERSONAL_FIELDS else _redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v) for v in value)
    return value


def redact_personal_data(_: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if method == "debug":
        return event_dict
    return {
        k: ("[redacted]" if k in PERSONAL_FIELDS else _redact(v)) for k, v in event_dict.items()
    }


def configure_logging(service: str, level: str = "info", fmt: str = "json") -> None:
    """Configure structlog (and the standard library's logging) for one service process."""
    global _salt
    try:
        _salt = privacy_salt()
    except ValueError:  # production without PRIVACY_SALT: the service's own settings refuse to start
        _salt = LOCAL_SALT
    numeric = logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Look sys.stderr up at every call: a stream captured once goes stale when the
        # process (a test runner, a daemon wrapper) swaps it.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(numeric, logging.INFO), stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    # Libraries that log every request at info (the twilio client writes nine lines per
    # message, httpx one per model call): their own warnings still show, and LOG_LEVEL=debug
    # brings the rest back.
    for noisy in ("nats", "uvicorn.access", "twilio", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if numeric <= logging.DEBUG and noisy != "nats"
                                          else logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
