"""Alembic environment: runs on the connection `migrate()` hands over."""

from __future__ import annotations

from alembic import context

from services.agent.migrations import SCHEMA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run agent migrations through services.agent.migrations.migrate()")

context.configure(connection=connection, version_table_schema=SCHEMA, include_schemas=True)
with context.begin_transaction():
    context.run_migrations()
