"""The `agent` schema: Alembic for the tables we own, the checkpointer's `setup()` for its own.

`migrate(database_url)` is safe to run from several replicas at once: each step
holds an advisory lock, so the first one migrates and the others find it done.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import DictRow, dict_row
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrations import upgrade_schema
from shared.settings import driver_url

SCHEMA = "agent"
HERE = Path(__file__).parent
_TABLES_LOCK = 0x0A6E_7001
_CHECKPOINTS_LOCK = 0x0A6E_7002


async def migrate(database_url: str) -> None:
    """Create or upgrade the schema, the agent's tables and the checkpointer's tables."""
    engine = create_async_engine(driver_url(database_url, "psycopg"))
    try:
        async with engine.begin() as conn:
            await upgrade_schema(conn, HERE, _TABLES_LOCK, SCHEMA)
    finally:
        await engine.dispose()
    async with await psycopg.AsyncConnection.connect(
        driver_url(database_url, ""), autocommit=True, row_factory=dict_row, options=f"-c search_path={SCHEMA}",
    ) as conn:
        # Poll rather than wait on the lock: the checkpointer's CREATE INDEX CONCURRENTLY
        # waits for every open statement, including another replica's lock wait. (No event
        # exists to await: ASYNC110 does not apply.)
        # (A SELECT of one function call always answers one row: hence the cast of fetchone().)
        while not cast(DictRow, await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_CHECKPOINTS_LOCK,))).fetchone())["ok"]:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        try:
            await AsyncPostgresSaver(conn).setup()  # its tables land in `agent` (search_path)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_CHECKPOINTS_LOCK,))
