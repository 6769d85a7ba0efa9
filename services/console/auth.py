"""Who is asking: a bearer token, a trusted OIDC proxy's identity header, or (locally) nobody.

- `CONSOLE_AUTH_TOKEN`: `Authorization: Bearer <token>`, or the session cookie that
  `POST /login` sets after the same token is typed into the login form (HttpOnly,
  SameSite=Strict; it holds a hash of the token, never the token).
- `CONSOLE_AUTH_HEADER` (for example `X-Auth-Request-Email` from oauth2-proxy): the
  header names the operator, and counts only on connections from
  `CONSOLE_TRUSTED_PROXIES`, so nobody reaching the pod directly can claim a name.
- Neither (allowed only outside production): everyone is the operator `local`.

State-changing requests also need a CSRF token (`csrf_token`), an HMAC of the operator
under the console's secret, and an `Origin`, when the browser sends one, equal to the
console's own.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from services.console.config import ConsoleSettings

COOKIE = "sb_console"
TOKEN_OPERATOR = "token"
LOCAL_OPERATOR = "local"


class Unauthenticated(Exception):
    """No valid credentials: 401."""


class Forbidden(Exception):
    """Credentials, but a state-changing request failed its CSRF check: 403."""


def session_value(token: str) -> str:
    return hashlib.sha256(f"switchboard-console:{token}".encode()).hexdigest()


@dataclass(frozen=True)
class Authenticator:
    settings: ConsoleSettings
    secret: bytes

    @classmethod
    def build(cls, settings: ConsoleSettings) -> Authenticator:
        secret = (settings.secret or secrets.token_hex(32)).encode()
        return cls(settings, secret)

    @property
    def open(self) -> bool:
        return not (self.settings.auth_token or self.settings.auth_header)

    def operator(self, request: Request) -> str:
        """The operator's name, or Unauthenticated."""
        if self.settings.auth_header and self._from_trusted_proxy(request):
            name = request.headers.get(self.settings.auth_header, "").strip()
            if name:
                return name[:100]
        token = self.settings.auth_token
        if token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                return TOKEN_OPERATOR
            cookie = request.cookies.get(COOKIE, "")
            if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
                return TOKEN_OPERATOR
        if self.open:
            return LOCAL_OPERATOR
        raise Unauthenticated

    def token_matches(self, given: str) -> bool:
        token = self.settings.auth_token
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())  # type: ignore[union-attr]

    def csrf_token(self, operator: str) -> str:
        return hmac.new(self.secret, f"csrf:{operator}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, operator: str, given: str) -> None:
        if not hmac.compare_digest(given.encode(), self.csrf_token(operator).encode()):
            raise Forbidden("the form is stale or came from another site (CSRF token mismatch); reload the page")
        origin = request.headers.get("origin")
        if origin and origin != "null":
            own = f"{request.url.scheme}://{request.url.netloc}"
            forwarded = request.headers.get("x-forwarded-host")
            allowed = {own} | ({f"https://{forwarded}", f"http://{forwarded}"} if forwarded else set())
            if origin not in allowed:
                raise Forbidden(f"cross-origin request from {origin} refused")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Forbidden("cross-site request refused")

    def _from_trusted_proxy(self, request: Request) -> bool:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.settings.proxy_networks())
