"""The calendar RPC: requests, replies, error codes and a small client.

The calendar service is a NATS micro service named `calendar`. Each endpoint takes one
request model (imperative: `CreateEvent`, `ListEvents`, ...) as JSON and answers with one
reply model, or with a micro-service error whose code is one of `ErrorCode` and whose
description is a sentence fit to show the user.

Every request carries the `owner` (the user's phone number), the `business` number the
user wrote to, and the `conversation` id. The agent fills them from the signed webhook;
the LLM supplies only the event details, so one user can never name another user's
calendar. Only the agent's NATS identity may send requests (shared.nats_permissions),
and the calendar refuses a request whose conversation id is not the hash of its
(business, owner) pair, so a request must be consistent with the conversation it names.

Times: a naive datetime ("2026-12-01T15:00") means wall-clock time in the owner's zone
(`time_zone`, or the zone of the owner's phone number, or the service default). Replies
carry aware datetimes in the owner's zone.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, TypeVar

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from shared.text import clean_text

SERVICE_NAME = "calendar"
SERVICE_VERSION = "1.0.0"
SUBJECT_PREFIX = "calendar"


class ErrorCode(StrEnum):
    """Stable error codes of the calendar RPC."""

    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_RANGE = "invalid_range"
    FORBIDDEN = "forbidden"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    INVALID_REQUEST = "invalid_request"


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.NOT_FOUND: "I couldn't find that event in your calendar.",
    ErrorCode.CONFLICT: "That event was changed in the meantime; please check it and try again.",
    ErrorCode.INVALID_RANGE: "That time range doesn't work: the end has to be after the start.",
    ErrorCode.FORBIDDEN: "I can't access that calendar.",
    ErrorCode.BACKEND_UNAVAILABLE: "Your calendar isn't reachable right now; please try again in a moment.",
    ErrorCode.INVALID_REQUEST: "I couldn't understand that calendar request.",
}


class CalendarError(Exception):
    """A calendar RPC failure with a stable `code` and a `message` fit for the user."""

    def __init__(self, code: ErrorCode | str, message: str | None = None):
        self.code = ErrorCode(code)
        self.message = message or DEFAULT_MESSAGES[self.code]
        super().__init__(f"{self.code}: {self.message}")


class CalendarUnreachable(CalendarError):
    """The calendar service did not answer (no responders, a timeout) or said its own
    backend is down: an outage, not an answer. A create may still have been applied, so
    it is retried with the same `request_id`."""

    def __init__(self, message: str | None = None):
        super().__init__(ErrorCode.BACKEND_UNAVAILABLE, message)


# --- requests ------------------------------------------------------------------------

def _cleaned(value: object) -> object:
    # NUL and other control characters never reach a calendar (Postgres rejects NUL)
    return clean_text(value) if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_cleaned), StringConstraints(strip_whitespace=True, max_length=500)]
LongText = Annotated[str, BeforeValidator(_cleaned), StringConstraints(max_length=8000)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Recurrence = Annotated[str, StringConstraints(
    strip_whitespace=True, to_upper=True, max_length=200,
    pattern=r"^FREQ=(?:DAILY|WEEKLY|MONTHLY|YEARLY)(?:;(?:INTERVAL=\d{1,3}|COUNT=\d{1,4}|UNTIL=\d{8}(?:T\d{6}Z)?|"
            r"BYDAY=(?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*))*$",
)]
"""A repeat rule: an RFC 5545 RRULE without the `RRULE:` prefix, in the subset both backends
keep (frequency, interval, count, until, weekdays), e.g. `FREQ=WEEKLY;BYDAY=MO,TH`."""


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalendarRequest(_Message):
    """What every request carries: whose calendar, and the conversation it comes from."""

    owner: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    # Optional in the model so an old agent's request still parses; the calendar refuses it.
    business: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    conversation: Annotated[str, StringConstraints(pattern=r"^c[0-9a-f]{24}$")]
    time_zone: str | None = Field(None, description="the owner's IANA zone; default from the phone number")
    correlation_id: str | None = None
    causation_id: str | None = None


class CreateEvent(CalendarRequest):
    summary: Text
    start: datetime
    end: datetime | None = Field(None, description="default: start + duration_minutes")
    duration_minutes: int = Field(60, ge=1, le=60 * 24 * 31)
    event_time_zone: str | None = Field(None, description="the event's own zone; default the owner's")
    description: LongText | None = None
    location: Text | None = None
    attendees: tuple[Email, ...] = Field((), max_length=50)
    all_day: bool = Field(False, description="whole days: from the start's date to the end's (or duration's), "
                                             "midnight to midnight in the event's zone")
    recurrence: Recurrence | None = Field(None, description="repeat rule, e.g. FREQ=WEEKLY;BYDAY=MO")
    request_id: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="idempotency key: retrying a create with it returns the same event"
    )


class ListEvents(CalendarRequest):
    start: datetime
    end: datetime
    query: Text | None = Field(None, description="only events whose text contains this")
    limit: int = Field(50, ge=1, le=250)


class GetEvent(CalendarRequest):
    event_id: EventId


class UpdateEvent(CalendarRequest):
    """Change or reschedule an event. Giving only `start` keeps its duration."""

    event_id: EventId
    summary: Text | None = None
    start: datetime | None = None
    end: datetime | None = None
    event_time_zone: str | None = None
    description: LongText | None = None
    location: Text | None = None
    if_revision: str | None = Field(None, description="fail with `conflict` unless the event is at this revision")


class DeleteEvent(CalendarRequest):
    event_id: EventId
    if_revision: str | None = None


class FindFreeSlots(CalendarRequest):
    start: datetime
    end: datetime
    duration_minutes: int = Field(ge=1, le=60 * 24)
    day_start: time | None = Field(None, description="earliest wall-clock time each day, owner's zone")
    day_end: time | None = Field(None, description="latest wall-clock time each day, owner's zone")
    limit: int = Field(10, ge=1, le=100)


# --- replies -------------------------------------------------------------------------


class CalendarEntry(_Message):
    """One event as the owner sees it: times in the owner's zone."""

    event_id: str
    summary: str
    start: datetime
    end: datetime
    time_zone: str
    description: str | None = None
    location: str | None = None
    attendees: tuple[str, ...] = ()
    revision: str
    all_day: bool = False
    recurrence: str | None = None  # a repeating event: listings hold one entry per occurrence, same event_id


class SaveResult(_Message):
    """The created or updated event, and the owner's other events it overlaps."""

    event: CalendarEntry
    overlaps: tuple[CalendarEntry, ...] = ()


class EventList(_Message):
    events: tuple[CalendarEntry, ...]
    time_zone: str
    truncated: bool = False


class DeleteResult(_Message):
    event_id: str
    summary: str


class Slot(_Message):
    start: datetime
    end: datetime


class FreeSlots(_Message):
    slots: tuple[Slot, ...]
    time_zone: str


ENDPOINTS: dict[str, tuple[type[CalendarRequest], type[_Message]]] = {
    "create": (CreateEvent, SaveResult),
    "list": (ListEvents, EventList),
    "get": (GetEvent, CalendarEntry),
    "update": (UpdateEvent, SaveResult),
    "delete": (DeleteEvent, DeleteResult),
    "free_slots": (FindFreeSlots, FreeSlots),
}
"""Endpoint name -> (request model, reply model). The subject is `calendar.<name>`."""

R = TypeVar("R", bound=_Message)
_CODES = frozenset(code.value for code in ErrorCode)


class CalendarClient:
    """Call the calendar service over NATS; failures raise `CalendarError`."""

    def __init__(self, nc: NATS, timeout_s: float = 10.0):
        self.nc = nc
        self.timeout_s = timeout_s

    async def call(self, endpoint: str, request: CalendarRequest, reply_type: type[R]) -> R:
        try:
            msg = await self.nc.request(
                f"{SUBJECT_PREFIX}.{endpoint}", request.model_dump_json().encode(), timeout=self.timeout_s
            )
        except (NatsTimeoutError, NoRespondersError, TimeoutError) as exc:
            raise CalendarUnreachable() from exc
        headers = msg.headers or {}
        if ERROR_CODE_HEADER in headers:
            code = headers[ERROR_CODE_HEADER]
            if code not in _CODES:  # a crash inside the service ("500"): nothing the user can act on
                raise CalendarError(ErrorCode.BACKEND_UNAVAILABLE)
            if code == ErrorCode.BACKEND_UNAVAILABLE:
                raise CalendarUnreachable(headers.get(ERROR_HEADER))
            raise CalendarError(code, headers.get(ERROR_HEADER))
        return reply_type.model_validate_json(msg.data)

    async def create(self, request: CreateEvent) -> SaveResult:
        return await self.call("create", request, SaveResult)

    async def list(self, request: ListEvents) -> EventList:
        return await self.call("list", request, EventList)

    async def get(self, request: GetEvent) -> CalendarEntry:
        return await self.call("get", request, CalendarEntry)

    async def update(self, request: UpdateEvent) -> SaveResult:
        return await self.call("update", request, SaveResult)

    async def delete(self, request: DeleteEvent) -> DeleteResult:
        return await self.call("delete", request, DeleteResult)

    async def free_slots(self, request: FindFreeSlots) -> FreeSlots:
        return await self.call("free_slots", request, FreeSlots)
