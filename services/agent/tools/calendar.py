"""Calendar tools: create, list, move, cancel and find free time, through the calendar RPC.

Every request names the owner and conversation from the tool context (the signed
webhook); the model supplies only event details. Naive times are the user's local time.
"""

from __future__ import annotations

import asyncio
import time as monotonic_time
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import Field

from services.agent.tools.base import AgentTool, ToolArgs, ToolContext, ToolFailed, as_json
from shared.calendar import (
    CalendarEntry,
    CalendarError,
    CalendarUnreachable,
    CreateEvent,
    DeleteEvent,
    DeleteResult,
    EventList,
    FindFreeSlots,
    FreeSlots,
    ListEvents,
    Recurrence,
    SaveResult,
    UpdateEvent,
)
from shared.clock import SYSTEM_CLOCK, Clock
from shared.errors import DependencyUnavailable
from shared.logging import get_logger

log = get_logger(__name__)

# How long one tool call keeps retrying an unreachable calendar before the turn gives up
# for now (DependencyUnavailable: the input is retried later without spending a delivery).
# It stays under the tool timeout (GraphOptions.tool_timeout_s, 30 s).
RETRY_BUDGET_S = 20.0
# A booking in a busy hour can overlap dozens of events: the model is told about the first
# few and how many more, so one result stays small enough for a burst of them in context.
MAX_OVERLAPS = 5


class CalendarPort(Protocol):
    """The calendar RPC as the agent uses it (`shared.calendar.CalendarClient` implements it)."""

    async def create(self, request: CreateEvent) -> SaveResult: ...
    async def list(self, request: ListEvents) -> EventList: ...
    async def update(self, request: UpdateEvent) -> SaveResult: ...
    async def delete(self, request: DeleteEvent) -> DeleteResult: ...
    async def free_slots(self, request: FindFreeSlots) -> FreeSlots: ...


LOCAL = "user's local time, e.g. 2025-06-04T13:00"
PAST = "true only after the user confirmed a start time that is already past"
PAST_GRACE = timedelta(minutes=5)


class CreateEventArgs(ToolArgs):
    summary: str = Field(description="what the event is, e.g. 'Lunch with Ana'", min_length=1, max_length=300)
    start: datetime = Field(description=f"when it starts: {LOCAL}")
    duration_minutes: int = Field(60, ge=1, le=31 * 24 * 60, description="how long it lasts; ignored when end is given")
    end: datetime | None = Field(None, description=f"when it ends: {LOCAL}")
    location: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=2000)
    all_day: bool = Field(False, description="a whole-day event (birthdays, holidays): start's date, duration in days")
    recurrence: Recurrence | None = Field(None, description="repeat rule, e.g. FREQ=WEEKLY;BYDAY=MO or FREQ=YEARLY")
    confirm_past: bool = Field(False, description=PAST)


class ListEventsArgs(ToolArgs):
    start: datetime | None = Field(None, description=f"from (default: today 00:00): {LOCAL}")
    end: datetime | None = Field(None, description=f"until (default: 7 days after start): {LOCAL}")
    query: str | None = Field(None, max_length=200, description="only events whose text contains this")


class UpdateEventArgs(ToolArgs):
    event_id: str = Field(description="the id from list_events or create_event", min_length=1)
    start: datetime | None = Field(None, description=f"new start, keeping the duration unless end is given: {LOCAL}")
    end: datetime | None = Field(None, description=f"new end: {LOCAL}")
    summary: str | None = Field(None, max_length=300)
    location: str | None = Field(None, max_length=300)
    confirm_past: bool = Field(False, description=PAST)


class DeleteEventArgs(ToolArgs):
    event_id: str = Field(description="the id from list_events or create_event", min_length=1)


class FreeSlotsArgs(ToolArgs):
    start: datetime = Field(description=f"search from: {LOCAL}")
    end: datetime = Field(description=f"search until: {LOCAL}")
    duration_minutes: int = Field(60, ge=5, le=24 * 60)
    day_start: time | None = Field(None, description="earliest time of day, e.g. 09:00")
    day_end: time | None = Field(None, description="latest time of day, e.g. 18:00")


def describe(entry: CalendarEntry, zone: str) -> dict[str, str]:
    """An event as the model sees it: id, summary and local times, nothing else."""
    tz = ZoneInfo(zone)
    start, end = entry.start.astimezone(tz), entry.end.astimezone(tz)
    same_day = start.date() == end.date()
    when = f"{start:%a %d %b %Y, %H:%M}–{end:%H:%M}" if same_day else f"{start:%a %d %b %Y, %H:%M} – {end:%a %d %b %Y, %H:%M}"
    item = {"event_id": entry.event_id, "summary": entry.summary, "when": when,
            "start": start.replace(tzinfo=None).isoformat(timespec="minutes"),
            "end": end.replace(tzinfo=None).isoformat(timespec="minutes"), "time_zone": zone}
    if entry.location:
        item["location"] = entry.location
    if entry.all_day:
        item["all_day"] = "yes"
    if entry.recurrence:
        item["repeats"] = entry.recurrence
    return item


def overlapping(overlaps: tuple[CalendarEntry, ...], zone: str) -> dict[str, object]:
    """The first `MAX_OVERLAPS` overlapping events, and how many more there are."""
    found: dict[str, object] = {"overlaps": [describe(e, zone) for e in overlaps[:MAX_OVERLAPS]]}
    if len(overlaps) > MAX_OVERLAPS:
        found["more_overlaps"] = len(overlaps) - MAX_OVERLAPS
    return found


def refuse_past(start: datetime | None, confirmed: bool, ctx: ToolContext, now: datetime,
                whole_days: bool = False) -> None:
    """A start already past is booked only when the user confirmed it (`confirm_past`);
    an all-day event is past from the day after."""
    if start is None or confirmed:
        return
    zone = ZoneInfo(ctx.time_zone)
    local = start.astimezone(zone) if start.tzinfo else start.replace(tzinfo=zone)
    past = local.date() < now.astimezone(zone).date() if whole_days else local < now.astimezone(zone) - PAST_GRACE
    if past:
        raise ToolFailed(
            f"{local:%a %d %b %Y %H:%M} is in the past (it is now {now.astimezone(zone):%a %d %b %Y %H:%M}). "
            "Nothing was saved. Ask the user whether they really mean a past time; if they confirm, "
            "call again with confirm_past=true.",
            "past",
        )


def build_calendar_tools(calendar: CalendarPort, retry_budget_s: float = RETRY_BUDGET_S,
                         clock: Clock = SYSTEM_CLOCK) -> list[AgentTool]:
    def envelope(ctx: ToolContext) -> dict:
        return {"owner": ctx.owner, "business": ctx.business or None, "conversation": ctx.conversation,
                "time_zone": ctx.time_zone,
                "correlation_id": ctx.correlation_id, "causation_id": ctx.causation_id}

    async def call(request):
        """Call, retrying while the calendar is unreachable (safe: reads, and creates carry a
        request_id, so a create that timed out but was applied returns the same event).
        Past the budget the outage is the turn's: DependencyUnavailable, never a wrong answer."""
        deadline = monotonic_time.monotonic() + retry_budget_s
        delay = 0.25
        while True:
            try:
                return await request()
            except CalendarUnreachable as exc:
                if monotonic_time.monotonic() + delay >= deadline:
                    raise DependencyUnavailable(f"the calendar service is unreachable: {exc}") from exc
                log.warning("calendar_unreachable_retry", retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)
            except CalendarError as exc:
                raise ToolFailed(exc.message, exc.code.value) from exc

    async def create_event(args: CreateEventArgs, ctx: ToolContext) -> str:
        refuse_past(args.start, args.confirm_past, ctx, clock.now(), whole_days=args.all_day)
        request = CreateEvent(
            **envelope(ctx), summary=args.summary, start=args.start, end=args.end,
            duration_minutes=args.duration_minutes, location=args.location, description=args.description,
            all_day=args.all_day, recurrence=args.recurrence,
            request_id=ctx.call_key,  # a turn run again after a crash, or a retried timeout, creates it once
        )
        result = await call(lambda: calendar.create(request))
        return as_json({"created": describe(result.event, ctx.time_zone), **overlapping(result.overlaps, ctx.time_zone)})

    async def list_events(args: ListEventsArgs, ctx: ToolContext) -> str:
        today = datetime.now(ZoneInfo(ctx.time_zone)).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        start = args.start or today
        end = args.end or start + timedelta(days=7)
        request = ListEvents(**envelope(ctx), start=start, end=end, query=args.query)
        result = await call(lambda: calendar.list(request))
        return as_json({"from": start.isoformat(timespec="minutes"), "until": end.isoformat(timespec="minutes"),
                        "events": [describe(e, ctx.time_zone) for e in result.events], "truncated": result.truncated})

    async def update_event(args: UpdateEventArgs, ctx: ToolContext) -> str:
        refuse_past(args.start, args.confirm_past, ctx, clock.now())
        request = UpdateEvent(
            **envelope(ctx), event_id=args.event_id, start=args.start, end=args.end,
            summary=args.summary, location=args.location,
        )
        result = await call(lambda: calendar.update(request))
        return as_json({"updated": describe(result.event, ctx.time_zone), **overlapping(result.overlaps, ctx.time_zone)})

    async def delete_event(args: DeleteEventArgs, ctx: ToolContext) -> str:
        request = DeleteEvent(**envelope(ctx), event_id=args.event_id)
        result = await call(lambda: calendar.delete(request))
        return as_json({"deleted": {"event_id": result.event_id, "summary": result.summary}})

    async def find_free_slots(args: FreeSlotsArgs, ctx: ToolContext) -> str:
        request = FindFreeSlots(
            **envelope(ctx), start=args.start, end=args.end, duration_minutes=args.duration_minutes,
            day_start=args.day_start, day_end=args.day_end,
        )
        result = await call(lambda: calendar.free_slots(request))
        tz = ZoneInfo(ctx.time_zone)
        slots = [f"{s.start.astimezone(tz):%a %d %b, %H:%M}–{s.end.astimezone(tz):%H:%M}" for s in result.slots]
        starts = [[f"{s.start.astimezone(tz):%Y-%m-%dT%H:%M}", f"{s.end.astimezone(tz):%Y-%m-%dT%H:%M}"]
                  for s in result.slots]
        return as_json({"free": slots, "time_zone": ctx.time_zone, "slots": starts})

    return [
        AgentTool("create_event", "Add an event to the user's own calendar. A start in the past is refused "
                  "unless the user confirmed it (confirm_past).", CreateEventArgs, create_event),
        AgentTool("list_events", "List the user's own events in a time range (to answer questions or find an event id).",
                  ListEventsArgs, list_events),
        AgentTool("update_event", "Move or change one of the user's events, by its id.", UpdateEventArgs, update_event),
        AgentTool("delete_event", "Cancel one of the user's events, by its id.", DeleteEventArgs, delete_event),
        AgentTool("find_free_slots", "Find free time in the user's calendar.", FreeSlotsArgs, find_free_slots),
    ]
