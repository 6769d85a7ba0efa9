"""Alembic environment: runs on the connection `migrate()` hands over."""

from __future__ import annotations

from alembic import context

from services.calendar.tables import SCHEMA, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run calendar migrations through services.calendar.migrations.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=SCHEMA,
    include_schemas=True,
)
with context.begin_transaction():
    context.run_migrations()
