"""Reminder tools: set, list, move and cancel reminders, and the user's reminder preferences.

The owner, conversation and business number come from the tool context (the signed
webhook); the model supplies only what to remember and when, in the user's local time.
A reminder's id is derived from the call's idempotency key, so a turn run again after a
crash sets it once.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field

from services.agent.tools.base import AgentTool, ToolArgs, ToolContext, ToolFailed, as_json
from services.reminders.book import ReminderBook, ReminderNotFound
from services.reminders.model import Reminder, reminder_id_for
from shared.clock import SYSTEM_CLOCK, Clock

LOCAL = "user's local time, e.g. 2025-06-04T09:00"
MAX_ACTIVE = 100


class SetReminderArgs(ToolArgs):
    text: str = Field(description="what to remind the user of, e.g. 'pay the electricity bill'", min_length=1, max_length=300)
    at: datetime | None = Field(None, description=f"when to send the reminder: {LOCAL}")
    in_seconds: int | None = Field(None, ge=1, le=366 * 86400,
                                   description="instead of `at`: how long from now, e.g. 600 for 'in 10 minutes'")
    language: str = Field("en", pattern="^(en|es)$", description="the language the user wrote in")
    event_id: str | None = Field(None, description="the calendar event this reminder is for, if any")
    minutes_before: int | None = Field(None, ge=0, le=7 * 24 * 60, description="for an event: minutes before it starts")


class ReminderIdArgs(ToolArgs):
    reminder_id: str = Field(description="the id from list_reminders or set_reminder", min_length=1, max_length=64)


class MoveReminderArgs(ToolArgs):
    reminder_id: str = Field(description="the id from list_reminders or set_reminder", min_length=1, max_length=64)
    at: datetime | None = Field(None, description=f"the new time: {LOCAL}")
    in_seconds: int | None = Field(None, ge=1, le=366 * 86400, description="instead of `at`: how long from now")


class NoArgs(ToolArgs):
    pass


class PreferencesArgs(ToolArgs):
    quiet_start: time | None = Field(None, description="no messages from this local time, e.g. 22:00")
    quiet_end: time | None = Field(None, description="until this local time, e.g. 08:00")
    quiet_hours_off: bool = Field(False, description="remove quiet hours")
    default_minutes_before: int | None = Field(None, ge=1, le=7 * 24 * 60,
                                               description="remind before every new calendar event by this much")
    default_reminders_off: bool = Field(False, description="no automatic reminders before events")
    language: str | None = Field(None, pattern="^(en|es)$")


def describe(reminder: Reminder) -> dict[str, object]:
    local = reminder.due_at.astimezone(ZoneInfo(reminder.time_zone))
    item: dict[str, object] = {"reminder_id": reminder.reminder_id, "text": reminder.text,
                               "at": local.replace(tzinfo=None).isoformat(timespec="minutes"),
                               "when": f"{local:%a %d %b %Y, %H:%M}", "time_zone": reminder.time_zone}
    if reminder.event_id:
        item["event_id"] = reminder.event_id
        item["minutes_before"] = reminder.minutes_before
    return item


def build_reminder_tools(book: ReminderBook, clock: Clock = SYSTEM_CLOCK) -> list[AgentTool]:
    def chain(ctx: ToolContext) -> dict[str, str | None]:
        return {"correlation_id": ctx.correlation_id, "causation_id": ctx.causation_id}

    def as_utc(local: datetime, zone: str) -> datetime:
        aware = local if local.tzinfo else local.replace(tzinfo=ZoneInfo(zone))
        due = aware.astimezone(UTC)
        if due <= clock.now():
            raise ToolFailed("That time has already passed; when should I remind you?", "in_past")
        return due

    async def owned(ctx: ToolContext, reminder_id: str) -> Reminder:
        reminder = await book.get(ctx.conversation, reminder_id) if reminder_id.isalnum() else None
        if reminder is None or reminder.status != "scheduled":
            raise ToolFailed("There is no such reminder (it may have been sent or cancelled already).", "not_found")
        return reminder

    async def set_reminder(args: SetReminderArgs, ctx: ToolContext) -> str:
        if not ctx.business:
            raise ToolFailed("I can't set reminders in this conversation.", "no_business")
        if (args.at is None) == (args.in_seconds is None):
            raise ToolFailed("Give either `at` or `in_seconds`.", "bad_time")
        due = as_utc(args.at, ctx.time_zone) if args.at else clock.now() + timedelta(seconds=args.in_seconds or 0)
        reminder_id = reminder_id_for("tool", ctx.call_key)
        if await book.get(ctx.conversation, reminder_id) is None and len(await book.active(ctx.conversation)) >= MAX_ACTIVE:
            raise ToolFailed(f"You already have {MAX_ACTIVE} reminders; cancel some first.", "too_many")
        reminder = await book.schedule(Reminder(
            reminder_id=reminder_id, conversation=ctx.conversation, business=ctx.business, user=ctx.owner,
            text=args.text, due_at=due, time_zone=ctx.time_zone, language=args.language, event_id=args.event_id,
            minutes_before=args.minutes_before, source="event" if args.event_id else "user",
        ), chain(ctx))
        return as_json({"reminder": describe(reminder)})

    async def list_reminders(args: NoArgs, ctx: ToolContext) -> str:
        return as_json({"reminders": [describe(r) for r in await book.active(ctx.conversation)]})

    async def cancel_reminder(args: ReminderIdArgs, ctx: ToolContext) -> str:
        reminder = await owned(ctx, args.reminder_id)
        await book.cancel(ctx.conversation, reminder.reminder_id, "user", chain(ctx))
        return as_json({"cancelled": describe(reminder)})

    async def move_reminder(args: MoveReminderArgs, ctx: ToolContext) -> str:
        reminder = await owned(ctx, args.reminder_id)
        if (args.at is None) == (args.in_seconds is None):
            raise ToolFailed("Give either `at` or `in_seconds`.", "bad_time")
        due = as_utc(args.at, reminder.time_zone) if args.at else clock.now() + timedelta(seconds=args.in_seconds or 0)
        try:
            moved = await book.move(ctx.conversation, reminder.reminder_id, due, "user", chain(ctx))
        except ReminderNotFound:
            raise ToolFailed("There is no such reminder.", "not_found") from None
        return as_json({"moved": describe(moved)})

    async def set_reminder_preferences(args: PreferencesArgs, ctx: ToolContext) -> str:
        changes: dict[str, object] = {"time_zone": ctx.time_zone, "user": ctx.owner, "business": ctx.business}
        if args.quiet_hours_off:
            changes.update(quiet_start=None, quiet_end=None)
        elif args.quiet_start or args.quiet_end:
            current = await book.preferences_of(ctx.conversation)
            changes["quiet_start"] = f"{args.quiet_start:%H:%M}" if args.quiet_start else current.quiet_start or "22:00"
            changes["quiet_end"] = f"{args.quiet_end:%H:%M}" if args.quiet_end else current.quiet_end or "08:00"
        if args.default_reminders_off:
            changes["default_minutes_before"] = None
        elif args.default_minutes_before:
            changes["default_minutes_before"] = args.default_minutes_before
        if args.language:
            changes["language"] = args.language
        prefs = await book.set_preferences(ctx.conversation, changes, f"reminder_prefs:{ctx.call_key}", chain(ctx))
        return as_json({"preferences": {"quiet_start": prefs.quiet_start, "quiet_end": prefs.quiet_end,
                                        "default_minutes_before": prefs.default_minutes_before,
                                        "time_zone": prefs.time_zone, "stopped": prefs.opted_out}})

    return [
        AgentTool("set_reminder", "Send the user a WhatsApp reminder at a time (optionally tied to a calendar event).",
                  SetReminderArgs, set_reminder),
        AgentTool("list_reminders", "List the user's pending reminders.", NoArgs, list_reminders),
        AgentTool("cancel_reminder", "Cancel one of the user's reminders, by its id.", ReminderIdArgs, cancel_reminder),
        AgentTool("move_reminder", "Move one of the user's reminders to another time, by its id.",
                  MoveReminderArgs, move_reminder),
        AgentTool("set_reminder_preferences",
                  "Quiet hours (no reminders between two local times) and the default reminder before events.",
                  PreferencesArgs, set_reminder_preferences),
    ]
