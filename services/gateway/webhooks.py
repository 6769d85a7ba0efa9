"""Turning Twilio's webhook forms into events. Pure functions: no I/O.

The rules, in the order they are checked (the first that fails is the 400's message):

1. Required fields are present and not blank.
2. `MessageSid` is 2–64 ASCII letters and digits (Twilio's are `SM`/`MM` + 32 hex).
3. `From` and `To` are `<channel>:+<E.164 digits>` for an allowed channel (default
   `whatsapp`): a `+`, a non-zero digit, 7 to 15 digits in all.
4. Text fields are cleaned, then measured: NUL and the other C0 control characters
   except newline and tab are removed from `Body` and `ProfileName`. A `Body` still
   longer than 4,096 characters (WhatsApp's own limit, so no real message is) is
   refused; a `ProfileName` longer than 256 characters is cut to 256 (it is only a
   display name).
5. `NumMedia` is 0–10 written in ASCII digits, with a `MediaUrlN` for each item.
6. Status callbacks: `MessageStatus` is a known status; `ErrorCode`, when present and
   not blank, is ASCII digits with a value below 2^31 (audit keeps it in an INTEGER
   column). Anything else is refused rather than clamped: Twilio sends small codes,
   so a different one means the form did not come from Twilio as it is.
"""

from __future__ import annotations

import re
import typing

from pydantic import ValidationError

from services.gateway.signature import FormParams
from shared.events import (
    DeliveryStatus,
    DeliveryStatusChanged,
    DeliveryStatusChangedData,
    Media,
    MessageReceived,
    MessageReceivedData,
    utcnow,
)
from shared.ids import conversation_id

MAX_MEDIA = 10  # Twilio sends at most ten media items per message
MAX_BODY_CHARS = 4096  # WhatsApp's limit on a message's text
MAX_PROFILE_NAME_CHARS = 256
MAX_ERROR_CODE = 2**31 - 1
KNOWN_STATUSES = frozenset(typing.get_args(DeliveryStatus))

_SID_RE = re.compile(r"[A-Za-z0-9]{2,64}")
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
# C0 controls (U+0000–U+001F) other than tab (U+0009) and newline (U+000A).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f]")


class BadWebhook(ValueError):
    """The form is signed but not a webhook we can record; the message says why."""


def clean_text(value: str) -> str:
    """Remove C0 control characters except newline and tab."""
    return _CONTROL_RE.sub("", value)


def _required(params: FormParams, *names: str) -> dict[str, str]:
    missing = [name for name in names if not (params.first(name) or "").strip()]
    if missing:
        raise BadWebhook(f"missing required field(s): {', '.join(missing)}")
    return {name: params.first(name).strip() for name in names}  # type: ignore[union-attr]


def _sid(value: str, name: str = "MessageSid") -> str:
    if not _SID_RE.fullmatch(value):
        raise BadWebhook(f"{name} must be 2 to 64 letters and digits")
    return value


def phone_address(value: str, name: str, channels: tuple[str, ...]) -> str:
    """`whatsapp:+34600111222` → `+34600111222`; anything else is a BadWebhook."""
    channel, sep, number = value.partition(":")
    if not sep or channel.lower() not in channels or not _E164_RE.fullmatch(number):
        allowed = " or ".join(f"{c}:+<digits>" for c in channels)
        raise BadWebhook(f"{name} must look like {allowed} (an E.164 number)")
    return number


def _count(raw: str, name: str, high: int) -> int:
    if not _DIGITS_RE.fullmatch(raw) or int(raw) > high:
        raise BadWebhook(f"{name} must be a whole number from 0 to {high}, got {raw[:20]!r}")
    return int(raw)


def _media(params: FormParams) -> tuple[Media, ...]:
    count = _count((params.first("NumMedia") or "0").strip(), "NumMedia", MAX_MEDIA)
    items = []
    for index in range(count):
        url = params.first(f"MediaUrl{index}")
        content_type = params.first(f"MediaContentType{index}") or "application/octet-stream"
        if not url:
            raise BadWebhook(f"NumMedia is {count} but MediaUrl{index} is missing")
        items.append(Media(url=url, content_type=content_type))
    return tuple(items)


def message_received(params: FormParams, channels: tuple[str, ...] = ("whatsapp",)) -> MessageReceived:
    """The inbound message webhook: who wrote to which number, what, with which media."""
    fields = _required(params, "MessageSid", "From", "To")
    sid = _sid(fields["MessageSid"])
    user = phone_address(fields["From"], "From", channels)
    business = phone_address(fields["To"], "To", channels)
    body = clean_text(params.first("Body") or "")
    if len(body) > MAX_BODY_CHARS:
        raise BadWebhook(f"Body is longer than {MAX_BODY_CHARS} characters")
    profile_name = clean_text(params.first("ProfileName") or "")[:MAX_PROFILE_NAME_CHARS]
    try:
        data = MessageReceivedData(
            message_sid=sid,
            from_=user,
            to=business,
            profile_name=profile_name or None,
            wa_id=params.first("WaId") or None,
            body=body,
            media=_media(params),
            received_at=utcnow(),
        )
    except ValidationError as exc:
        raise BadWebhook(str(exc)) from None
    return MessageReceived(conversation=conversation_id(business, user), data=data)


def delivery_status_changed(params: FormParams, channels: tuple[str, ...] = ("whatsapp",)) -> DeliveryStatusChanged:
    """A status callback about a message we sent: From is our number, To the user."""
    fields = _required(params, "MessageSid", "MessageStatus", "From", "To")
    sid = _sid(fields["MessageSid"])
    status = fields["MessageStatus"].lower()
    if status not in KNOWN_STATUSES:
        raise BadWebhook(f"unknown MessageStatus {fields['MessageStatus'][:40]!r}")
    raw_code = (params.first("ErrorCode") or "").strip()
    error_code = _count(raw_code, "ErrorCode", MAX_ERROR_CODE) if raw_code else None
    business = phone_address(fields["From"], "From", channels)
    user = phone_address(fields["To"], "To", channels)
    data = DeliveryStatusChangedData(
        twilio_sid=sid,
        status=status,  # type: ignore[arg-type]
        error_code=error_code,
        from_=business,
        to=user,
        reported_at=utcnow(),
    )
    return DeliveryStatusChanged(conversation=conversation_id(business, user), data=data)
