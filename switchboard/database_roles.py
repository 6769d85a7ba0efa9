"""One Postgres login role per service, owning that service's schemas and nothing else.

`switchboard up` runs this against its local Postgres with fresh random passwords on
every run; `switchboard db-roles` (the `db-roles` Job in deploy/k8s) runs it against a
production server with the passwords from each service's Secret. The SQL is the same
as the bootstrap SQL in docs/deploy.md.

What a service role gets, and why it is enough:
- LOGIN, and nothing else (not superuser, no CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS);
- CONNECT and TEMPORARY on the database (PUBLIC loses them, so other roles need a grant);
- ownership of its schemas, so its migrations create tables there (owned by it) and
  new tables need no new grants; no privilege at all on another service's schema;
- objects already in its schemas owned by someone else (made by an admin, or by an
  `up` from before per-service roles) are handed over to it, and default privileges
  give it whatever the admin creates there later.
Everything is idempotent: run it any number of times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from shared.settings import database_url_variables
from switchboard.provisioning import CONNECT_TIMEOUT_S, ProvisionError
from switchboard.scram import scram_verifier

if TYPE_CHECKING:
    from switchboard.registry import ServiceEntry

ROLE_PREFIX = "switchboard_"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def role_for(service: str) -> str:
    """The role a service runs as: `switchboard_<service>`."""
    return _checked(f"{ROLE_PREFIX}{service}")


@dataclass(frozen=True)
class ServiceRole:
    """A service's login role, its password and the schemas it owns."""

    service: str
    role: str
    password: str
    schemas: tuple[str, ...]

    @classmethod
    def from_url(cls, service: str, url: str, schemas: Sequence[str]) -> ServiceRole:
        """The role and password a service's database URL logs in with."""
        parts = urlsplit(url)
        if not parts.username or parts.password is None:
            raise ProvisionError(f"{service}: its database URL must name a user and a password")
        return cls(service, _checked(unquote(parts.username)), unquote(parts.password), tuple(schemas))


def roles_from_env(env: Mapping[str, str], entries: Sequence[ServiceEntry]) -> list[ServiceRole]:
    """Each database-using service's role, named and given its password by the service's
    own URL (`<SERVICE>_DATABASE_URL`), which must be set: a shared DATABASE_URL names no
    service's role."""
    roles, missing = [], []
    for entry in entries:
        if not entry.schemas:
            continue
        variable = database_url_variables(entry.name)[0]
        if env.get(variable):
            roles.append(ServiceRole.from_url(entry.name, env[variable], entry.schemas))
        else:
            missing.append(variable)
    if missing:
        raise ProvisionError(f"set {', '.join(missing)} (each service's own URL, whose user and password become its role)")
    return roles


def role_sql(role: str, database: str, schemas: Sequence[str]) -> list[str]:
    """The statements that create or correct `role` and its `schemas` (no password)."""
    role, database = _checked(role), _quoted(database)
    statements = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$",
        f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
        f"REVOKE ALL ON DATABASE {database} FROM PUBLIC",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
        # Postgres 15+ does this already; on 14 every role could create tables in `public`.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ]
    for schema in map(_checked, schemas):
        statements += [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = '{schema}') "
            f"THEN CREATE SCHEMA {schema} AUTHORIZATION {role}; END IF; END $$",
            f"ALTER SCHEMA {schema} OWNER TO {role}",
            f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
            _adopt_sql(role, schema),
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON SEQUENCES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON FUNCTIONS TO {role}",
        ]
    return statements


def _adopt_sql(role: str, schema: str) -> str:
    """Hand every object in `schema` not owned by `role` over to it (tables take their
    indexes, row types and column sequences with them)."""
    others = f"nspname = '{schema}' AND pg_get_userbyid({{owner}}) <> '{role}'"
    return f"""DO $$
DECLARE item record;
BEGIN
  FOR item IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE {others.format(owner="c.relowner")} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {role}', item.name);
  END LOOP;
  FOR item IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE {others.format(owner="c.relowner")} AND c.relkind = 'S' AND NOT EXISTS (
        SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO {role}', item.name);
  END LOOP;
  FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE {others.format(owner="p.proowner")} AND p.prokind IN ('f', 'p') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO {role}', item.name);
  END LOOP;
  FOR item IN SELECT t.oid::regtype AS name, t.typtype AS kind FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE {others.format(owner="t.typowner")} AND (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) LOOP
    EXECUTE format(CASE WHEN item.kind = 'd' THEN 'ALTER DOMAIN %s OWNER TO {role}'
                        ELSE 'ALTER TYPE %s OWNER TO {role}' END, item.name);
  END LOOP;
END $$"""


async def provision_roles(admin_url: str, roles: Sequence[ServiceRole]) -> None:
    """Create or correct every role in `roles`, with its password, on the database that
    `admin_url` names. The admin must be a superuser, or own the database and hold CREATEROLE."""
    import asyncpg

    database = urlsplit(admin_url).path.lstrip("/") or "postgres"
    try:
        admin = await asyncpg.connect(admin_url, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise ProvisionError(f"cannot reach Postgres as the admin: {type(exc).__name__}: {exc}") from None
    try:
        for role in roles:
            try:
                async with admin.transaction():
                    for statement in role_sql(role.role, database, role.schemas):
                        await admin.execute(statement)
                    # A verifier, not the password (switchboard.scram); format(%L) quotes it on the server.
                    await admin.execute(await admin.fetchval(
                        "SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text)",
                        role.role, scram_verifier(role.password),
                    ))
            except Exception as exc:
                raise ProvisionError(f"{role.service}: could not set up role {role.role}: {exc}") from None
    finally:
        await admin.close()


def _quoted(name: str) -> str:
    """Any database name, as a quoted identifier."""
    if not name or "\x00" in name:
        raise ProvisionError(f"bad database name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _checked(name: str) -> str:
    """A plain lower-case identifier, safe to put in SQL unquoted."""
    if not _IDENTIFIER.fullmatch(name):
        raise ProvisionError(f"{name!r} is not a plain lower-case Postgres name (letters, digits, _)")
    return name
