"""Alembic migrations of the `calendar` schema; `migrate(database_url)` runs them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from services.calendar.tables import SCHEMA
from shared.migrations import upgrade_schema
from shared.settings import driver_url

HERE = Path(__file__).parent
# Replicas starting together take turns: the first migrates, the others find it done.
_LOCK_KEY = 0x5CA1_E4DA


async def migrate(database_url: str) -> None:
    """Bring the `calendar` schema to the latest revision. Safe to run concurrently."""
    engine = create_async_engine(driver_url(database_url, "asyncpg"))
    try:
        async with engine.begin() as conn:
            await upgrade_schema(conn, HERE, _LOCK_KEY, SCHEMA)
    finally:
        await engine.dispose()
