"""Which Postgres role a service runs as, and what happens when that role is a superuser.

Each service that keeps data in Postgres runs as its own login role, which owns that
service's schema and nothing else (docs/deploy.md, "Database roles"). A superuser
ignores every permission, so a service running as one could read or change any other
service's tables: in production (`SWITCHBOARD_ENV=production`) the service refuses to
start with one, exiting 78 (bad configuration) before it migrates anything; in local
mode it logs a warning and carries on, so a quick `DATABASE_URL=postgresql://postgres@…`
still works on a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from shared.errors import Misconfigured
from shared.logging import get_logger
from shared.settings import driver_url

log = get_logger(__name__)

ROLE_QUERY = text("SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user")


class PrivilegedDatabaseRole(Misconfigured):
    """A service was given a superuser's database URL in production."""


@dataclass(frozen=True)
class DatabaseRole:
    name: str
    superuser: bool


def judge_role(role: DatabaseRole, service: str, environment: str) -> None:
    """Refuse a superuser in production; warn about one anywhere else."""
    if not role.superuser:
        return
    if environment == "production":
        raise PrivilegedDatabaseRole(
            f"{service}: its database URL logs in as {role.name!r}, a Postgres superuser, which can read and "
            f"change every service's data; give {service} its own role ({service.upper()}_DATABASE_URL, "
            "docs/deploy.md \"Database roles\")"
        )
    log.warning("database_role_is_superuser", service=service, role=role.name,
                hint="fine on a laptop; production refuses it (docs/deploy.md, Database roles)")


async def current_role(conn: AsyncConnection) -> DatabaseRole:
    row = (await conn.execute(ROLE_QUERY)).one()
    return DatabaseRole(str(row.name), bool(row.superuser))


async def check_role(engine: AsyncEngine, service: str, environment: str) -> DatabaseRole:
    """Connect with `engine`, find its role and judge it (raises `PrivilegedDatabaseRole`)."""
    async with engine.connect() as conn:
        role = await current_role(conn)
    judge_role(role, service, environment)
    return role


async def check_database_role(database_url: str, driver: str, service: str, environment: str) -> DatabaseRole:
    """`check_role` on a one-connection engine for `database_url` with SQLAlchemy `driver`."""
    engine = create_async_engine(driver_url(database_url, driver), poolclass=NullPool)
    try:
        return await check_role(engine, service, environment)
    finally:
        await engine.dispose()
