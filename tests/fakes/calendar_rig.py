"""The calendar service in-process for tests: real NATS, real Postgres, local or Google backend.

`calendar_rig(bus, database_url, backend, tmp_path)` migrates, builds the service through
the composition root (`services.calendar.bootstrap`), starts the `calendar` micro service
on the test's nats-server and yields a `Rig` with a client. For the Google backend the
real client library talks to `FakeGoogleCalendar` through `api_endpoint`, with an OAuth
user token file whose refreshes go to the fake's token endpoint.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator

from services.calendar.bootstrap import build_backends, build_service
from services.calendar.config import CalendarSettings
from services.calendar.migrations import migrate
from services.calendar.service import CalendarService
from shared.bus import Bus
from shared.calendar import CalendarClient
from shared.ids import conversation_id
from tests.fakes.google_calendar import FakeGoogleCalendar

BUSINESS = "+14155238886"
OWNER_A = "+34600111222"  # Spain: Europe/Madrid
OWNER_B = "+447400123456"  # United Kingdom: Europe/London
OWNERS = (OWNER_A, OWNER_B)


def conversation_of(owner: str) -> str:
    return conversation_id(BUSINESS, owner)


def write_token_file(path: Path, fake: FakeGoogleCalendar, token: str = "valid") -> Path:
    """An `authorized_user` token file, as `switchboard calendar auth` writes it.

    `token`: "valid"; "expired" (past its expiry: refreshed before the first call); or
    "rejected" (unexpired, but the server no longer accepts it: refreshed after a 401).
    """
    access_token = "ya29.initial-token"
    if token == "valid":
        fake.accept_access_token(access_token)
    expired = token == "expired"
    expiry = datetime.now(UTC) + (timedelta(hours=-1) if expired else timedelta(hours=1))
    path.write_text(json.dumps({
        "type": "authorized_user", "token": access_token, "refresh_token": fake.issue_refresh_token(),
        "token_uri": fake.token_uri, "client_id": fake.client_id, "client_secret": fake.client_secret,
        "scopes": ["https://www.googleapis.com/auth/calendar.events"],
        "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
    }))
    path.chmod(0o600)
    return path


def google_settings(fake: FakeGoogleCalendar, token_file: Path, owners: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "CALENDAR_GOOGLE_OWNERS": json.dumps(owners),
        "CALENDAR_GOOGLE_CREDENTIALS": str(token_file),
        "CALENDAR_GOOGLE_API_ENDPOINT": fake.api_endpoint,
        "CALENDAR_GOOGLE_TOKEN_URI": fake.token_uri,
        **extra,
    }


@dataclass
class Rig:
    client: CalendarClient
    service: CalendarService
    settings: CalendarSettings
    fake: FakeGoogleCalendar | None = None
    token_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def who(self, owner: str) -> dict[str, str]:
        """The identity fields the agent fills in for `owner`."""
        return {"owner": owner, "business": BUSINESS, "conversation": conversation_of(owner)}


@contextlib.asynccontextmanager
async def calendar_rig(
    bus: Bus, database_url: str, backend: str = "local", tmp_path: Path | None = None, token: str = "valid",
    **env: Any,
) -> AsyncIterator[Rig]:
    fake: FakeGoogleCalendar | None = None
    token_file: Path | None = None
    values: dict[str, Any] = {"DATABASE_URL": database_url, "STREAM_NAME": bus.stream, **env}
    with contextlib.ExitStack() as stack:
        if backend == "google":
            assert tmp_path is not None, "the Google rig needs a directory for its token file"
            fake = stack.enter_context(FakeGoogleCalendar())
            for owner in OWNERS:
                fake.add_calendar(f"{owner[1:]}@group.calendar.google.com", time_zone="Europe/Madrid")
            token_file = write_token_file(tmp_path / "google-token.json", fake, token)
            owners = {owner: f"{owner[1:]}@group.calendar.google.com" for owner in OWNERS}
            values = {**google_settings(fake, token_file, owners), **values}
        settings = CalendarSettings(**values)
        await migrate(settings.database_url)
        backends = build_backends(settings)
        service = build_service(settings, bus, backends)
        await service.start()
        try:
            yield Rig(CalendarClient(bus.nc, timeout_s=10), service, settings, fake, token_file)
        finally:
            await service.stop()
            await backends.close()
