"""Checking `X-Twilio-Signature`: the URL Twilio called, and the HMAC over the form."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)


class FormParams(dict[str, list[str]]):
    """Form fields with every value kept; `getall` is what RequestValidator reads."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None


def public_url(request: Request, public_base_url: str | None, trust_proxy: bool) -> str:
    """The URL Twilio signed: the public base URL plus this request's path and query.

    Behind a proxy that sets `X-Forwarded-Proto`/`X-Forwarded-Host`, those are honoured
    only with TRUST_PROXY, since anyone can send the headers.
    """
    scheme, netloc, prefix = request.url.scheme, request.url.netloc, ""
    if public_base_url:
        base = urlsplit(public_base_url.rstrip("/"))
        scheme, netloc, prefix = base.scheme, base.netloc, base.path
    if trust_proxy:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        netloc = request.headers.get("x-forwarded-host", netloc).split(",")[0].strip()
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{scheme}://{netloc}{prefix}{request.url.path}{query}"


def signature_valid(validator: RequestValidator, request: Request, url: str, params: FormParams) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    return validator.validate(url, params, signature, algorithm=algorithm)
