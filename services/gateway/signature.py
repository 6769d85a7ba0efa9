"""Checking `X-Twilio-Signature`: the form as signed, the URL Twilio called, the HMAC.

Twilio signs the URL followed by every (key, value) pair, sorted and concatenated with
no separators, and the same value twice counts once. So a form with a repeated key
can carry a different first value under the same signature; `parse_form` keeps every
value so the caller can refuse repeated keys (see `FormParams.repeated`).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from twilio.request_validator import RequestValidator, get_signature_algorithm

from services.gateway.config import Network

MAX_FIELDS = 200  # Twilio sends about 40 fields with ten media items
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class MalformedForm(ValueError):
    """The body is not a form we can read exactly as it was signed."""


class FormParams(dict[str, list[str]]):
    """Form fields with every value kept; `getall` is what RequestValidator reads."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None

    def repeated(self) -> list[str]:
        return sorted(name for name, values in self.items() if len(values) > 1)


def parse_form(body: bytes) -> FormParams:
    """Decode `application/x-www-form-urlencoded` strictly: bad UTF-8 is an error, not U+FFFD.

    Replacing bad bytes would let two different bodies read the same, so what the
    gateway stores might not be what was signed.
    """
    params = FormParams()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise MalformedForm("the form is not valid UTF-8") from None
    except ValueError:
        raise MalformedForm(f"the form has more than {MAX_FIELDS} fields") from None
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


class SignedUrl:
    """The URL Twilio signed: PUBLIC_BASE_URL plus this request's path and query.

    With TRUST_PROXY, `X-Forwarded-Proto`/`X-Forwarded-Host` replace the scheme and host,
    but only on connections from TRUSTED_PROXIES: anyone can send those headers.
    """

    def __init__(self, public_base_url: str | None, trust_proxy: bool, proxies: tuple[Network, ...]):
        self.base: tuple[str, str, str] | None = None
        if public_base_url:
            parts = urlsplit(public_base_url.rstrip("/"))
            self.base = (parts.scheme, parts.netloc, parts.path)
        self.trust_proxy, self.proxies = trust_proxy, proxies

    def __call__(self, request: Request) -> str:
        scope = request.scope
        query = scope.get("query_string", b"").decode("latin-1")
        tail = scope["path"] + (f"?{query}" if query else "")
        if self.base is not None:
            scheme, netloc, prefix = self.base
        else:
            scheme, netloc, prefix = request.url.scheme, request.url.netloc, ""
        if self.trust_proxy and self._from_proxy(scope.get("client")):
            forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
            forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
            if forwarded_proto in ("http", "https"):
                scheme = forwarded_proto
            if forwarded_host and _HOST_RE.fullmatch(forwarded_host):
                netloc = forwarded_host
        return f"{scheme}://{netloc}{prefix}{tail}"

    def _from_proxy(self, client: tuple[str, int] | None) -> bool:
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


class SignatureCheck:
    """`X-Twilio-Signature` against the form, one HMAC on the common path.

    Twilio's `RequestValidator.validate` always computes two HMACs (the URL with and
    without its default port). We compute the one for the URL as configured first and
    fall back to `validate`, which accepts and rejects exactly what it always did, only
    when that does not match or when another algorithm is asked for.
    """

    def __init__(self, auth_token: str):
        self.validator = RequestValidator(auth_token)

    def valid(self, url: str, params: FormParams, signature: str | None, settings_header: str | None) -> bool:
        if not signature:
            return False
        if settings_header is None:
            expected = self.validator.compute_signature(url, params)
            # Bytes, so a non-ASCII header is a mismatch rather than a TypeError.
            if hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
                return True
        algorithm = get_signature_algorithm(settings_header)
        return self.validator.validate(url, params, signature, algorithm=algorithm)
