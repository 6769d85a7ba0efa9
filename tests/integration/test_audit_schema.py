"""The audit schema's migrations on a real Postgres."""

from __future__ import annotations

import asyncio
from typing import get_args

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.audit.database import create_engine
from services.audit.migrations import migrate as migrate_from_package
from services.audit.schema import migrate
from services.audit.tables import SCHEMA, metadata
from shared.events import DeliveryStatus


async def fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


async def test_replicas_starting_together_migrate_once(database_url):
    await asyncio.gather(*(migrate(database_url) for _ in range(3)))
    await migrate_from_package(database_url)  # where `switchboard up` finds it
    assert [tuple(r) for r in await fetch(database_url, "SELECT version_num FROM audit.alembic_version")] == [("0003",)]
    tables = await fetch(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'audit' ORDER BY 1")
    assert [r[0] for r in tables] == ["alembic_version", "conversations", "events", "messages"]


async def test_the_migrated_schema_matches_the_table_definitions(database_url):
    await migrate(database_url)

    def ours(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return name == SCHEMA
        return not (type_ == "table" and name == "alembic_version")

    def differences(connection) -> list:
        context = MigrationContext.configure(connection, opts={"include_schemas": True, "include_name": ours})
        return compare_metadata(context, metadata)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_statuses_rank_by_how_far_a_message_got(database_url):
    await migrate(database_url)
    statuses = list(get_args(DeliveryStatus))
    ranks = dict(
        tuple(r)
        for r in await fetch(
            database_url,
            "SELECT s, audit.status_rank(s) FROM unnest(ARRAY[" + ",".join(f"'{s}'" for s in statuses) + "]) AS s",
        )
    )
    assert len(set(ranks.values())) == len(statuses) and 0 not in ranks.values()  # a strict, total order
    lifecycle = ["queued", "sending", "sent", "failed", "delivered", "read"]
    assert [ranks[s] for s in lifecycle] == sorted(ranks[s] for s in lifecycle)
    assert ranks["undelivered"] < ranks["delivered"]


async def test_the_event_record_is_append_only(database_url):
    await migrate(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO audit.events (stream_seq, subject, type, payload) VALUES (1, 'wa.x.0.c', 'unknown', '{}')"
        )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("UPDATE audit.events SET type = 'other'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("DELETE FROM audit.events")
        async with connection.transaction():  # an erasure or retention sweep says why (services/audit/privacy.py)
            await connection.execute("SET LOCAL audit.allow_delete = 'erasure'")
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await connection.execute("UPDATE audit.events SET type = 'other'")
        async with connection.transaction():
            await connection.execute("SET LOCAL audit.allow_delete = 'whatever'")
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await connection.execute("DELETE FROM audit.events")
        async with connection.transaction():
            await connection.execute("SET LOCAL audit.allow_delete = 'retention'")
            assert await connection.execute("DELETE FROM audit.events") == "DELETE 1"
    finally:
        await connection.close()
