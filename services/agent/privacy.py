"""The agent's personal data: checkpoint threads (conversation memory) and chosen time zones.

An erasure also starts the conversation afresh for the agent. The operator tool writes
the erasure's cut sequence under a salted hash of the conversation in `PRIVACY_CUTS`
before it erases anything; from then on the agent answers inputs after the cut on a new
thread, `<conversation>.<cut>`, which starts empty (no memory, `answered_seq` 0), so a
message that arrives during or after the erasure is answered and never sees, or
resurrects, the erased memory. Erasing removes every other thread of the conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row

from services.agent.migrations import SCHEMA
from shared.eventlog import KeyValueStore
from shared.privacy import DataSubject, salted_hash
from shared.settings import driver_url

CUTS_BUCKET = "PRIVACY_CUTS"
CUTS_DESCRIPTION = "erasure cut per salted conversation hash: the agent answers later inputs on a fresh thread"
_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


def thread_id(conversation: str, cut: int | None) -> str:
    """The checkpoint thread of a conversation's inputs after its latest erasure cut (if any)."""
    return conversation if not cut else f"{conversation}.{cut}"


def conversation_of(thread: str) -> str:
    """The conversation a checkpoint thread belongs to."""
    return thread.split(".", 1)[0]


async def current_cut(cuts: KeyValueStore | None, conversation: str, salt: str) -> int | None:
    """The latest erasure cut of `conversation`, or None if it was never erased."""
    if cuts is None:
        return None
    entry = await cuts.get(salted_hash(conversation, salt))
    return int(entry.value) if entry is not None and entry.value else None


async def thread_for(cuts: KeyValueStore | None, conversation: str, seq: int, salt: str) -> str:
    """The thread answering input `seq`: a fresh one after the latest erasure cut."""
    cut = await current_cut(cuts, conversation, salt)
    return thread_id(conversation, cut if cut is not None and seq > cut else None)


def _message(message: Any) -> dict[str, Any]:
    return {"role": getattr(message, "type", "?"), "content": getattr(message, "content", str(message))}


class AgentData:
    """The `agent` schema as a `PersonalDataStore` and a `RetentionSweeper`."""

    name = "agent"

    def __init__(self, database_url: str):
        self.url = driver_url(database_url, "")

    def _connect(self) -> Any:
        return psycopg.AsyncConnection.connect(self.url, autocommit=True, row_factory=dict_row,
                                               options=f"-c search_path={SCHEMA}")

    async def _threads(self, conn: Any, conversation: str) -> list[str]:
        found = await conn.execute(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id = %s OR thread_id LIKE %s",
            (conversation, f"{conversation}.%"))
        return [row["thread_id"] for row in await found.fetchall()]

    async def export(self, subject: DataSubject) -> Any:
        exported: dict[str, Any] = {"memory": [], "time_zones": []}
        async with await self._connect() as conn:
            saver = AsyncPostgresSaver(conn)  # type: ignore[arg-type]
            for conversation in subject.conversations:
                for thread in await self._threads(conn, conversation):
                    found = await saver.aget_tuple({"configurable": {"thread_id": thread}})
                    values = found.checkpoint.get("channel_values", {}) if found else {}
                    exported["memory"].append({
                        "thread": thread, "summary": values.get("summary", ""),
                        "messages": [_message(m) for m in values.get("messages", [])],
                    })
            rows = await conn.execute("SELECT conversation, time_zone, updated_at FROM user_time_zones "
                                      "WHERE conversation = ANY(%s)", (list(subject.conversations),))
            exported["time_zones"] = [{**row, "updated_at": row["updated_at"].isoformat()}
                                      for row in await rows.fetchall()]
        return exported

    async def erase(self, subject: DataSubject) -> int:
        removed = 0
        async with await self._connect() as conn:
            for conversation in subject.conversations:
                keep = thread_id(conversation, subject.cut_seq)  # the fresh thread after this cut
                for thread in await self._threads(conn, conversation):
                    if thread != keep:
                        removed += await self._delete_thread(conn, thread)
                removed += (await conn.execute("DELETE FROM user_time_zones WHERE conversation = %s",
                                               (conversation,))).rowcount
        return removed

    async def sweep(self, before: datetime) -> int:
        """Drop the threads whose newest checkpoint is older than `before`."""
        removed = 0
        async with await self._connect() as conn:
            stale = await conn.execute(
                "SELECT thread_id FROM checkpoints GROUP BY thread_id "
                "HAVING max((checkpoint->>'ts')::timestamptz) < %s", (before,))
            for row in await stale.fetchall():
                removed += await self._delete_thread(conn, row["thread_id"])
        return removed

    @staticmethod
    async def _delete_thread(conn: Any, thread: str) -> int:
        removed = 0
        async with conn.transaction():
            for table in _TABLES:
                removed += (await conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread,))).rowcount
        return removed
