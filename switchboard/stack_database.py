"""The database side of `switchboard up`: one role and one URL per service.

With the local Postgres `up` started, every run gives each service that owns schemas
(`ServiceEntry.schemas`) its own login role with a new random password, and hands that
service alone a DATABASE_URL logging in as it. The passwords live only in the services'
environments and in stack.json (mode 0600, removed when `up` stops); the next run
changes them. With a Postgres from the environment, each service gets the URL it would
read itself: `<SERVICE>_DATABASE_URL`, else `DATABASE_URL`.
"""

from __future__ import annotations

import secrets
from typing import Mapping, Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from shared.settings import database_url_variables
from switchboard.database_roles import ServiceRole, provision_roles, role_for
from switchboard.provisioning import ensure_database, service_database_url
from switchboard.registry import ServiceEntry
from switchboard.servers import LOCAL_DATABASE, BackingServers


def with_login(url: str, user: str, password: str) -> str:
    """`url` logging in as `user` with `password`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def without_login(url: str) -> str:
    """`url` with no user or password: where the database is, safe to print."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def database_variables(entries: Sequence[ServiceEntry]) -> set[str]:
    """Every variable a service could read its database URL from (none is shared under `up`)."""
    return {variable for entry in entries if entry.schemas for variable in database_url_variables(entry.name)}


async def service_database_urls(
    env: Mapping[str, str], servers: BackingServers, entries: Sequence[ServiceEntry]
) -> dict[str, str]:
    """Each database-using service's own URL; provisions the roles on a local Postgres."""
    users = [entry for entry in entries if entry.schemas]
    if not users:
        return {}
    if not servers.local_postgres:
        return {entry.name: service_database_url(env, entry.name) or servers.postgres_url for entry in users}
    admin_url = await ensure_database(servers.postgres_url, LOCAL_DATABASE)
    roles = [ServiceRole(entry.name, role_for(entry.name), secrets.token_hex(24), entry.schemas) for entry in users]
    await provision_roles(admin_url, roles)
    return {role.service: with_login(admin_url, role.role, role.password) for role in roles}
