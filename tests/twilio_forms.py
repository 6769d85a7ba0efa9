"""Building Twilio webhook requests the way Twilio does: form fields plus a signature."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

USER = "whatsapp:+34600111222"
BUSINESS = "whatsapp:+14155238886"
_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def inbound_form(body: str = "hello", *, sid: str | None = None, user: str = USER, business: str = BUSINESS,
                 media: list[tuple[str, str]] = (), **extra: str) -> dict[str, str]:
    form = {
        "MessageSid": sid or new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": user,
        "To": business,
        "Body": body,
        "ProfileName": "Ana",
        "WaId": user.split("+")[-1],
        "NumMedia": str(len(media)),
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    form.update(extra)
    return form


def status_form(sid: str, status: str, *, user: str = USER, business: str = BUSINESS, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "From": business, "To": user, **extra}


def signed(token: str, url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook Twilio would send to `url`."""
    signature = RequestValidator(token).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    return urlencode(form).encode(), headers
