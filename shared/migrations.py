"""Running a service's Alembic migrations at start-up, safely from many replicas at once.

Each service owns one schema and one migrations folder. `upgrade_schema` takes a Postgres
advisory lock for the whole upgrade, so the first replica migrates and the others wait,
then find nothing left to do. Needs `sqlalchemy` and `alembic` (the services that own
tables install them).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection


def alembic_config(script_location: Path, version_schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if version_schema:
        config.set_main_option("version_table_schema", version_schema)
    return config


async def upgrade_schema(
    conn: AsyncConnection, script_location: Path, lock_key: int, schema: str | None = None
) -> None:
    """Upgrade to `head` inside the caller's transaction, holding the advisory lock `lock_key`.

    With `schema`, the schema is created first and holds Alembic's version table.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    if schema:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    def upgrade(sync_conn: Connection) -> None:
        config = alembic_config(script_location, schema)
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "head")

    await conn.run_sync(upgrade)
