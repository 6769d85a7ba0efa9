from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from services.calendar.zones import normalise_owner, zone
from shared.calendar import CalendarError
from shared.settings import WorkerSettings, database_url_field


def parse_owner_calendars(raw: str | None) -> dict[str, str]:
    """`CALENDAR_GOOGLE_OWNERS`: a JSON object {phone number: Google calendar id}, or a path to one.

    Owners are normalised to E.164. One calendar serving two owners would let each see the
    other's events, so that is refused.
    """
    if not raw or not raw.strip():
        return {}
    text = raw.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"CALENDAR_GOOGLE_OWNERS: cannot read {raw}: {exc}") from exc
    try:
        mapping: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"CALENDAR_GOOGLE_OWNERS is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values()):
        raise ValueError("CALENDAR_GOOGLE_OWNERS must map phone numbers to Google calendar ids")
    calendars: dict[str, str] = {}
    for owner, calendar_id in mapping.items():
        try:
            calendars[normalise_owner(owner)] = calendar_id
        except CalendarError:
            raise ValueError(f"CALENDAR_GOOGLE_OWNERS: {owner!r} is not a phone number") from None
    if len(set(calendars.values())) != len(calendars):
        raise ValueError("CALENDAR_GOOGLE_OWNERS: each Google calendar may serve one owner only")
    return calendars


class CalendarSettings(WorkerSettings):
    health_port: int = Field(8085, alias="HEALTH_PORT", ge=0, le=65535)
    database_url: str = database_url_field("calendar")  # CALENDAR_DATABASE_URL, else DATABASE_URL
    db_pool_size: int = Field(10, alias="CALENDAR_DB_POOL_SIZE", ge=1, le=200)
    default_time_zone: str = Field("UTC", alias="CALENDAR_DEFAULT_TIME_ZONE")
    max_range_days: int = Field(366, alias="CALENDAR_MAX_RANGE_DAYS", ge=1, le=3660)
    concurrency: int = Field(64, alias="CALENDAR_CONCURRENCY", ge=1, le=10_000)
    request_timeout_s: float = Field(15.0, alias="CALENDAR_REQUEST_TIMEOUT_S", gt=0)
    google_owners: str | None = Field(None, alias="CALENDAR_GOOGLE_OWNERS")
    google_credentials: Path | None = Field(None, alias="CALENDAR_GOOGLE_CREDENTIALS")
    google_subject: str | None = Field(None, alias="CALENDAR_GOOGLE_SUBJECT")
    google_api_endpoint: str | None = Field(None, alias="CALENDAR_GOOGLE_API_ENDPOINT")
    google_token_uri: str | None = Field(None, alias="CALENDAR_GOOGLE_TOKEN_URI")
    google_timeout_s: float = Field(10.0, alias="CALENDAR_GOOGLE_TIMEOUT_S", gt=0, le=120)
    send_invitations: bool = Field(False, alias="CALENDAR_SEND_INVITATIONS")

    @model_validator(mode="after")
    def _check(self) -> CalendarSettings:
        if not self.database_url.startswith(("postgres://", "postgresql://")):
            raise ValueError("DATABASE_URL must start with postgresql://")
        try:
            zone(self.default_time_zone)
        except CalendarError:
            raise ValueError(f"CALENDAR_DEFAULT_TIME_ZONE: unknown zone {self.default_time_zone!r}") from None
        if self.owner_calendars and self.google_credentials is None:
            raise ValueError("CALENDAR_GOOGLE_CREDENTIALS is required when CALENDAR_GOOGLE_OWNERS maps anyone")
        if self.owner_calendars and not self.google_credentials.is_file():  # type: ignore[union-attr]
            raise ValueError(f"CALENDAR_GOOGLE_CREDENTIALS: no such file {self.google_credentials}")
        return self

    @property
    def owner_calendars(self) -> dict[str, str]:
        return parse_owner_calendars(self.google_owners)
