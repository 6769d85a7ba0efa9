"""The event catalog: every fact Switchboard records, as frozen, versioned models.

Events are facts in the past tense. Each one carries the common envelope and a typed
`data` payload. A published version is never edited: a change makes a new version and
a small pure upcaster (`register_upcaster`) that turns the old payload into the new
one when it is read.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import new_event_id, publish_subject


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    # `from` is a Python keyword: fields use `from_` in code and `from` on the wire.
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )


D = TypeVar("D", bound=Payload)


class Event(BaseModel, Generic[D]):
    """The common envelope. Subclasses fix `type`, `kind`, `version` and `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    kind: ClassVar[str]
    # The version this code writes. Each catalog class fixes it to its `version` literal
    # (checked when the class is defined); `decode` upcasts older versions to it and
    # refuses newer ones, and `to_bytes` refuses to write anything else.
    current_version: ClassVar[int] = 1

    id: str = Field(default_factory=new_event_id)
    type: str
    version: int
    conversation: str
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    data: D

    @property
    def subject(self) -> str:
        return publish_subject(self.kind, self.conversation)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        version = cls.model_fields["version"].default
        if isinstance(version, int):
            cls.current_version = version

    def to_bytes(self) -> bytes:
        """The wire form. Only the current version of an event type is ever written."""
        current = CATALOG.get(self.type)
        if current is None or self.version != current.current_version:
            raise ValueError(
                f"{self.type} v{self.version} is not the current version "
                f"(v{current.current_version if current else '?'}); old versions are read, never written"
            )
        return self.model_dump_json().encode()

    def caused(self, cls: builtins.type[E], data: Payload, **envelope: Any) -> E:
        """Build the next event in this chain: same conversation and correlation."""
        return cls(
            conversation=self.conversation,
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
            data=data,
            **envelope,
        )


E = TypeVar("E", bound="Event[Any]")

# --- inbound --------------------------------------------------------------------------


class Media(Payload):
    url: str
    content_type: str


class MessageReceivedData(Payload):
    message_sid: str
    from_: str = Field(alias="from")
    to: str
    profile_name: str | None = None
    wa_id: str | None = None
    body: str = ""
    media: tuple[Media, ...] = ()
    received_at: datetime


class MessageReceived(Event[MessageReceivedData]):
    kind: ClassVar[str] = "received"
    type: Literal["MessageReceived"] = "MessageReceived"
    version: Literal[1] = 1


class MessageTranscribedData(Payload):
    """v3: v2 plus how sure the engine was (see `upcast_message_transcribed_v2`)."""

    message_sid: str
    text: str = ""
    source: Literal["typed", "voice", "mixed", "attachment"]
    engine: str | None = None
    language: str | None = None
    duration_s: float | None = None
    failure: str | None = None
    # Who is talking, copied from the MessageReceived that started the chain (the signed
    # webhook): the agent answers `from` (the user) from `to` (the business number) and
    # uses the user's number as the owner of calendar calls. None only in events upcast
    # from v1 as first published, which did not carry them.
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    # Why the media failed, beside the human-readable `failure`: a stable code
    # (too_large, unsupported_type, corrupt_audio, no_speech, media_refused,
    # download_failed, engine_unavailable) and a polite reply the agent can send.
    failure_code: str | None = None
    failure_reply: str | None = None
    # How sure the speech engine was, for voice: of the words (0-1, exp of the mean token
    # log-probability) and of `language` (0-1). The agent confirms a cancel, a move or a
    # time-zone change heard with low confidence before acting. None for typed text and
    # engines that do not say.
    confidence: float | None = None
    language_probability: float | None = None


class MessageTranscribed(Event[MessageTranscribedData]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[3] = 3


# --- replies and delivery ---------------------------------------------------------------


class ToolCallRecord(Payload):
    name: str
    ok: bool = True


class TokenUsage(Payload):
    input_tokens: int = 0
    output_tokens: int = 0


class ReplyComposedData(Payload):
    reply_id: str
    in_reply_to: tuple[str, ...]
    from_: str = Field(alias="from")
    to: str
    text: str
    model: str
    tool_calls: tuple[ToolCallRecord, ...] = ()
    usage: TokenUsage = TokenUsage()
    latency_ms: float | None = None


class ReplyComposed(Event[ReplyComposedData]):
    kind: ClassVar[str] = "reply"
    type: Literal["ReplyComposed"] = "ReplyComposed"
    version: Literal[1] = 1


class MessageSentData(Payload):
    reply_id: str
    part: int
    parts: int
    twilio_sid: str
    from_: str = Field(alias="from")
    to: str
    body: str


class MessageSent(Event[MessageSentData]):
    kind: ClassVar[str] = "sent"
    type: Literal["MessageSent"] = "MessageSent"
    version: Literal[1] = 1


class SendFailedData(Payload):
    reply_id: str
    part: int
    parts: int
    error_code: int | None = None
    error_message: str = ""
    permanent: bool


class SendFailed(Event[SendFailedData]):
    kind: ClassVar[str] = "send_failed"
    type: Literal["SendFailed"] = "SendFailed"
    version: Literal[1] = 1


DeliveryStatus = Literal[
    "accepted", "scheduled", "queued", "sending", "sent", "failed",
    "undelivered", "delivered", "receiving", "received", "read", "canceled", "partially_delivered",
]


class DeliveryStatusChangedData(Payload):
    twilio_sid: str
    status: DeliveryStatus
    error_code: int | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    reported_at: datetime


class DeliveryStatusChanged(Event[DeliveryStatusChangedData]):
    kind: ClassVar[str] = "status"
    type: Literal["DeliveryStatusChanged"] = "DeliveryStatusChanged"
    version: Literal[1] = 1


# --- calendar ------------------------------------------------------------------------


class CalendarEventData(Payload):
    event_id: str
    owner: str
    summary: str = ""
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None


class CalendarEventCreated(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventCreated"] = "CalendarEventCreated"
    version: Literal[1] = 1


class CalendarEventUpdated(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventUpdated"] = "CalendarEventUpdated"
    version: Literal[1] = 1


class CalendarEventDeleted(Event[CalendarEventData]):
    kind: ClassVar[str] = "calendar"
    type: Literal["CalendarEventDeleted"] = "CalendarEventDeleted"
    version: Literal[1] = 1


# --- operations ----------------------------------------------------------------------


class MessageDeadLetteredData(Payload):
    consumer: str
    stream_sequence: int
    subject: str
    deliveries: int
    error: str
    original_type: str | None = None
    original_id: str | None = None


class MessageDeadLettered(Event[MessageDeadLetteredData]):
    """A stage gave up on an event after bounded redelivery; its partition moved on."""

    kind: ClassVar[str] = "dead_letter"
    type: Literal["MessageDeadLettered"] = "MessageDeadLettered"
    version: Literal[1] = 1


class DeadLetterRetriedData(Payload):
    """A dead-lettered event was put back in the stream: by an operator (or a tool acting for
    one), or automatically by its stage once the stage was healthy again (`by: auto`)."""

    dead_letter_seq: int  # the MessageDeadLettered event
    original_seq: int  # the event that was given up on
    republished_seq: int  # where its copy was stored; its stage handles it like a new event
    consumer: str
    requested_by: str  # the operator, or the replica that retried it automatically
    by: Literal["operator", "auto"] = "operator"


class DeadLetterRetried(Event[DeadLetterRetriedData]):
    """v2: v1 plus `by` (see `upcast_dead_letter_retried_v1`)."""

    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterRetried"] = "DeadLetterRetried"
    version: Literal[2] = 2


class DeadLetterDiscardedData(Payload):
    """An operator decided a dead-lettered event is not to be retried."""

    dead_letter_seq: int
    original_seq: int
    consumer: str
    requested_by: str
    reason: str = ""


class DeadLetterDiscarded(Event[DeadLetterDiscardedData]):
    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterDiscarded"] = "DeadLetterDiscarded"
    version: Literal[1] = 1


class AgentFailedData(Payload):
    """The agent could not compose an answer (e.g. the LLM kept failing); the user got an apology."""

    in_reply_to: tuple[str, ...]
    reason: Literal["llm_unavailable", "llm_error"]
    error: str  # the exception's type and a short message; never a stack trace
    attempts: int
    model: str
    last_input_seq: int


class AgentFailed(Event[AgentFailedData]):
    kind: ClassVar[str] = "agent_failed"
    type: Literal["AgentFailed"] = "AgentFailed"
    version: Literal[1] = 1


# --- privacy --------------------------------------------------------------------------


class PrivacyRequestData(Payload):
    """A user asked, over WhatsApp and after confirming, for their data to be erased or exported."""

    from_: str = Field(alias="from")  # the user, from the signed webhook
    to: str  # the business number they wrote to
    message_sid: str | None = None  # the confirming message
    requested_at: datetime


class ErasureRequested(Event[PrivacyRequestData]):
    """Published on the user's conversation; the erasure removes it with everything else."""

    kind: ClassVar[str] = "privacy"
    type: Literal["ErasureRequested"] = "ErasureRequested"
    version: Literal[1] = 1


class ExportRequested(Event[PrivacyRequestData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["ExportRequested"] = "ExportRequested"
    version: Literal[1] = 1


PRIVACY_RECORDS = "privacy"  # the `conversation` of the records below: they belong to no conversation


class UserDataErasedData(Payload):
    """What remains of an erasure: no number, no conversation id, no content."""

    subject_hash: str  # salted hash of the user's number (shared.privacy.salted_hash)
    requested_by: str  # "user" (over WhatsApp) or the operator's name
    requested_at: datetime
    completed_at: datetime
    conversations: int
    removed: dict[str, int]  # records removed per store


class UserDataErased(Event[UserDataErasedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["UserDataErased"] = "UserDataErased"
    version: Literal[1] = 1


class UserDataExportedData(Payload):
    subject_hash: str
    requested_by: str
    exported_at: datetime
    records: dict[str, int]  # records exported per store
    file_name: str  # named by the hash, in the operator's export directory


class UserDataExported(Event[UserDataExportedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["UserDataExported"] = "UserDataExported"
    version: Literal[1] = 1


class RetentionAppliedData(Payload):
    store: str
    before: datetime  # records older than this were removed
    removed: int


class RetentionApplied(Event[RetentionAppliedData]):
    kind: ClassVar[str] = "privacy"
    type: Literal["RetentionApplied"] = "RetentionApplied"
    version: Literal[1] = 1


# --- reminders and proactive messages ----------------------------------------------------


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

# --- superseded versions: frozen exactly as published, read only through upcasters --------


class MessageTranscribedDataV1(Payload):
    """MessageTranscribed v1 as first published (commit aceb493)."""

    message_sid: str
    text: str = ""
    source: Literal["typed", "voice", "mixed", "attachment"]
    engine: str | None = None
    language: str | None = None
    duration_s: float | None = None
    failure: str | None = None


class MessageTranscribedV1(Event[MessageTranscribedDataV1]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[1] = 1


def _message_transcribed_data_v2() -> type[Payload]:
    # Defined in a function so that the class keeps the name it was published under: the
    # name is part of the frozen schema (`$defs`), and the current v3 payload owns it here.
    class MessageTranscribedData(Payload):
        """MessageTranscribed v2 as published (v1 plus who is talking and why media failed)."""

        message_sid: str
        text: str = ""
        source: Literal["typed", "voice", "mixed", "attachment"]
        engine: str | None = None
        language: str | None = None
        duration_s: float | None = None
        failure: str | None = None
        # Who is talking, copied from the MessageReceived that started the chain (the signed
        # webhook): the agent answers `from` (the user) from `to` (the business number) and
        # uses the user's number as the owner of calendar calls. None only in events upcast
        # from v1 as first published, which did not carry them.
        from_: str | None = Field(default=None, alias="from")
        to: str | None = None
        # Why the media failed, beside the human-readable `failure`: a stable code
        # (too_large, unsupported_type, corrupt_audio, no_speech, media_refused,
        # download_failed, engine_unavailable) and a polite reply the agent can send.
        failure_code: str | None = None
        failure_reply: str | None = None

    return MessageTranscribedData


if TYPE_CHECKING:  # for mypy, a class; at run time, the one `_message_transcribed_data_v2` made
    MessageTranscribedDataV2 = MessageTranscribedDataV1
else:
    MessageTranscribedDataV2 = _message_transcribed_data_v2()


class MessageTranscribedV2(Event[MessageTranscribedDataV2]):
    kind: ClassVar[str] = "text"
    type: Literal["MessageTranscribed"] = "MessageTranscribed"
    version: Literal[2] = 2



class DeadLetterRetriedDataV1(Payload):
    """DeadLetterRetried v1 as first published (commit 871e0ec): operators only."""

    dead_letter_seq: int
    original_seq: int
    republished_seq: int
    consumer: str
    requested_by: str


class DeadLetterRetriedV1(Event[DeadLetterRetriedDataV1]):
    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterRetried"] = "DeadLetterRetried"
    version: Literal[1] = 1


SUPERSEDED: tuple[type[Event[Any]], ...] = (MessageTranscribedV1, MessageTranscribedV2, DeadLetterRetriedV1)

# Every (type, version) ever published, with the model that describes it on the wire.
VERSIONS: dict[tuple[str, int], type[Event[Any]]] = {
    (cls.model_fields["type"].default, cls.current_version): cls for cls in (*CATALOG.values(), *SUPERSEDED)
}

# --- reading: upcasting and decoding ------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a pure function turning a `from_version` envelope into the next version.

    The function receives the whole envelope as a dict and returns it with `data`
    changed and `version` set to `from_version + 1`.
    """

    def decorate(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return decorate


class UnknownEvent(ValueError):
    """The payload is not an event this version of Switchboard can read."""


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """The envelope `raw` brought to its type's current version through the registered chain."""
    event_type = raw.get("type")
    cls = CATALOG.get(event_type)  # type: ignore[arg-type]
    if cls is None:
        raise UnknownEvent(f"unknown event type {event_type!r}")
    target = cls.current_version
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnknownEvent(f"{event_type} has no valid version: {version!r}")
    if version > target:
        raise UnknownEvent(
            f"{event_type} v{version} is newer than this code knows (v{target}); upgrade this service"
        )
    while (version := raw.get("version")) != target:
        step = _UPCASTERS.get((event_type, version))  # type: ignore[arg-type]
        if step is None:
            raise UnknownEvent(f"no upcaster for {event_type} v{version} (current v{target})")
        raw = step(dict(raw))
    return raw


@register_upcaster("MessageTranscribed", from_version=1)
def upcast_message_transcribed_v1(old: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: v2 adds `from`, `to`, `failure_code` and `failure_reply`.

    v1 as first published had none of them, so they become None. Events written while
    those fields were (wrongly) added to v1 in place carry them already; they are kept.
    """
    data = dict(old["data"])
    for added in ("from", "to", "failure_code", "failure_reply"):
        data.setdefault(added, None)
    return {**old, "version": 2, "data": data}


@register_upcaster("MessageTranscribed", from_version=2)
def upcast_message_transcribed_v2(old: dict[str, Any]) -> dict[str, Any]:
    """v2 -> v3: v3 adds `confidence` and `language_probability`; v2 did not say (None)."""
    data = dict(old["data"])
    for added in ("confidence", "language_probability"):
        data.setdefault(added, None)
    return {**old, "version": 3, "data": data}


@register_upcaster("DeadLetterRetried", from_version=1)
def upcast_dead_letter_retried_v1(old: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: v2 adds `by`; every v1 retry was an operator's."""
    return {**old, "version": 2, "data": {**old["data"], "by": "operator"}}


def decode(payload: bytes | str | dict[str, Any]) -> Event[Any]:
    """Read any stored event, upcasting old versions to the current model."""
    raw = payload if isinstance(payload, dict) else json.loads(payload)
    if not isinstance(raw, dict):
        raise UnknownEvent("event payload is not a JSON object")
    raw = upcast(raw)
    return CATALOG[raw["type"]].model_validate(raw)
