"""The reminder book: set, list, move and cancel reminders, and keep preferences.

Each change is written in three places, in this order, each step idempotent so a turn run
again after a crash finishes the job without doing anything twice:

1. the record in the `REMINDERS` bucket (`<conversation>.<reminder>`), compare-and-set, and
   its id in the conversation's index (`index.<conversation>`, so listing reads only the
   conversation's own reminders);
2. the timer (`timers.Timers`), which names the record's revision;
3. the fact in the event log (`ReminderScheduled`, …), under a Nats-Msg-Id made of the
   reminder id and revision.

A timer that fires for an older revision, or for a reminder no longer scheduled, is
ignored (`dispatch`), so a move or a cancel that races the timer never sends twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Protocol

from services.reminders.model import Preferences, Reminder
from shared.eventlog import EventLog, KeyExists, KeyValueStore, WrongRevision
from shared.events import (
    Event,
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
)

REMINDERS_BUCKET = "REMINDERS"
PREFERENCES_BUCKET = "REMINDER_PREFS"


class TimerPort(Protocol):
    async def set(self, conversation: str, reminder_id: str, revision: int, at: datetime) -> None: ...
    async def cancel(self, conversation: str, reminder_id: str) -> None: ...


class ReminderNotFound(LookupError):
    pass


Chain = dict[str, Any]  # correlation_id / causation_id for the events a change makes


class ReminderBook:
    def __init__(self, events: EventLog, reminders: KeyValueStore, preferences: KeyValueStore, timers: TimerPort):
        self.events = events
        self.reminders = reminders
        self.preferences = preferences
        self.timers = timers

    @classmethod
    async def open(cls, events: EventLog, timers: TimerPort, replicas: int = 1) -> ReminderBook:
        reminders = await events.open_kv(REMINDERS_BUCKET, replicas=replicas, description="reminders: what is due when")
        preferences = await events.open_kv(PREFERENCES_BUCKET, replicas=replicas,
                                           description="reminders: opt-out, quiet hours, default reminder")
        return cls(events, reminders, preferences, timers)

    # --- reminders ---------------------------------------------------------------------

    async def schedule(self, reminder: Reminder, chain: Chain | None = None) -> Reminder:
        """Set `reminder` (its id is the caller's idempotency key); the stored one if it exists."""
        key = _key(reminder.conversation, reminder.reminder_id)
        await self._index(reminder.conversation, add=reminder.reminder_id)
        try:
            await self.reminders.create(key, _dump(reminder))
        except KeyExists:
            stored = await self.get(reminder.conversation, reminder.reminder_id)
            if stored is None:
                raise
            reminder = stored
            if reminder.status != "scheduled" or reminder.revision != 1:
                return reminder
        await self.timers.set(reminder.conversation, reminder.reminder_id, reminder.revision, reminder.due_at)
        await self._publish(ReminderScheduled, reminder, "scheduled", ReminderScheduledData(
            reminder_id=reminder.reminder_id, revision=reminder.revision, from_=reminder.business, to=reminder.user,
            text=reminder.text, due_at=reminder.due_at, time_zone=reminder.time_zone, language=reminder.language,
            event_id=reminder.event_id, minutes_before=reminder.minutes_before, source=reminder.source,
        ), chain)
        return reminder

    async def get(self, conversation: str, reminder_id: str) -> Reminder | None:
        entry = await self.reminders.get(_key(conversation, reminder_id))
        return Reminder.model_validate_json(entry.value) if entry is not None else None

    async def active(self, conversation: str) -> list[Reminder]:
        """The conversation's scheduled reminders, soonest first (through its index: no scan)."""
        found, done = [], []
        for reminder_id in await self._indexed(conversation):
            reminder = await self.get(conversation, reminder_id)
            if reminder is not None and reminder.status == "scheduled":
                found.append(reminder)
            elif reminder is not None:
                done.append(reminder_id)  # settled, but its removal from the index did not happen
        if done:
            await self._index(conversation, remove=done)
        return sorted(found, key=lambda r: r.due_at)

    async def _indexed(self, conversation: str) -> list[str]:
        entry = await self.reminders.get(_index_key(conversation))
        return list(json.loads(entry.value)) if entry is not None else []

    async def _index(self, conversation: str, add: str | None = None, remove: list[str] | None = None) -> None:
        """Keep `index.<conversation>`: the ids of its reminders that may still be scheduled.
        Added before the reminder is written, removed after it is settled, so it never misses one."""
        key = _index_key(conversation)
        while True:
            entry = await self.reminders.get(key)
            ids: list[str] = list(json.loads(entry.value)) if entry is not None else []
            wanted = [i for i in ids if i not in (remove or [])] + ([add] if add and add not in ids else [])
            if wanted == ids and entry is not None:
                return
            try:
                if entry is None:
                    await self.reminders.create(key, json.dumps(wanted).encode())
                else:
                    await self.reminders.update(key, json.dumps(wanted).encode(), entry.revision)
                return
            except (KeyExists, WrongRevision):
                continue

    async def move(self, conversation: str, reminder_id: str, due_at: datetime, reason: str,
                   chain: Chain | None = None, *, expect_revision: int | None = None) -> Reminder:
        before: list[Reminder] = []

        def change(current: Reminder) -> Reminder | None:
            if current.status != "scheduled" or (expect_revision is not None and current.revision != expect_revision):
                return None
            before.append(current)
            return current.model_copy(update={"due_at": due_at, "revision": current.revision + 1})

        moved = await self._change(conversation, reminder_id, change)
        if not before:
            return moved
        await self.timers.set(conversation, reminder_id, moved.revision, due_at)
        await self._publish(ReminderRescheduled, moved, "rescheduled", ReminderRescheduledData(
            reminder_id=reminder_id, revision=moved.revision, due_at=due_at, previous_due_at=before[0].due_at,
            reason=reason,  # type: ignore[arg-type]
        ), chain)
        return moved

    async def cancel(self, conversation: str, reminder_id: str, reason: str, chain: Chain | None = None) -> Reminder:
        changed: list[bool] = []

        def change(current: Reminder) -> Reminder | None:
            if current.status != "scheduled":
                return None
            changed.append(True)
            return current.model_copy(update={"status": "cancelled"})

        cancelled = await self._change(conversation, reminder_id, change)
        await self.timers.cancel(conversation, reminder_id)  # again on a retry: purging nothing is fine
        await self._index(conversation, remove=[reminder_id])
        if changed or cancelled.status == "cancelled":
            await self._publish(ReminderCancelled, cancelled, "cancelled", ReminderCancelledData(
                reminder_id=reminder_id, revision=cancelled.revision, reason=reason,  # type: ignore[arg-type]
            ), chain)
        return cancelled

    async def settle(self, reminder: Reminder, status: str) -> bool:
        """Mark a due reminder sent or suppressed, only if it is still that revision and scheduled."""
        done: list[bool] = []

        def change(current: Reminder) -> Reminder | None:
            if current.revision != reminder.revision or current.status != "scheduled":
                return None
            done.append(True)
            return current.model_copy(update={"status": status})

        await self._change(reminder.conversation, reminder.reminder_id, change)
        await self._index(reminder.conversation, remove=[reminder.reminder_id])
        return bool(done)

    async def for_event(self, conversation: str, event_id: str) -> list[Reminder]:
        return [r for r in await self.active(conversation) if r.event_id == event_id]

    async def _change(self, conversation: str, reminder_id: str,
                      change: Callable[[Reminder], Reminder | None]) -> Reminder:
        key = _key(conversation, reminder_id)
        while True:
            entry = await self.reminders.get(key)
            if entry is None:
                raise ReminderNotFound(reminder_id)
            current = Reminder.model_validate_json(entry.value)
            new = change(current)
            if new is None:
                return current
            try:
                await self.reminders.update(key, _dump(new), entry.revision)
                return new
            except WrongRevision:
                continue  # someone else changed it meanwhile: decide again on what is there now

    async def _publish(self, cls: type[Event[Any]], reminder: Reminder, what: str, data: Any,
                       chain: Chain | None) -> None:
        event = cls(conversation=reminder.conversation, data=data, **(chain or {}))
        await self.events.publish(event, msg_id=f"reminder:{reminder.reminder_id}:{reminder.revision}:{what}")

    # --- preferences --------------------------------------------------------------------

    async def preferences_of(self, conversation: str) -> Preferences:
        entry = await self.preferences.get(conversation)
        return Preferences.model_validate_json(entry.value) if entry is not None else Preferences()

    async def set_opted_out(self, conversation: str, user: str, opted_out: bool, keyword: str,
                            msg_id: str, chain: Chain | None = None) -> None:
        """STOP / START: takes effect for every replica as soon as the bucket has it."""
        await self._update_preferences(conversation, lambda p: p.model_copy(update={"opted_out": opted_out}))
        cls: type[Event[Any]] = ProactiveMessagesStopped if opted_out else ProactiveMessagesResumed
        data = ProactiveMessagesChangedData(user=user, keyword=keyword[:40], message_sid=(chain or {}).get("correlation_id"))
        await self.events.publish(cls(conversation=conversation, data=data, **(chain or {})), msg_id=msg_id)

    async def set_preferences(self, conversation: str, changes: dict[str, Any], msg_id: str,
                              chain: Chain | None = None) -> Preferences:
        prefs = await self._update_preferences(conversation, lambda p: p.model_copy(update=changes))
        data = ReminderPreferencesChangedData(quiet_start=prefs.quiet_start, quiet_end=prefs.quiet_end,
                                              time_zone=prefs.time_zone,
                                              default_minutes_before=prefs.default_minutes_before)
        await self.events.publish(ReminderPreferencesChanged(conversation=conversation, data=data, **(chain or {})),
                                  msg_id=msg_id)
        return prefs

    async def _update_preferences(self, conversation: str, change: Callable[[Preferences], Preferences]) -> Preferences:
        while True:
            entry = await self.preferences.get(conversation)
            current = Preferences.model_validate_json(entry.value) if entry is not None else Preferences()
            new = change(current)
            try:
                if entry is None:
                    await self.preferences.create(conversation, new.model_dump_json().encode())
                else:
                    await self.preferences.update(conversation, new.model_dump_json().encode(), entry.revision)
                return new
            except (KeyExists, WrongRevision):
                continue


def _key(conversation: str, reminder_id: str) -> str:
    return f"{conversation}.{reminder_id}"


def _index_key(conversation: str) -> str:
    return f"index.{conversation}"


def _dump(reminder: Reminder) -> bytes:
    return json.dumps(reminder.model_dump(mode="json")).encode()


