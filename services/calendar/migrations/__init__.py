"""Alembic migrations of the `calendar` schema; `migrate(database_url)` runs them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.calendar.tables import SCHEMA
from shared.settings import driver_url

HERE = Path(__file__).parent
# Replicas starting together take turns: the first migrates, the others find it done.
_LOCK_KEY = 0x5CA1_E4DA


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_table_schema", SCHEMA)
    return config


async def migrate(database_url: str) -> None:
    """Bring the `calendar` schema to the latest revision. Safe to run concurrently."""
    engine = create_async_engine(driver_url(database_url, "asyncpg"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def _upgrade(connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
