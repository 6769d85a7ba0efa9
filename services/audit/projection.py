"""Writing events into the audit tables: the append-only record and the read models.

`record` inserts into `audit.events` keyed by stream sequence and returns only what was
new, so a redelivered batch changes nothing. `project` folds events into
`audit.messages` and `audit.conversations`. Every merge is order-independent (counts
add up, times take least/greatest, a status only gives way to a higher-ranked one,
a message's own facts fill in what is missing), so replicas committing batches in
any order, and a replay in stream order, all end with the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, case, func, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit.bulk import as_arrays, insert_from_arrays
from services.audit.records import EventRecord, storable_row
from services.audit.tables import conversations, events, messages
from shared.events import (
    PRIVACY_RECORDS,
    DeliveryStatusChanged,
    Event,
    MessageReceived,
    MessageSent,
    ReplyComposed,
)
from shared.ids import normalise_address

EVENT_COLUMNS = [column.name for column in events.columns if column.name != "recorded_at"]  # Postgres sets it
MESSAGE_COLUMNS = [column.name for column in messages.columns]
CONVERSATION_COLUMNS = [column.name for column in conversations.columns]

EVENTS_INSERT = (
    insert_from_arrays(events, EVENT_COLUMNS)
    .on_conflict_do_nothing(index_elements=[events.c.stream_seq])
    .returning(events.c.stream_seq)
)


async def record(connection: AsyncConnection, records: Sequence[EventRecord]) -> list[EventRecord]:
    """Insert into `audit.events`; return the records that were not there yet, in stream order."""
    by_seq = {r.stream_seq: r for r in records}
    if not by_seq:
        return []
    rows = [by_seq[seq].row for seq in sorted(by_seq)]
    result = await connection.execute(EVENTS_INSERT, as_arrays(rows, EVENT_COLUMNS))
    return [by_seq[seq] for seq in sorted(row[0] for row in result)]


async def project(connection: AsyncConnection, events_: Iterable[Event]) -> None:
    """Fold events into the read models. Call it once per event: it is not idempotent by itself."""
    events_ = list(events_)
    facts = [storable_row(fact) for e in events_ if (fact := message_fact(e)) is not None]
    await _upsert_messages(connection, facts)
    await _upsert_conversations(connection, [storable_row(row) for row in conversation_totals(events_)])


# --- messages -------------------------------------------------------------------------


def message_fact(event: Event) -> dict[str, Any] | None:
    """What one event says about one WhatsApp message, as a partial `audit.messages` row."""
    fact: dict[str, Any] = dict.fromkeys(MESSAGE_COLUMNS)
    fact["conversation"] = event.conversation
    if isinstance(event, MessageReceived):
        data = event.data
        return fact | {
            "message_sid": data.message_sid, "direction": "inbound", "from_number": data.from_,
            "to_number": data.to, "body": data.body, "media_count": len(data.media),
            "status": "received", "status_at": data.received_at,
            "created_at": data.received_at, "updated_at": data.received_at,
        }
    if isinstance(event, MessageSent):
        sent = event.data
        return fact | {
            "message_sid": sent.twilio_sid, "direction": "outbound", "reply_id": sent.reply_id,
            "part": sent.part, "parts": sent.parts, "from_number": sent.from_, "to_number": sent.to,
            "body": sent.body, "status": "sent", "status_at": event.occurred_at,
            "created_at": event.occurred_at, "updated_at": event.occurred_at,
        }
    if isinstance(event, DeliveryStatusChanged):
        # May come before its MessageSent: then this makes a placeholder that MessageSent completes.
        report = event.data
        return fact | {
            "message_sid": report.twilio_sid, "direction": "outbound", "status": report.status,
            "status_at": report.reported_at, "error_code": bigint(report.error_code),
            "error_status": report.status if bigint(report.error_code) is not None else None,
            "updated_at": report.reported_at,
        }
    return None


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def bigint(value: int | None) -> int | None:
    """`value` if a BIGINT column can hold it, else None: the event in `audit.events` keeps
    the number as published, the read model just does not project it."""
    return value if value is not None and BIGINT_MIN <= value <= BIGINT_MAX else None


def _message_upsert():
    statement = insert_from_arrays(messages, MESSAGE_COLUMNS)
    new, old = statement.excluded, messages.c
    rank = func.audit.status_rank
    higher = rank(new.status) > rank(old.status)
    same = rank(new.status) == rank(old.status)
    # The error code that goes with the highest-ranked status that reported one.
    take_error = and_(
        new.error_code.is_not(None),
        or_(
            old.error_code.is_(None),
            rank(new.error_status) > rank(old.error_status),
            and_(rank(new.error_status) == rank(old.error_status), new.error_code > old.error_code),
        ),
    )
    facts = ("conversation", "reply_id", "part", "parts", "from_number", "to_number", "body", "media_count")
    return statement.on_conflict_do_update(
        index_elements=[old.message_sid],
        set_={
            # A status-only placeholder has no created_at; the message's own event decides.
            "direction": case((old.created_at.is_(None), new.direction), else_=old.direction),
            **{name: func.coalesce(old[name], new[name]) for name in facts},
            "status": case((higher, new.status), else_=old.status),
            "status_at": case(
                (higher, new.status_at), (same, func.least(old.status_at, new.status_at)), else_=old.status_at
            ),
            "error_code": case((take_error, new.error_code), else_=old.error_code),
            "error_status": case((take_error, new.error_status), else_=old.error_status),
            "created_at": func.least(old.created_at, new.created_at),
            "updated_at": func.greatest(old.updated_at, new.updated_at),
        },
    )


MESSAGE_UPSERT = _message_upsert()


def in_rounds(facts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split facts so no round touches a message twice (one statement cannot update a row twice).

    Rounds are sorted by sid, so concurrent replicas lock rows in the same order.
    """
    per_sid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fact in facts:
        per_sid[fact["message_sid"]].append(fact)
    rounds: list[list[dict[str, Any]]] = []
    for sid in sorted(per_sid):
        for depth, fact in enumerate(per_sid[sid]):
            if depth == len(rounds):
                rounds.append([])
            rounds[depth].append(fact)
    return rounds


async def _upsert_messages(connection: AsyncConnection, facts: list[dict[str, Any]]) -> None:
    for round_ in in_rounds(facts):
        await connection.execute(MESSAGE_UPSERT, as_arrays(round_, MESSAGE_COLUMNS))


# --- conversations --------------------------------------------------------------------


def _numbers(event: Event) -> tuple[str | None, str | None]:
    """(business number, user number) as far as this event tells."""
    data: Any = event.data
    if isinstance(event, MessageReceived):
        return normalise_address(data.to), normalise_address(data.from_)
    if isinstance(event, (MessageSent, ReplyComposed, DeliveryStatusChanged)):
        business, user = data.from_, data.to
        return (normalise_address(business) if business else None, normalise_address(user) if user else None)
    return None, None


def conversation_totals(events_: Iterable[Event]) -> list[dict[str, Any]]:
    """One `audit.conversations` delta per conversation, sorted by conversation id."""
    totals: dict[str, dict[str, Any]] = {}
    for event in events_:
        if event.conversation == PRIVACY_RECORDS:  # erasure and retention records belong to no conversation
            continue
        at: datetime = event.occurred_at
        row = totals.setdefault(event.conversation, {
            "conversation": event.conversation, "business_number": None, "user_number": None,
            "first_activity_at": at, "last_activity_at": at,
            "inbound_count": 0, "outbound_count": 0, "event_count": 0,
        })
        business, user = _numbers(event)
        row["business_number"] = row["business_number"] or business
        row["user_number"] = row["user_number"] or user
        row["first_activity_at"] = min(row["first_activity_at"], at)
        row["last_activity_at"] = max(row["last_activity_at"], at)
        row["inbound_count"] += isinstance(event, MessageReceived)
        row["outbound_count"] += isinstance(event, MessageSent)
        row["event_count"] += 1
    return [totals[key] for key in sorted(totals)]


def _conversation_upsert():
    statement = insert_from_arrays(conversations, CONVERSATION_COLUMNS)
    new, old = statement.excluded, conversations.c
    return statement.on_conflict_do_update(
        index_elements=[old.conversation],
        set_={
            "business_number": func.coalesce(old.business_number, new.business_number),
            "user_number": func.coalesce(old.user_number, new.user_number),
            "first_activity_at": func.least(old.first_activity_at, new.first_activity_at),
            "last_activity_at": func.greatest(old.last_activity_at, new.last_activity_at),
            "inbound_count": old.inbound_count + new.inbound_count,
            "outbound_count": old.outbound_count + new.outbound_count,
            "event_count": old.event_count + new.event_count,
        },
    )


CONVERSATION_UPSERT = _conversation_upsert()


async def _upsert_conversations(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(CONVERSATION_UPSERT, as_arrays(rows, CONVERSATION_COLUMNS))
