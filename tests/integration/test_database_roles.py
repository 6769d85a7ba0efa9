"""Least-privilege Postgres roles: each service owns its schema and nothing else.

Roles are cluster-wide, so every test provisions its own (`t<hex>_audit`, ...) on its
own database with the same code `switchboard up` and `switchboard db-roles` run, and
drops them afterwards. The session's Postgres URL stays the superuser's, for setup.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.agent.migrations import migrate as migrate_agent
from services.audit.schema import migrate as migrate_audit
from services.calendar.migrations import migrate as migrate_calendar
from shared.database_role import PrivilegedDatabaseRole, check_database_role
from shared.events import ReplyComposed
from switchboard.database_roles import ServiceRole, provision_roles
from switchboard.infra import NatsServer, free_port
from switchboard.stack_database import with_login
from tests.fakes.calendar_rig import calendar_rig
from tests.integration.test_agent_memory import OWNER_A, Recorder, agent_settings, running_agent, send_text, wait_until
from tests.integration.test_audit import caught_up, publish, received, running_audit, scalar
from tests.waiting import scaled

SCHEMAS = {"audit": ("audit",), "agent": ("agent",), "calendar": ("calendar",)}
# A table of each service that another service must not see.
TABLES = {"audit": "audit.events", "agent": "agent.checkpoints", "calendar": "calendar.events"}
REPO = Path(__file__).resolve().parents[2]


def service_roles(prefix: str, password: str | None = None) -> list[ServiceRole]:
    return [ServiceRole(service, f"{prefix}_{service}", password or uuid.uuid4().hex, schemas)
            for service, schemas in SCHEMAS.items()]


@pytest_asyncio.fixture
async def roles(database_url: str):
    """Each service's own URL on the test database, after provisioning its role."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    made = service_roles(prefix)
    await provision_roles(database_url, made)
    yield {role.service: with_login(database_url, role.role, role.password) for role in made}
    admin = await asyncpg.connect(database_url)
    try:
        names = ", ".join(role.role for role in made)
        await admin.execute(f"DROP OWNED BY {names} CASCADE; DROP ROLE {names}")
    finally:
        await admin.close()


async def fetch(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


async def run(url: str, sql: str) -> None:
    """One or more statements (the simple protocol)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def migrate_all(roles: dict[str, str]) -> None:
    await migrate_audit(roles["audit"])
    await migrate_agent(roles["agent"])
    await migrate_calendar(roles["calendar"])


async def test_each_service_migrates_as_its_own_role_and_cannot_read_or_write_another_services_tables(roles):
    await migrate_all(roles)
    await assert_isolated(roles)


async def assert_isolated(roles: dict[str, str]) -> None:
    """Each role: no special powers, owns its tables, reaches none of the others'."""
    for service, url in roles.items():
        [me] = await fetch(url, "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb "
                                "FROM pg_roles WHERE rolname = current_user")
        assert me["name"].endswith(f"_{service}") and not (me["rolsuper"] or me["rolcreaterole"] or me["rolcreatedb"])
        owners = await fetch(url, f"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = '{service}'")
        assert [r["tableowner"] for r in owners] == [me["name"]]  # every table it made is its own
        await fetch(url, f"SELECT count(*) FROM {TABLES[service]}")  # its own: fine
        for other, table in TABLES.items():
            if other == service:
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await fetch(url, f"SELECT * FROM {table} LIMIT 1")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await fetch(url, f"DELETE FROM {table}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await run(url, "CREATE SCHEMA sneaky")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await run(url, "CREATE TABLE public.sneaky (id int)")


def bootstrap_sql() -> str:
    """The SQL block under "Database roles" in docs/deploy.md, as written there."""
    text = (REPO / "docs" / "deploy.md").read_text()
    section = text[text.index("### Database roles"):]
    block = section[section.index("```sql") + len("```sql"):]
    return block[:block.index("```")]


async def test_the_bootstrap_sql_in_the_deploy_docs_gives_the_same_isolation(database_url):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    database = database_url.rsplit("/", 1)[1]
    # Roles are cluster-wide: this test's own names, on this test's own database.
    sql = bootstrap_sql().replace("switchboard_", f"{prefix}_").replace("DATABASE switchboard", f"DATABASE {database}")
    assert sql.count(f"CREATE ROLE {prefix}_") == 3
    await run(database_url, sql)
    passwords = {"audit": "audit-password", "agent": "agent-password", "calendar": "calendar-password"}
    roles = {service: with_login(database_url, f"{prefix}_{service}", password) for service, password in passwords.items()}
    try:
        await migrate_all(roles)
        await assert_isolated(roles)
    finally:
        names = ", ".join(f"{prefix}_{service}" for service in passwords)
        await run(database_url, f"DROP OWNED BY {names} CASCADE; DROP ROLE {names}")


async def test_a_new_table_in_a_services_schema_needs_no_new_grant_and_stays_private(roles):
    await migrate_all(roles)
    # What the reminders or erasure work adds: a table in the agent's schema, by a migration.
    await fetch(roles["agent"], "CREATE TABLE agent.reminders (id bigserial PRIMARY KEY, due timestamptz)")
    await fetch(roles["agent"], "INSERT INTO agent.reminders (due) VALUES (now())")
    assert (await fetch(roles["agent"], "SELECT count(*) AS n FROM agent.reminders"))[0]["n"] == 1
    for other in ("audit", "calendar"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await fetch(roles[other], "SELECT * FROM agent.reminders")


async def test_objects_made_before_the_roles_existed_are_handed_to_the_owning_service(database_url):
    # A data directory from before per-service roles: the superuser made everything.
    await migrate_audit(database_url)
    await run(database_url, "CREATE TYPE audit.mood AS ENUM ('ok'); CREATE SEQUENCE audit.loose")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    made = service_roles(prefix)
    await provision_roles(database_url, made)
    try:
        audit = with_login(database_url, made[0].role, made[0].password)
        await migrate_audit(audit)  # Alembic's version table is its own now
        await fetch(audit, "ALTER TABLE audit.events ADD COLUMN note text")  # only an owner may
        await fetch(audit, "SELECT audit.status_rank('read'), nextval('audit.loose'), 'ok'::audit.mood")
        # And what an admin adds there later is usable through the default privileges.
        await fetch(database_url, "CREATE TABLE audit.added_by_admin (id int)")
        await fetch(audit, "INSERT INTO audit.added_by_admin VALUES (1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await fetch(with_login(database_url, made[1].role, made[1].password), "SELECT * FROM audit.events")
    finally:
        names = ", ".join(role.role for role in made)
        await run(database_url, f"DROP OWNED BY {names} CASCADE; DROP ROLE {names}")


async def test_provisioning_again_changes_the_passwords(database_url):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    first, second = service_roles(prefix, "first-password"), service_roles(prefix, "second-password")
    try:
        await provision_roles(database_url, first)
        await provision_roles(database_url, second)  # what each `up` does
        await fetch(with_login(database_url, second[0].role, "second-password"), "SELECT 1")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await fetch(with_login(database_url, first[0].role, "first-password"), "SELECT 1")
    finally:
        names = ", ".join(role.role for role in first)
        await run(database_url, f"DROP OWNED BY {names} CASCADE; DROP ROLE {names}")


async def test_audit_agent_and_calendar_do_their_work_under_their_own_roles(roles, bus):
    async with running_audit(bus, roles["audit"]):
        await publish(bus, received("+34600111222", "SMroles", "hello"))
        await caught_up(bus, roles["audit"])
    assert await scalar(roles["audit"], "SELECT count(*) FROM audit.messages WHERE message_sid = 'SMroles'") == 1

    async with Recorder(bus) as seen, calendar_rig(bus, roles["calendar"]), \
            running_agent(bus, agent_settings(roles["agent"], bus)):
        await send_text(bus, OWNER_A, "Schedule lunch with Ana tomorrow at 1")
        await wait_until(lambda: seen.of(ReplyComposed), timeout=scaled(30))
        assert "is in your calendar" in seen.of(ReplyComposed)[-1].data.text
    assert (await fetch(roles["calendar"], "SELECT count(*) AS n FROM calendar.events"))[0]["n"] == 1
    assert (await fetch(roles["agent"], "SELECT count(*) AS n FROM agent.checkpoints"))[0]["n"] > 0


async def test_the_role_check_warns_locally_and_refuses_a_superuser_in_production(database_url, roles):
    role = await check_database_role(database_url, "asyncpg", "audit", "local")  # a warning, no more
    assert role.superuser
    with pytest.raises(PrivilegedDatabaseRole, match="superuser"):
        await check_database_role(database_url, "psycopg", "agent", "production")
    own = await check_database_role(roles["audit"], "asyncpg", "audit", "production")
    assert not own.superuser


async def test_a_service_given_a_superuser_url_in_production_exits_78_before_migrating(
    authorized_nats, database_url: str
):
    # Production also needs the service's own NATS identity (shared.nats_permissions).
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWITCHBOARD_ENV": "production",
           "NATS_URL": authorized_nats.server.url, **authorized_nats.users.env("audit"),
           "STREAM_NAME": authorized_nats.stream.name, "DATABASE_URL": database_url, "HEALTH_PORT": str(free_port()),
           "LOG_FORMAT": "json"}
    env.pop("AUDIT_DATABASE_URL", None)
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.audit"], env=env, capture_output=True, text=True,
        timeout=scaled(60), stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 78, output[-3000:]
    assert "refused_to_start" in output and "superuser" in output and "AUDIT_DATABASE_URL" in output
    assert await fetch(database_url, "SELECT nspname FROM pg_namespace WHERE nspname = 'audit'") == []  # refused before it created anything


async def test_db_roles_then_provision_from_the_command_line(database_url: str, nats_server: NatsServer):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    roles = {service: with_login(database_url, f"{prefix}_{service}", uuid.uuid4().hex) for service in SCHEMAS}
    env = {key: value for key, value in os.environ.items() if "DATABASE" not in key}
    env.update(PYTHONPATH=str(REPO), NATS_URL=nats_server.url, STREAM_NAME=f"S{prefix}", DATABASE_ADMIN_URL=database_url)

    def switchboard(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "switchboard", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=scaled(120), stdin=subprocess.DEVNULL)

    missing = await asyncio.to_thread(switchboard, "db-roles", AUDIT_DATABASE_URL=roles["audit"])
    assert missing.returncode == 1 and "set AGENT_DATABASE_URL, CALENDAR_DATABASE_URL" in missing.stderr
    urls = {f"{service.upper()}_DATABASE_URL": url for service, url in roles.items()}
    try:
        made = await asyncio.to_thread(switchboard, "db-roles", **urls)
        assert made.returncode == 0, made.stderr
        assert f"agent: role {prefix}_agent owns schema agent" in made.stdout
        migrated = await asyncio.to_thread(switchboard, "provision", **{**urls, "DATABASE_ADMIN_URL": ""})
        assert migrated.returncode == 0, migrated.stderr
        assert "schemas migrated: audit, agent, calendar" in migrated.stdout
        await assert_isolated(roles)
    finally:
        names = ", ".join(f"{prefix}_{service}" for service in SCHEMAS)
        await run(database_url, f"DROP OWNED BY {names} CASCADE; DROP ROLE IF EXISTS {names}")
