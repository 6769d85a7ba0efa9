"""Alembic environment of the `audit` schema.

The service runs it through `services.audit.schema.migrate`, which hands over a
connection inside a transaction that already holds the migration lock. Developers can
also run it by hand (for `revision --autogenerate`):
`DATABASE_URL=postgresql://… alembic -c services/audit/migrations/alembic.ini upgrade head`.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.audit.tables import SCHEMA, metadata
from shared.migrations import create_schema_sql
from shared.settings import driver_url


def only_audit_schema(name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames) -> bool:
    if type_ == "schema":
        return name == SCHEMA
    return True


def run_migrations(connection: Connection) -> None:
    # The version table lives in the schema, so the schema must exist before Alembic looks.
    connection.execute(text(create_schema_sql(SCHEMA)))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=only_audit_schema,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_by_hand() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL=postgresql://… to run the audit migrations by hand")
    engine = create_async_engine(driver_url(url, "asyncpg"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the audit migrations run online only")

shared_connection = context.config.attributes.get("connection")
if shared_connection is not None:
    run_migrations(shared_connection)
else:
    asyncio.run(run_by_hand())
