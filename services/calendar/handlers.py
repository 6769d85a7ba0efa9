"""The calendar endpoints as plain async functions of (request, dependencies).

Handlers resolve the owner and their zone, turn wall-clock times into UTC instants, call
the owner's backend, announce changes on the stream and answer in the owner's zone.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.calendar.announce import announce
from services.calendar.ports import CalendarBackend, EventChanges, NewEvent, StoredEvent
from services.calendar.routing import Backends
from services.calendar.slots import free_slots
from services.calendar.zones import normalise_owner, owner_zone, to_utc, zone
from shared.calendar import (
    CalendarEntry,
    CalendarError,
    CalendarRequest,
    CreateEvent,
    DeleteEvent,
    DeleteResult,
    ErrorCode,
    EventList,
    FindFreeSlots,
    FreeSlots,
    GetEvent,
    ListEvents,
    SaveResult,
    Slot,
    UpdateEvent,
)
from shared.eventlog import EventLog
from shared.ids import conversation_id
from shared.logging import get_logger

log = get_logger(__name__)

MAX_OVERLAPS = 20
MAX_BUSY = 2000


@dataclass
class Calendar:
    """The handlers' dependencies."""

    backends: Backends
    events: EventLog
    default_time_zone: str = "UTC"
    max_range: timedelta = timedelta(days=366)


@dataclass(frozen=True)
class Caller:
    owner: str
    zone: ZoneInfo
    backend: CalendarBackend


def caller(request: CalendarRequest, deps: Calendar) -> Caller:
    """Whose calendar: the owner, only when the request is consistent with its conversation."""
    if request.business is None or conversation_id(request.business, request.owner) != request.conversation:
        raise CalendarError(ErrorCode.FORBIDDEN, "I can't tell whose calendar this is.")
    owner = normalise_owner(request.owner)
    return Caller(owner, owner_zone(owner, request.time_zone, deps.default_time_zone), deps.backends.for_owner(owner))


def entry(event: StoredEvent, wall_zone: ZoneInfo) -> CalendarEntry:
    return CalendarEntry(
        event_id=event.event_id, summary=event.summary,
        start=event.start.astimezone(wall_zone), end=event.end.astimezone(wall_zone),
        time_zone=event.time_zone, description=event.description, location=event.location,
        attendees=event.attendees, revision=event.revision, all_day=event.all_day, recurrence=event.recurrence,
    )


def check_range(start: datetime, end: datetime, deps: Calendar) -> None:
    if end <= start:
        raise CalendarError(ErrorCode.INVALID_RANGE)
    if end - start > deps.max_range:
        raise CalendarError(
            ErrorCode.INVALID_RANGE, f"That range is too long; please ask for at most {deps.max_range.days} days."
        )


def new_event_id(owner: str, request_id: str | None) -> str:
    """A random id, or one derived from the idempotency key so a retry finds its event.

    Hex digits are valid Google event ids too (base32hex, 5-1024 characters).
    """
    if request_id is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{owner}\n{request_id}".encode()).hexdigest()[:32]


async def overlaps_of(who: Caller, event: StoredEvent) -> tuple[CalendarEntry, ...]:
    """The owner's other events overlapping `event`; none if the backend cannot say right now.

    The change is already made, so failing to look for overlaps must not fail the request.
    """
    try:
        page = await who.backend.list(who.owner, event.start, event.end, None, MAX_OVERLAPS + 1)
    except CalendarError as exc:
        log.warning("calendar_overlaps_unknown", event_id=event.event_id, error=exc.code.value)
        return ()
    return tuple(entry(other, who.zone) for other in page.events if other.event_id != event.event_id)[:MAX_OVERLAPS]


async def overlaps_and_announce(
    deps: Calendar, who: Caller, change: str, request: CalendarRequest, event: StoredEvent, retimed: bool = True
) -> tuple[CalendarEntry, ...]:
    """Look for overlaps while the change is published: both need only the stored event."""
    publishing = announce(deps.events, change, who.owner, request, event)
    if not retimed:
        await publishing
        return ()
    overlaps, _ = await asyncio.gather(overlaps_of(who, event), publishing)
    return overlaps


def whole_days(request: CreateEvent, event_zone: ZoneInfo) -> tuple[datetime, datetime]:
    """An all-day event's bounds: midnight of the start's date to midnight after its last day
    (the end's date, or as many days as `duration_minutes` covers, at least one)."""
    first = (request.start.astimezone(event_zone) if request.start.tzinfo else request.start).date()
    if request.end is not None:
        last_end = request.end.astimezone(event_zone) if request.end.tzinfo else request.end
        days = max(1, (last_end.date() - first).days + (1 if last_end.time() != time() else 0))
    else:
        days = max(1, -(-request.duration_minutes // (24 * 60)))
    start = datetime.combine(first, time(), event_zone)
    return start.astimezone(UTC), datetime.combine(first + timedelta(days=days), time(), event_zone).astimezone(UTC)


async def create_event(request: CreateEvent, deps: Calendar) -> SaveResult:
    who = caller(request, deps)
    event_zone = zone(request.event_time_zone) if request.event_time_zone else who.zone
    if request.all_day:
        start, end = whole_days(request, event_zone)
    else:
        start = to_utc(request.start, event_zone)
        end = to_utc(request.end, event_zone) if request.end else start + timedelta(minutes=request.duration_minutes)
    check_range(start, end, deps)
    created = await who.backend.create(who.owner, NewEvent(
        event_id=new_event_id(who.owner, request.request_id), summary=request.summary, start=start, end=end,
        time_zone=event_zone.key, description=request.description, location=request.location,
        attendees=request.attendees, all_day=request.all_day, recurrence=request.recurrence,
    ))
    overlaps = await overlaps_and_announce(deps, who, "created", request, created.event)
    return SaveResult(event=entry(created.event, who.zone), overlaps=overlaps)


async def list_events(request: ListEvents, deps: Calendar) -> EventList:
    who = caller(request, deps)
    start, end = to_utc(request.start, who.zone), to_utc(request.end, who.zone)
    check_range(start, end, deps)
    page = await who.backend.list(who.owner, start, end, request.query, request.limit)
    return EventList(
        events=tuple(entry(event, who.zone) for event in page.events), time_zone=who.zone.key, truncated=page.truncated
    )


async def get_event(request: GetEvent, deps: Calendar) -> CalendarEntry:
    who = caller(request, deps)
    return entry(await who.backend.get(who.owner, request.event_id), who.zone)


async def update_event(request: UpdateEvent, deps: Calendar) -> SaveResult:
    who = caller(request, deps)
    current = await who.backend.get(who.owner, request.event_id)
    retimed = request.start is not None or request.end is not None or request.event_time_zone is not None
    changes = EventChanges(summary=request.summary, description=request.description, location=request.location)
    if retimed:
        wall_zone = zone(request.event_time_zone) if request.event_time_zone else who.zone
        start = to_utc(request.start, wall_zone) if request.start is not None else current.start
        if request.end is not None:
            end = to_utc(request.end, wall_zone)
        else:  # moving the start keeps the duration
            end = start + (current.end - current.start)
        check_range(start, end, deps)
        time_zone = request.event_time_zone or current.time_zone
        changes = EventChanges(**{**vars(changes), "start": start, "end": end, "time_zone": time_zone})
    if changes == EventChanges():
        return SaveResult(event=entry(current, who.zone))
    updated = await who.backend.update(who.owner, current.event_id, changes, request.if_revision)
    overlaps = await overlaps_and_announce(deps, who, "updated", request, updated, retimed)
    return SaveResult(event=entry(updated, who.zone), overlaps=overlaps)


async def delete_event(request: DeleteEvent, deps: Calendar) -> DeleteResult:
    who = caller(request, deps)
    removed = await who.backend.delete(who.owner, request.event_id, request.if_revision)
    await announce(deps.events, "deleted", who.owner, request, removed)
    return DeleteResult(event_id=removed.event_id, summary=removed.summary)


async def find_free_slots(request: FindFreeSlots, deps: Calendar) -> FreeSlots:
    who = caller(request, deps)
    start, end = to_utc(request.start, who.zone), to_utc(request.end, who.zone)
    check_range(start, end, deps)
    duration = timedelta(minutes=request.duration_minutes)
    if duration > end - start:
        raise CalendarError(ErrorCode.INVALID_RANGE, "That range is shorter than the time you asked for.")
    page = await who.backend.list(who.owner, start, end, None, MAX_BUSY)
    if page.truncated:
        raise CalendarError(ErrorCode.INVALID_RANGE, "That range is too busy to search; please ask for a shorter one.")
    found = free_slots(
        [(event.start, event.end) for event in page.events], start, end, duration, who.zone,
        request.day_start, request.day_end, request.limit,
    )
    return FreeSlots(
        slots=tuple(Slot(start=s.astimezone(who.zone), end=e.astimezone(who.zone)) for s, e in found),
        time_zone=who.zone.key,
    )
