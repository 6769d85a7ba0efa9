"""The registry: the current model of every event type, and every (type, version) published."""

from __future__ import annotations

from typing import Any

from shared.events.calendar import CalendarEventCreated, CalendarEventDeleted, CalendarEventUpdated
from shared.events.delivery import DeliveryStatusChanged, MessageSent, ReplyComposed, SendFailed
from shared.events.envelope import Event
from shared.events.inbound import MessageReceived, MessageTranscribed
from shared.events.operations import AgentFailed, DeadLetterDiscarded, DeadLetterRetried, MessageDeadLettered
from shared.events.privacy import (
    ErasureRequested,
    ExportRequested,
    RetentionApplied,
    UserDataErased,
    UserDataExported,
)
from shared.events.reminders import (
    ProactiveMessagesResumed,
    ProactiveMessagesStopped,
    ReminderCancelled,
    ReminderPreferencesChanged,
    ReminderRescheduled,
    ReminderScheduled,
    ReminderSent,
    ReminderSuppressed,
)
from shared.events.superseded import SUPERSEDED

CATALOG: dict[str, type[Event[Any]]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        MessageReceived,
        MessageTranscribed,
        ReplyComposed,
        MessageSent,
        SendFailed,
        DeliveryStatusChanged,
        CalendarEventCreated,
        CalendarEventUpdated,
        CalendarEventDeleted,
        MessageDeadLettered,
        DeadLetterRetried,
        DeadLetterDiscarded,
        AgentFailed,
        ErasureRequested,
        ExportRequested,
        UserDataErased,
        UserDataExported,
        RetentionApplied,
        ReminderScheduled,
        ReminderRescheduled,
        ReminderCancelled,
        ReminderSent,
        ReminderSuppressed,
        ProactiveMessagesStopped,
        ProactiveMessagesResumed,
        ReminderPreferencesChanged,
    )
}

KINDS: frozenset[str] = frozenset(cls.kind for cls in CATALOG.values())

# Every (type, version) ever published, with the model that describes it on the wire.
VERSIONS: dict[tuple[str, int], type[Event[Any]]] = {
    (cls.model_fields["type"].default, cls.current_version): cls for cls in (*CATALOG.values(), *SUPERSEDED)
}

