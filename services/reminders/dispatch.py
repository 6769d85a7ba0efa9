"""Sending one due reminder, once, within WhatsApp's rules.

In order: a timer for an older revision, or for a reminder no longer scheduled, is
dropped; an opted-out user gets nothing (`ReminderSuppressed`, opted_out); inside quiet
hours the reminder moves to their end; inside the 24-hour window it goes as free-form
text, outside it as the configured Content API template, and with none configured
nothing is sent (`ReminderSuppressed`, no_template).

A send is recorded like a reply part (outbound's ledger, key `reminder-<id>-<revision>`):
`sending` before Twilio is asked, `sent:<sid>` once accepted, then `ReminderSent` is
published and the record is marked sent. A redelivered timer skips what is recorded; the
one window left (killed after Twilio accepted, before `sent` was stored) is outbound's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter, Histogram

from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.twilio_api import SendError
from services.reminders.book import ReminderBook
from services.reminders.model import Reminder
from services.reminders.quiet import quiet_until
from services.reminders.templates import freeform_text, template_for, template_variables
from services.reminders.timers import DueTimer
from services.reminders.window import inside_window, last_inbound
from shared.clock import SYSTEM_CLOCK, Clock
from shared.eventlog import EventLog
from shared.events import ReminderSent, ReminderSentData, ReminderSuppressed, ReminderSuppressedData
from shared.logging import get_logger

log = get_logger(__name__)

OUTCOMES = Counter("switchboard_reminders_total", "Due reminders by outcome", ["outcome"])
SENT = frozenset({"sent", "sent_template"})  # counted when Twilio accepts, in _fire
LATENESS = Histogram("switchboard_reminder_lateness_seconds", "Due time to Twilio accepting the reminder",
                     buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))


class ReminderSender(Protocol):
    async def send(self, from_: str, to: str, body: str, status_callback: str | None) -> str: ...
    async def send_content(self, from_: str, to: str, content_sid: str, variables: dict[str, str],
                           status_callback: str | None) -> str: ...


@dataclass
class Dispatch:
    book: ReminderBook
    events: EventLog
    sender: ReminderSender
    ledger: SentLedger
    templates: dict[str, dict[str, str]]
    status_callback: str | None = None
    clock: Clock = SYSTEM_CLOCK
    pacer: SenderPacer | None = None  # outbound's: replies and reminders share a sender's rate


def ledger_key(reminder: Reminder) -> str:
    return f"reminder-{reminder.reminder_id}-{reminder.revision}"


async def fire(timer: DueTimer, deps: Dispatch, last_attempt: bool = False) -> str:
    """Handle one fired timer; returns the outcome (also counted). Raises on a transient failure.

    A send is counted the moment Twilio accepts it, not here: the bookkeeping after it (the
    ReminderSent event, settling the reminder) may fail and be redone by a redelivered timer,
    which then finds the reminder settled ("stale") or already sent, and must not count the
    send a second time or lose it."""
    outcome = await _fire(timer, deps, last_attempt)
    if outcome not in SENT:
        OUTCOMES.labels(outcome).inc()
    return outcome


async def _fire(timer: DueTimer, deps: Dispatch, last_attempt: bool) -> str:
    reminder = await deps.book.get(timer.conversation, timer.reminder_id)
    if reminder is None or reminder.revision != timer.revision or reminder.status != "scheduled":
        return "stale"
    key = ledger_key(reminder)
    recorded = await deps.ledger.get(key, 1)
    if recorded and recorded.startswith(("sent:", "published:")):
        sid, _, sent_content = recorded.partition(":")[2].partition("|")
        return await _sent(deps, reminder, sid, recorded, sent_content or None)
    if recorded and recorded.startswith("failed:"):
        return await _suppress(deps, reminder, "send_failed", f"Twilio refused it ({recorded[7:]})")
    now = deps.clock.now()
    prefs = await deps.book.preferences_of(reminder.conversation)
    if prefs.opted_out:
        return await _suppress(deps, reminder, "opted_out", "the user sent STOP")
    until = quiet_until(prefs, now, reminder.time_zone)
    if until is not None:
        await deps.book.move(reminder.conversation, reminder.reminder_id, until, "quiet_hours",
                             expect_revision=reminder.revision)
        return "deferred_quiet_hours"
    last = await last_inbound(deps.events, reminder.conversation)
    content_sid: str | None = None
    if not inside_window(last, now):
        content_sid = template_for(deps.templates, reminder.language)
        if content_sid is None:
            seen = f"last message {last:%Y-%m-%d %H:%M} UTC" if last else "never wrote"
            return await _suppress(deps, reminder, "no_template",
                                   f"outside the 24-hour window ({seen}) and no '{reminder.language}' reminder template")
    if recorded and recorded.startswith("sending"):
        log.warning("reminder_outcome_unknown", reminder_id=reminder.reminder_id)  # at least once: sent again
    if deps.pacer is not None:
        await deps.pacer.wait(reminder.business)
    await deps.ledger.record(key, 1, f"sending:{time.time():.3f}")
    try:
        if content_sid is None:
            sid = await deps.sender.send(reminder.business, reminder.user, freeform_text(reminder), deps.status_callback)
        else:
            sid = await deps.sender.send_content(reminder.business, reminder.user, content_sid,
                                                 template_variables(reminder), deps.status_callback)
    except SendError as exc:
        if exc.permanent or last_attempt:
            await deps.ledger.record(key, 1, f"failed:{exc.code or exc.status}")
            return await _suppress(deps, reminder, "send_failed", f"Twilio error {exc.code}: {str(exc)[:200]}")
        if not exc.accepted_maybe:
            await deps.ledger.record(key, 1, f"unsent:{exc.code or exc.status}")
        raise
    OUTCOMES.labels("sent_template" if content_sid else "sent").inc()  # accepted by Twilio: counted once
    recorded = f"sent:{sid}|{content_sid or ''}"  # what went, so a redelivery publishes the same fact
    await deps.ledger.record(key, 1, recorded)
    LATENESS.observe(max(0.0, (deps.clock.now() - reminder.due_at).total_seconds()))
    return await _sent(deps, reminder, sid, recorded, content_sid)


async def _sent(deps: Dispatch, reminder: Reminder, sid: str, recorded: str, content_sid: str | None = None) -> str:
    event = ReminderSent(conversation=reminder.conversation, data=ReminderSentData(
        reminder_id=reminder.reminder_id, revision=reminder.revision, twilio_sid=sid,
        mode="template" if content_sid else "freeform", content_sid=content_sid, due_at=reminder.due_at,
        sent_at=deps.clock.now(),
    ))
    await deps.events.publish(event, msg_id=f"reminder:{reminder.reminder_id}:{reminder.revision}:sent")
    await deps.book.settle(reminder, "sent")
    if not recorded.startswith("published:"):
        await deps.ledger.record(ledger_key(reminder), 1, "published:" + recorded.partition(":")[2])
    return "sent_template" if content_sid else "sent"


async def _suppress(deps: Dispatch, reminder: Reminder, reason: str, detail: str) -> str:
    event = ReminderSuppressed(conversation=reminder.conversation, data=ReminderSuppressedData(
        reminder_id=reminder.reminder_id, revision=reminder.revision, reason=reason,  # type: ignore[arg-type]
        detail=detail, due_at=reminder.due_at,
    ))
    await deps.events.publish(event, msg_id=f"reminder:{reminder.reminder_id}:{reminder.revision}:suppressed")
    await deps.book.settle(reminder, "suppressed")
    log.info("reminder_suppressed", reminder_id=reminder.reminder_id, reason=reason)
    return f"suppressed_{reason}"
