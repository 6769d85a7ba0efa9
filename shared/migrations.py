"""Running a service's Alembic migrations at start-up, safely from many replicas at once.

Each service owns one schema and one migrations folder. `upgrade_schema` takes a Postgres
advisory lock for the whole upgrade, so the first replica migrates and the others wait,
then find nothing left to do. Needs `sqlalchemy` and `alembic` (the services that own
tables install them).

Migrations run as the service's own database role, which owns its schema (created by
`switchboard db-roles` or the bootstrap SQL in docs/deploy.md). Such a role may not
create schemas, and Postgres checks that privilege even for `CREATE SCHEMA IF NOT
EXISTS`, so the schema is created only when it is missing.
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


def create_schema_sql(schema: str) -> str:
    """SQL that creates `schema` only if it does not exist (see the module docstring)."""
    if not schema.isidentifier() or schema.lower() != schema:
        raise ValueError(f"not a plain lower-case schema name: {schema!r}")
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = '{schema}') "
        f"THEN CREATE SCHEMA {schema}; END IF; END $$"
    )


async def upgrade_schema(
    conn: AsyncConnection, script_location: Path, lock_key: int, schema: str | None = None
) -> None:
    """Upgrade to `head` inside the caller's transaction, holding the advisory lock `lock_key`.

    With `schema`, the schema is created first and holds Alembic's version table.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    if schema:
        await conn.execute(text(create_schema_sql(schema)))

    def upgrade(sync_conn: Connection) -> None:
        config = alembic_config(script_location, schema)
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "head")

    await conn.run_sync(upgrade)
