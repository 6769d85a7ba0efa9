"""Reminders and proactive messages: scheduled, moved, sent or held back, and the user's say in them."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.envelope import Event, Payload


class ReminderScheduledData(Payload):
    """A reminder was set (or set again under a new revision). Times are UTC."""

    reminder_id: str
    revision: int
    from_: str = Field(alias="from")  # the business number it will be sent from
    to: str  # the user it reminds
    text: str
    due_at: datetime
    time_zone: str
    language: str = "en"
    event_id: str | None = None  # the calendar event it belongs to, if any
    minutes_before: int | None = None  # for an event reminder: how long before the event starts
    source: Literal["user", "event", "event_default"] = "user"


class ReminderScheduled(Event[ReminderScheduledData]):
    kind: ClassVar[str] = "reminder"
    type: Literal["ReminderScheduled"] = "ReminderScheduled"
    version: Literal[1] = 1


class ReminderRescheduledData(Payload):
    reminder_id: str
    revision: int
    due_at: datetime
    previous_due_at: datetime
    reason: Literal["user", "event_moved", "quiet_hours"]


class ReminderRescheduled(Event[ReminderRescheduledData]):
    kind: ClassVar[str] = "reminder"
    type: Literal["ReminderRescheduled"] = "ReminderRescheduled"
    version: Literal[1] = 1


class ReminderCancelledData(Payload):
    reminder_id: str
    revision: int
    reason: Literal["user", "event_cancelled"]


class ReminderCancelled(Event[ReminderCancelledData]):
    kind: ClassVar[str] = "reminder"
    type: Literal["ReminderCancelled"] = "ReminderCancelled"
    version: Literal[1] = 1


class ReminderSentData(Payload):
    reminder_id: str
    revision: int
    twilio_sid: str
    mode: Literal["freeform", "template"]
    content_sid: str | None = None
    due_at: datetime
    sent_at: datetime


class ReminderSent(Event[ReminderSentData]):
    kind: ClassVar[str] = "reminder"
    type: Literal["ReminderSent"] = "ReminderSent"
    version: Literal[1] = 1


class ReminderSuppressedData(Payload):
    """A due reminder was not sent, and why: the user opted out, it was outside the 24-hour
    window with no template configured for it, or Twilio refused it for good."""

    reminder_id: str
    revision: int
    reason: Literal["opted_out", "no_template", "send_failed"]
    detail: str = ""
    due_at: datetime


class ReminderSuppressed(Event[ReminderSuppressedData]):
    kind: ClassVar[str] = "reminder"
    type: Literal["ReminderSuppressed"] = "ReminderSuppressed"
    version: Literal[1] = 1


class ProactiveMessagesChangedData(Payload):
    """The user stopped (STOP, BAJA, …) or resumed (START, ALTA, …) messages we send first."""

    user: str
    keyword: str
    message_sid: str | None = None


class ProactiveMessagesStopped(Event[ProactiveMessagesChangedData]):
    kind: ClassVar[str] = "preferences"
    type: Literal["ProactiveMessagesStopped"] = "ProactiveMessagesStopped"
    version: Literal[1] = 1


class ProactiveMessagesResumed(Event[ProactiveMessagesChangedData]):
    kind: ClassVar[str] = "preferences"
    type: Literal["ProactiveMessagesResumed"] = "ProactiveMessagesResumed"
    version: Literal[1] = 1


class ReminderPreferencesChangedData(Payload):
    """Quiet hours ("HH:MM" local, both or neither) and the default minutes before events."""

    quiet_start: str | None = None
    quiet_end: str | None = None
    time_zone: str
    default_minutes_before: int | None = None


class ReminderPreferencesChanged(Event[ReminderPreferencesChangedData]):
    kind: ClassVar[str] = "preferences"
    type: Literal["ReminderPreferencesChanged"] = "ReminderPreferencesChanged"
    version: Literal[1] = 1
