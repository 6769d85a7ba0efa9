"""Sending one WhatsApp message through the official `twilio` library.

The REST base URL is configurable (TWILIO_API_BASE_URL), so the same code talks to
Twilio in production and to the local emulator in sandbox mode and tests.
Errors are sorted into transient (worth retrying) and permanent (never retried).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"
LOOKBACK = 50  # messages to one user looked through when reconciling a part whose answer was lost

# Codes that mean "this message to this person will not work, whatever we do".
PERMANENT_CODES = frozenset({
    21211,  # invalid 'To' number
    21408,  # region not enabled
    21602, 21617, 21619,  # body missing / too long / no content
    21610,  # the user unsubscribed (STOP)
    21612, 21614,  # unreachable / not a mobile number
    63003, 63016, 63024, 63032,  # WhatsApp: invalid recipient, outside the 24-hour window, …
})


# Twilio refusing *us*, not the message: wrong or rotated credentials, a suspended account.
CREDENTIAL_CODES = frozenset({20003, 20005})


class SendError(Exception):
    """A send that did not go through. `permanent`: this message will never work.
    `credentials`: Twilio refused our account (HTTP 401, 20003): no message will work until
    an operator fixes it, so the reply must wait rather than fail. `accepted_maybe`: the
    request may have reached Twilio and been accepted (a 5xx or a lost connection)."""

    def __init__(self, message: str, code: int | None, status: int | None, permanent: bool,
                 credentials: bool = False, accepted_maybe: bool = False):
        super().__init__(message)
        self.code = code
        self.status = status
        self.permanent = permanent
        self.credentials = credentials
        self.accepted_maybe = accepted_maybe


class MessageSender(Protocol):
    """What outbound needs from Twilio: send one WhatsApp message (`TwilioMessages` in production)."""

    async def send(self, from_: str, to: str, body: str, status_callback: str | None) -> str:
        """Send; returns the Twilio message SID or raises `SendError`."""
        ...

    async def find_sent(self, from_: str, to: str, body: str, since: datetime) -> str | None:
        """The SID of a message Twilio accepted from `from_` to `to` with exactly `body`,
        created at or after `since`; None if there is none. Raises `SendError`."""
        ...


class _RebasedHttpClient(AsyncTwilioHttpClient):
    """The twilio library's own async client, sending to another base URL."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    async def request(self, method, url, *args, **kwargs) -> Response:  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        # The library's async client ignores its own `timeout` (only a per-request one reaches
        # aiohttp, whose default is 5 minutes): without this a hung Twilio request held a
        # reply until the handler's deadline. Seen in the chaos suite.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout  # aiohttp makes it ClientTimeout(total=...)
        return await super().request(method, url, *args, **kwargs)


@dataclass
class TwilioMessages:
    """`send()` one message; `close()` the HTTP session."""

    account_sid: str
    auth_token: str
    base_url: str = TWILIO_API
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        self._http = _RebasedHttpClient(self.base_url, self.timeout_s)
        self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
        # The library imports the Messages API lazily, on first use: about 2 s on a busy
        # 2-core machine, which made the first reply (or a reminder) that much late. Pay it here.
        self._messages = self._client.messages

    async def send(self, from_: str, to: str, body: str, status_callback: str | None) -> str:
        """Send; returns the Twilio message SID or raises `SendError`."""
        return await self._create(from_=_whatsapp(from_), to=_whatsapp(to), body=body,
                                  status_callback=status_callback or None)

    async def send_content(self, from_: str, to: str, content_sid: str, variables: dict[str, str],
                           status_callback: str | None) -> str:
        """Send an approved Content API template (`ContentSid` + `ContentVariables`): the only
        kind of message WhatsApp lets through outside the 24-hour window."""
        return await self._create(from_=_whatsapp(from_), to=_whatsapp(to), content_sid=content_sid,
                                  content_variables=json.dumps(variables, ensure_ascii=False),
                                  status_callback=status_callback or None)

    async def _create(self, **params: Any) -> str:
        try:
            message = await self._messages.create_async(**params)
        except TwilioRestException as exc:
            credentials = exc.status == 401 or exc.code in CREDENTIAL_CODES
            transient = exc.status == 429 or exc.status >= 500 or exc.code == 20429
            permanent = not (transient or credentials) and (exc.code in PERMANENT_CODES or exc.status in (400, 404))
            raise SendError(exc.msg, exc.code, exc.status, permanent, credentials, accepted_maybe=exc.status >= 500) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", None, None, permanent=False, accepted_maybe=True) from exc
        return message.sid

    async def find_sent(self, from_: str, to: str, body: str, since: datetime) -> str | None:
        """Twilio's Messages list for this pair, newest first (one page of `LOOKBACK`): a send
        whose answer was lost shows up there, with its SID."""
        try:
            found = await self._client.messages.list_async(
                from_=_whatsapp(from_), to=_whatsapp(to), limit=LOOKBACK, page_size=LOOKBACK,
            )
        except TwilioRestException as exc:
            credentials = exc.status == 401 or exc.code in CREDENTIAL_CODES
            raise SendError(exc.msg, exc.code, exc.status, permanent=False, credentials=credentials) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", None, None, permanent=False) from exc
        for message in found:  # newest first: the latest copy of this body wins
            created = message.date_created
            if message.body == body and created is not None and created >= since:
                return message.sid
        return None

    async def close(self) -> None:
        if self._http.session is not None:
            await self._http.session.close()


def _whatsapp(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"
