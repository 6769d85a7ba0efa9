"""Audit's personal data: its rows of a user's conversations, and retention by age.

Audit owns the `audit` schema, so this is the one place that deletes from it: an
erasure removes every row of the user's conversations (events, messages, the
conversation row), and a retention sweep removes what occurred before the limit.
The erasure record itself is an event (`UserDataErased`) with no personal data, so
audit keeps it like any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable

from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.projection import project
from services.audit.tables import conversations, events, messages
from shared.events import Event, UnknownEvent, decode
from shared.ids import normalise_address
from shared.privacy import DataSubject


def _rows(result: Any) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row._mapping.items()} for row in result]


def _decoded(payload: Any) -> Event[Any] | None:
    try:
        return decode(payload)
    except (UnknownEvent, ValueError):
        return None


class AuditData:
    name = "audit"

    def __init__(self, engine: AsyncEngine, caught_up: Callable[[int], Awaitable[None]] | None = None):
        self.engine = engine
        self.caught_up = caught_up  # waits until the audit consumer has passed a stream sequence

    async def conversations_of(self, number: str) -> set[str]:
        """The conversations audit knows for a user number."""
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(conversations.c.conversation).where(conversations.c.user_number == normalise_address(number)))
            return {row[0] for row in found}

    async def business_numbers(self) -> set[str]:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(conversations.c.business_number).distinct()
                                       .where(conversations.c.business_number.is_not(None)))
            return {row[0] for row in found}

    async def export(self, subject: DataSubject) -> Any:
        wanted = list(subject.conversations)
        async with self.engine.connect() as conn:
            return {
                "conversations": _rows(await conn.execute(
                    select(conversations).where(conversations.c.conversation.in_(wanted)))),
                "messages": _rows(await conn.execute(
                    select(messages).where(messages.c.conversation.in_(wanted)).order_by(messages.c.created_at))),
                "events": _rows(await conn.execute(
                    select(events).where(events.c.conversation.in_(wanted)).order_by(events.c.stream_seq))),
            }

    async def erase(self, subject: DataSubject) -> int:
        """Drop the conversations' events up to the cut (and later ones whose chain began before
        it, as the stream eraser does), then rebuild their read-model rows from what is left:
        the messages written during the erasure stay, as a fresh conversation."""
        if self.caught_up is not None:
            await self.caught_up(subject.cut_seq)  # nothing up to the cut is still on its way in
        wanted = list(subject.conversations)
        numbers = [normalise_address(subject.number), f"whatsapp:{normalise_address(subject.number)}"]
        ours = or_(events.c.conversation.in_(wanted), *(events.c.subject.like(f"%.{c}") for c in wanted))
        later_ids = select(events.c.event_id).where(ours, events.c.stream_seq > subject.cut_seq,
                                                    events.c.event_id.is_not(None))
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL audit.allow_delete = 'erasure'"))  # see migration 0003
            removed = (await conn.execute(delete(events).where(ours, or_(
                events.c.stream_seq <= subject.cut_seq,
                and_(events.c.correlation_id.is_not(None), events.c.correlation_id.not_in(later_ids)),
            )))).rowcount
            # audit keeps the addresses as Twilio wrote them: both forms
            removed += (await conn.execute(delete(messages).where(or_(
                messages.c.conversation.in_(wanted), messages.c.from_number.in_(numbers),
                messages.c.to_number.in_(numbers))))).rowcount
            removed += (await conn.execute(delete(conversations).where(or_(
                conversations.c.conversation.in_(wanted), conversations.c.user_number.in_(numbers[:1]))))).rowcount
            kept = await conn.execute(select(events.c.payload).where(ours).order_by(events.c.stream_seq))
            await project(conn, [event for row in kept if (event := _decoded(row[0])) is not None])
        return int(removed)

    async def sweep(self, before: datetime) -> int:
        """Remove events and messages that occurred before `before`, and conversations idle since."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL audit.allow_delete = 'retention'"))
            removed = (await conn.execute(delete(events).where(
                func.coalesce(events.c.occurred_at, events.c.stored_at, events.c.recorded_at) < before))).rowcount
            removed += (await conn.execute(delete(messages).where(
                func.coalesce(messages.c.created_at, messages.c.updated_at) < before))).rowcount
            removed += (await conn.execute(delete(conversations).where(
                conversations.c.last_activity_at < before))).rowcount
        return int(removed)
