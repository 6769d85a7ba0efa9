"""The event catalog: every fact Switchboard records, as frozen, versioned models.

Events are facts in the past tense. Each one carries the common envelope and a typed
`data` payload. A published version is never edited: a change makes a new version and
a small pure upcaster (`register_upcaster`) that turns the old payload into the new
one when it is read.

One module an idea: `envelope` (the envelope and the payload base), the catalog by
section (`inbound`, `delivery`, `calendar`, `operations`, `privacy`, `reminders`),
`superseded` (old versions, frozen), `registry` (the current model of each type and
every version published) and `reading` (upcasters and `decode`). Import from here.
"""

from shared.events.calendar import CalendarEventCreated, CalendarEventData, CalendarEventDeleted, CalendarEventUpdated
from shared.events.delivery import (
    DeliveryStatus,
    DeliveryStatusChanged,
    DeliveryStatusChangedData,
    MessageSent,
    MessageSentData,
    ReplyComposed,
    ReplyComposedData,
    SendFailed,
    SendFailedData,
    TokenUsage,
    ToolCallRecord,
)
from shared.events.envelope import D, E, Event, Payload, utcnow
from shared.events.inbound import (
    Media,
    MessageReceived,
    MessageReceivedData,
    MessageTranscribed,
    MessageTranscribedData,
)
from shared.events.operations import (
    AgentFailed,
    AgentFailedData,
    DeadLetterDiscarded,
    DeadLetterDiscardedData,
    DeadLetterRetried,
    DeadLetterRetriedData,
    MessageDeadLettered,
    MessageDeadLetteredData,
)
from shared.events.privacy import (
    PRIVACY_RECORDS,
    ErasureRequested,
    ExportRequested,
    PrivacyRequestData,
    RetentionApplied,
    RetentionAppliedData,
    UserDataErased,
    UserDataErasedData,
    UserDataExported,
    UserDataExportedData,
)
from shared.events.reading import (
    _UPCASTERS as _UPCASTERS,  # the registered upcasters, for tests that check every version has one
)
from shared.events.reading import (
    UnknownEvent,
    Upcaster,
    decode,
    register_upcaster,
    upcast,
    upcast_dead_letter_retried_v1,
    upcast_message_transcribed_v1,
    upcast_message_transcribed_v2,
)
from shared.events.registry import CATALOG, KINDS, VERSIONS
from shared.events.reminders import (
    ProactiveMessagesChangedData,
    ProactiveMessagesResumed,
    ProactiveMessagesStopped,
    ReminderCancelled,
    ReminderCancelledData,
    ReminderPreferencesChanged,
    ReminderPreferencesChangedData,
    ReminderRescheduled,
    ReminderRescheduledData,
    ReminderScheduled,
    ReminderScheduledData,
    ReminderSent,
    ReminderSentData,
    ReminderSuppressed,
    ReminderSuppressedData,
)
from shared.events.superseded import (
    SUPERSEDED,
    DeadLetterRetriedDataV1,
    DeadLetterRetriedV1,
    MessageTranscribedDataV1,
    MessageTranscribedDataV2,
    MessageTranscribedV1,
    MessageTranscribedV2,
)

__all__ = [
    # envelope
    "D", "E", "Event", "Payload", "utcnow",
    # inbound
    "Media", "MessageReceived", "MessageReceivedData", "MessageTranscribed", "MessageTranscribedData",
    # replies and delivery
    "DeliveryStatus", "DeliveryStatusChanged", "DeliveryStatusChangedData", "MessageSent", "MessageSentData",
    "ReplyComposed", "ReplyComposedData", "SendFailed", "SendFailedData", "TokenUsage", "ToolCallRecord",
    # calendar
    "CalendarEventCreated", "CalendarEventData", "CalendarEventDeleted", "CalendarEventUpdated",
    # operations
    "AgentFailed", "AgentFailedData", "DeadLetterDiscarded", "DeadLetterDiscardedData", "DeadLetterRetried",
    "DeadLetterRetriedData", "MessageDeadLettered", "MessageDeadLetteredData",
    # privacy
    "PRIVACY_RECORDS", "ErasureRequested", "ExportRequested", "PrivacyRequestData", "RetentionApplied",
    "RetentionAppliedData", "UserDataErased", "UserDataErasedData", "UserDataExported", "UserDataExportedData",
    # reminders and proactive messages
    "ProactiveMessagesChangedData", "ProactiveMessagesResumed", "ProactiveMessagesStopped", "ReminderCancelled",
    "ReminderCancelledData", "ReminderPreferencesChanged", "ReminderPreferencesChangedData", "ReminderRescheduled",
    "ReminderRescheduledData", "ReminderScheduled", "ReminderScheduledData", "ReminderSent", "ReminderSentData",
    "ReminderSuppressed", "ReminderSuppressedData",
    # superseded versions
    "SUPERSEDED", "DeadLetterRetriedDataV1", "DeadLetterRetriedV1", "MessageTranscribedDataV1",
    "MessageTranscribedDataV2", "MessageTranscribedV1", "MessageTranscribedV2",
    # registry
    "CATALOG", "KINDS", "VERSIONS",
    # reading
    "UnknownEvent", "Upcaster", "decode", "register_upcaster", "upcast", "upcast_dead_letter_retried_v1",
    "upcast_message_transcribed_v1", "upcast_message_transcribed_v2",
]
