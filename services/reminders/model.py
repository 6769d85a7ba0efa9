"""A reminder and a user's reminder preferences, as kept in the key-value buckets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_NAMESPACE = uuid.UUID("0b6c2f3e-93a1-4f7e-9a43-51d0c1b7e2a4")

Status = Literal["scheduled", "sent", "suppressed", "cancelled"]
Source = Literal["user", "event", "event_default"]


class Reminder(BaseModel):
    """One reminder. `revision` grows with every move; a timer only counts for its revision."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    reminder_id: str
    revision: int = 1
    conversation: str
    business: str  # the number it is sent from
    user: str  # the number it is sent to
    text: str = Field(max_length=500)
    due_at: datetime  # UTC
    time_zone: str = "UTC"
    language: str = "en"
    event_id: str | None = None
    minutes_before: int | None = None
    source: Source = "user"
    status: Status = "scheduled"


class Preferences(BaseModel):
    """What a user chose about messages we send first. The defaults: everything allowed,
    no quiet hours, no automatic reminder for calendar events."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    opted_out: bool = False
    quiet_start: str | None = None  # "22:00", local
    quiet_end: str | None = None  # "08:00", local
    time_zone: str = "UTC"
    default_minutes_before: int | None = None
    language: str = "en"
    # Who the conversation is between, kept when the user sets a preference, so a reminder
    # made for them from a calendar event (the default reminder) knows where to go.
    business: str | None = None
    user: str | None = None


def reminder_id_for(*parts: object) -> str:
    """A reminder id made from what it is about (a tool call's idempotency key, an event id):
    the same request run again makes the same reminder, never a second one."""
    return uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)).hex
