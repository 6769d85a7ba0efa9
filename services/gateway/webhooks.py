"""Turning Twilio's webhook forms into events. Pure functions: no I/O."""

from __future__ import annotations

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
from shared.ids import conversation_id, normalise_address

MAX_MEDIA = 10  # Twilio sends at most ten media items per message
KNOWN_STATUSES = frozenset(typing.get_args(DeliveryStatus))


class BadWebhook(ValueError):
    """The form is signed but not a webhook we can record; the message says why."""


def _required(params: FormParams, *names: str) -> dict[str, str]:
    missing = [name for name in names if not (params.first(name) or "").strip()]
    if missing:
        raise BadWebhook(f"missing required field(s): {', '.join(missing)}")
    return {name: params.first(name).strip() for name in names}  # type: ignore[union-attr]


def _media(params: FormParams) -> tuple[Media, ...]:
    raw = params.first("NumMedia") or "0"
    try:
        count = int(raw)
    except ValueError:
        raise BadWebhook(f"NumMedia must be a number, got {raw!r}") from None
    if not 0 <= count <= MAX_MEDIA:
        raise BadWebhook(f"NumMedia must be between 0 and {MAX_MEDIA}, got {count}")
    items = []
    for index in range(count):
        url = params.first(f"MediaUrl{index}")
        content_type = params.first(f"MediaContentType{index}") or "application/octet-stream"
        if not url:
            raise BadWebhook(f"NumMedia is {count} but MediaUrl{index} is missing")
        items.append(Media(url=url, content_type=content_type))
    return tuple(items)


def message_received(params: FormParams) -> MessageReceived:
    """The inbound message webhook: who wrote to which number, what, with which media."""
    fields = _required(params, "MessageSid", "From", "To")
    user, business = normalise_address(fields["From"]), normalise_address(fields["To"])
    try:
        data = MessageReceivedData(
            message_sid=fields["MessageSid"],
            from_=user,
            to=business,
            profile_name=params.first("ProfileName") or None,
            wa_id=params.first("WaId") or None,
            body=params.first("Body") or "",
            media=_media(params),
            received_at=utcnow(),
        )
    except ValidationError as exc:
        raise BadWebhook(str(exc)) from None
    return MessageReceived(conversation=conversation_id(business, user), data=data)


def delivery_status_changed(params: FormParams) -> DeliveryStatusChanged:
    """A status callback about a message we sent: From is our number, To the user."""
    fields = _required(params, "MessageSid", "MessageStatus", "From", "To")
    status = fields["MessageStatus"].lower()
    if status not in KNOWN_STATUSES:
        raise BadWebhook(f"unknown MessageStatus {fields['MessageStatus']!r}")
    raw_code = params.first("ErrorCode")
    try:
        error_code = int(raw_code) if raw_code else None
    except ValueError:
        raise BadWebhook(f"ErrorCode must be a number, got {raw_code!r}") from None
    business, user = normalise_address(fields["From"]), normalise_address(fields["To"])
    data = DeliveryStatusChangedData(
        twilio_sid=fields["MessageSid"],
        status=status,  # type: ignore[arg-type]
        error_code=error_code,
        from_=business,
        to=user,
        reported_at=utcnow(),
    )
    return DeliveryStatusChanged(conversation=conversation_id(business, user), data=data)
