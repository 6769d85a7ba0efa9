"""Conversation memory: one psycopg pool per process and the LangGraph Postgres checkpointer.

The pool uses autocommit and `dict_row`, as `AsyncPostgresSaver` needs, puts every
connection in the `agent` schema, and lets `PG_PREPARE_THRESHOLD` turn prepared
statements off (`None`) for PgBouncer in transaction mode.
"""

from __future__ import annotations

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from services.agent.migrations import SCHEMA
from shared.settings import driver_url


async def open_pool(database_url: str, max_size: int = 8, prepare_threshold: int | None = 5) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        driver_url(database_url, ""),
        min_size=1,
        max_size=max_size,
        open=False,
        name="agent",
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": prepare_threshold,
            "options": f"-c search_path={SCHEMA}",
        },
    )
    await pool.open(wait=True, timeout=30)
    return pool


def checkpointer(pool: AsyncConnectionPool) -> AsyncPostgresSaver:
    return AsyncPostgresSaver(pool)  # tables created by `migrations.migrate`


