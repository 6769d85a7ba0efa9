"""`switchboard calendar auth`: authorise Switchboard on a Google account, once.

Runs Google's installed-app OAuth flow (google-auth-oauthlib's `InstalledAppFlow`, local
server strategy) and writes the resulting user token file, which the calendar service
reads through `CALENDAR_GOOGLE_CREDENTIALS` and keeps fresh on its own. The service never
runs this flow itself.

On a headless machine pass `open_browser=False`: the authorisation URL is printed; open it
in a browser that can reach `http://localhost:<port>/` (for example through
`ssh -L <port>:localhost:<port>`), and give a fixed `port`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from services.calendar.google_credentials import CALENDAR_SCOPES, write_private_json

TOKEN_FILE_NAME = "google-calendar-token.json"
PROMPT = "Open this URL in a browser to let Switchboard manage calendar events:\n\n    {url}\n"


class CalendarAuthError(RuntimeError):
    """The flow did not produce a usable, refreshable token."""


def default_token_file() -> Path:
    """Where the token goes unless told: `CALENDAR_GOOGLE_CREDENTIALS`, else under `.switchboard/`."""
    configured = os.environ.get("CALENDAR_GOOGLE_CREDENTIALS")
    if configured:
        return Path(configured)
    return Path(os.environ.get("SWITCHBOARD_HOME", ".switchboard")) / TOKEN_FILE_NAME


def run_calendar_auth(
    client_secrets: Path,
    token_file: Path | None = None,
    *,
    port: int = 0,
    open_browser: bool = True,
    timeout_s: int = 300,
) -> Path:
    """Run the OAuth consent flow once and write the user token file (mode 0600).

    `client_secrets` is the "Desktop app" OAuth client JSON from the Google Cloud console.
    Returns the token file's path. Raises `CalendarAuthError` (with a message for the
    operator) when the flow times out or is refused, or no refresh token came back (the
    service could not renew access without one).
    """
    if not client_secrets.is_file():
        raise CalendarAuthError(f"no OAuth client file at {client_secrets}")
    target = token_file or default_token_file()
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=list(CALENDAR_SCOPES))
        credentials = flow.run_local_server(
            host="localhost", port=port, open_browser=open_browser, timeout_seconds=timeout_s,
            authorization_prompt_message=PROMPT, access_type="offline", prompt="consent",
        )
    except WSGITimeoutError as exc:
        raise CalendarAuthError(f"no answer from the browser within {timeout_s} s") from exc
    except (OAuth2Error, ValueError) as exc:  # consent refused, a bad client file, a rejected code
        raise CalendarAuthError(f"Google did not authorise Switchboard: {exc}") from exc
    if not credentials.refresh_token:
        raise CalendarAuthError("Google returned no refresh token; remove Switchboard's access and try again")
    write_private_json(target, json.dumps({"type": "authorized_user", **json.loads(credentials.to_json())}, indent=2))
    return target
