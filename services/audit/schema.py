"""Bringing the `audit` schema up to date, at service start-up or before a replay.

Migrations run in one transaction that first takes a Postgres advisory lock, so any
number of replicas can start at once: one migrates, the others wait and find nothing
left to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.database import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant that names "the audit migration" among advisory locks.
MIGRATION_LOCK = 0x5B_A0D1


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Run every pending migration on `engine`'s database."""
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.run_sync(_upgrade)


async def migrate(database_url: str) -> None:
    """Create or upgrade the `audit` schema of the database at `database_url` (`postgresql://…`)."""
    engine = create_engine(database_url, pool_size=1)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
