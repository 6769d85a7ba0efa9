"""Reading audit's tables (read-only): conversations, their events, dead letters' events.

The console never writes to Postgres; its database role needs SELECT on `audit.*` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import driver_url

# The last event that says where a conversation stands (status callbacks other than a
# failure say nothing about it), and the last language the transcriber heard.
_CONVERSATIONS = """
SELECT c.conversation, c.user_number, c.business_number, c.last_activity_at,
       c.inbound_count, c.outbound_count, last.type AS last_type, last.status AS last_status, lang.language
FROM audit.conversations c
LEFT JOIN LATERAL (
    SELECT e.type, e.payload->'data'->>'status' AS status FROM audit.events e
    WHERE e.conversation = c.conversation
      AND (e.type <> 'DeliveryStatusChanged' OR e.payload->'data'->>'status' IN ('failed', 'undelivered'))
      AND e.type NOT IN ('DeadLetterRetried', 'DeadLetterDiscarded')
    ORDER BY e.stream_seq DESC LIMIT 1
) last ON true
LEFT JOIN LATERAL (
    SELECT e.payload->'data'->>'language' AS language FROM audit.events e
    WHERE e.conversation = c.conversation AND e.type = 'MessageTranscribed'
      AND e.payload->'data'->>'language' IS NOT NULL
    ORDER BY e.stream_seq DESC LIMIT 1
) lang ON true
WHERE {where}
ORDER BY c.last_activity_at DESC
LIMIT :limit
"""

ANSWERING = {"MessageReceived", "MessageTranscribed", "ReplyComposed"}
FAILED = {"SendFailed", "AgentFailed", "MessageDeadLettered", "DeliveryStatusChanged"}


@dataclass(frozen=True)
class ConversationSummary:
    conversation: str
    user_number: str | None
    business_number: str | None
    last_activity_at: datetime
    inbound_count: int
    outbound_count: int
    state: str
    language: str | None


def state_of(last_type: str | None) -> str:
    """waiting (for the user), answering (we owe a reply) or failed (the last attempt did)."""
    if last_type in ANSWERING:
        return "answering"
    if last_type in FAILED:
        return "failed"
    return "waiting"


def search_digits(search: str) -> str:
    return re.sub(r"\D", "", search)


def create_engine(database_url: str, pool_size: int = 4) -> AsyncEngine:
    return create_async_engine(
        driver_url(database_url, "asyncpg"), pool_size=pool_size, max_overflow=0, pool_pre_ping=True,
        connect_args={"timeout": 5.0, "server_settings": {"application_name": "switchboard-console",
                                                          "default_transaction_read_only": "on"}},
    )


class AuditReader:
    """Queries on audit's read models and record."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def conversations(self, search: str = "", exact_only: bool = False, limit: int = 50) -> list[ConversationSummary]:
        """Most recent first. `search`: a conversation id, or digits of the user's number
        (the whole number when `exact_only`, so a masked operator cannot enumerate numbers)."""
        params: dict[str, Any] = {"limit": limit}
        search = search.strip()
        if not search:
            where = "true"
        elif re.fullmatch(r"c[0-9a-f]{24}", search):
            where, params["conversation"] = "c.conversation = :conversation", search
        else:
            digits = search_digits(search)
            if not digits:
                return []
            params["digits"] = digits if exact_only else f"%{digits}%"
            operator = "=" if exact_only else "LIKE"
            where = f"regexp_replace(coalesce(c.user_number, ''), '\\D', '', 'g') {operator} :digits"
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text(_CONVERSATIONS.format(where=where)), params)).mappings().all()
        return [
            ConversationSummary(
                r["conversation"], r["user_number"], r["business_number"], r["last_activity_at"],
                r["inbound_count"], r["outbound_count"], state_of(r["last_type"]), r["language"],
            )
            for r in rows
        ]

    async def conversation(self, conversation: str) -> ConversationSummary | None:
        found = await self.conversations(conversation, limit=1)
        return found[0] if found else None

    async def events(self, conversation: str, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """A conversation's recorded events in stream order, after `after_seq`."""
        query = text(
            "SELECT stream_seq, type, occurred_at, stored_at, event_id, causation_id, correlation_id, payload, error "
            "FROM audit.events WHERE conversation = :conversation AND stream_seq > :after "
            "ORDER BY stream_seq LIMIT :limit"
        )
        async with self.engine.connect() as connection:
            result = await connection.execute(query, {"conversation": conversation, "after": after_seq, "limit": limit})
            return [dict(row) for row in result.mappings()]

    async def messages(self, conversation: str) -> list[dict[str, Any]]:
        """The conversation's WhatsApp messages (audit.messages), oldest first."""
        query = text(
            "SELECT message_sid, direction, reply_id, part, parts, body, media_count, status, status_at, error_code, "
            "created_at, updated_at FROM audit.messages WHERE conversation = :conversation "
            "ORDER BY coalesce(created_at, updated_at), message_sid"
        )
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query, {"conversation": conversation})).mappings()]

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
