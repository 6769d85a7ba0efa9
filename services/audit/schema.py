"""Bringing the `audit` schema up to date, at service start-up or before a replay.

Migrations run in one transaction that first takes a Postgres advisory lock, so any
number of replicas can start at once: one migrates, the others wait and find nothing
left to do.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.database import create_engine
from shared.migrations import upgrade_schema

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant that names "the audit migration" among advisory locks.
MIGRATION_LOCK = 0x5B_A0D1


async def upgrade(engine: AsyncEngine) -> None:
    """Run every pending migration on `engine`'s database."""
    async with engine.begin() as connection:
        await upgrade_schema(connection, MIGRATIONS, MIGRATION_LOCK)


async def migrate(database_url: str) -> None:
    """Create or upgrade the `audit` schema of the database at `database_url` (`postgresql://…`)."""
    engine = create_engine(database_url, pool_size=1)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
