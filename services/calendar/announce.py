"""Every change to a calendar becomes a `CalendarEvent*` fact on the stream.

The `Nats-Msg-Id` is derived from what changed (`calendar:<event id>:<change>`, with the
revision for updates), so a retried request that repeats a change stores no second event.
"""

from __future__ import annotations

import hashlib

from services.calendar.ports import StoredEvent
from shared.calendar import CalendarError, CalendarRequest, ErrorCode
from shared.eventlog import EventLog, PublishFailed
from shared.events import (
    CalendarEventCreated,
    CalendarEventData,
    CalendarEventDeleted,
    CalendarEventUpdated,
    Event,
)
from shared.logging import get_logger

log = get_logger(__name__)

CHANGES: dict[str, type[CalendarEventCreated] | type[CalendarEventUpdated] | type[CalendarEventDeleted]] = {
    "created": CalendarEventCreated,
    "updated": CalendarEventUpdated,
    "deleted": CalendarEventDeleted,
}


def change_msg_id(change: str, event: StoredEvent) -> str:
    if change == "updated":
        revision = hashlib.sha256(event.revision.encode()).hexdigest()[:16]
        return f"calendar:{event.event_id}:updated:{revision}"
    return f"calendar:{event.event_id}:{change}"


def change_event(change: str, owner: str, request: CalendarRequest, event: StoredEvent) -> Event:
    return CHANGES[change](
        conversation=request.conversation,
        correlation_id=request.correlation_id,
        causation_id=request.causation_id,
        data=CalendarEventData(
            event_id=event.event_id, owner=owner, summary=event.summary,
            start=event.start, end=event.end, time_zone=event.time_zone,
        ),
    )


async def announce(events: EventLog, change: str, owner: str, request: CalendarRequest, event: StoredEvent) -> None:
    """Publish the change; if the stream cannot store it, the caller learns it failed.

    The change itself stands. A retried create with the same `request_id` finds the event
    and publishes it then, under the same `Nats-Msg-Id`.
    """
    try:
        await events.publish(change_event(change, owner, request, event), change_msg_id(change, event))
    except PublishFailed as exc:
        log.error("calendar_change_not_recorded", change=change, event_id=event.event_id, error=str(exc))
        raise CalendarError(
            ErrorCode.BACKEND_UNAVAILABLE,
            "I made the change but couldn't record it; please check your calendar in a moment.",
        ) from exc
