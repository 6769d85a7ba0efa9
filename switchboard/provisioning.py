"""Provisioning for the CLI: the stream, the local database, the services' migrations.

Every step is idempotent, so `switchboard provision` and `switchboard up` can run any
number of times against the same servers.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, cast
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from services.reminders.timers import ensure_timer_stream
from shared.bus import NatsAccess
from shared.settings import ServiceSettings, database_url_variables
from shared.stream import ensure_stream, partitions_of

CONNECT_TIMEOUT_S = 3.0


class ProvisionError(RuntimeError):
    """A provisioning step failed; the message says which and why."""


@dataclass(frozen=True)
class StreamReport:
    name: str
    partitions: int
    messages: int

    def __str__(self) -> str:
        return f"stream {self.name}: {self.partitions} partitions, {self.messages} events stored"


def settings_from(env: Mapping[str, str]) -> ServiceSettings:
    """The shared settings, read from `env` rather than the process environment."""
    known = {field.alias for field in ServiceSettings.model_fields.values() if field.alias}
    # Typed as Any: the pydantic plugin would check str values against BaseSettings' own `_...` init options.
    values: dict[str, Any] = {name: value for name, value in env.items() if name in known}
    try:
        return ServiceSettings(**values)
    except ValidationError as exc:
        raise ProvisionError(f"bad configuration:\n{exc}") from None


async def connect_once(url: str, name: str, access: NatsAccess | None = None) -> NATS:
    """Connect to NATS or fail within seconds with a clear message (a CLI must not hang).

    nats-py retries a failed first connection for as long as reconnects are unlimited,
    whatever `allow_reconnect` says; one reconnect attempt per server bounds it.
    """
    try:
        return await nats.connect(
            **(access or NatsAccess()).options(), servers=url.split(","), name=name, connect_timeout=CONNECT_TIMEOUT_S,
            allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.2, error_cb=_quiet,
        )
    except Exception as exc:
        if "Authorization Violation" in str(exc):
            who = f"as NATS_USER={access.user}" if access and access.user else "without NATS_USER/NATS_PASSWORD"
            raise ProvisionError(f"NATS at {url} refused to let us in {who}: {exc}") from None
        raise ProvisionError(f"cannot reach NATS at {url}: {exc or type(exc).__name__}") from None


async def _quiet(_: Exception) -> None:
    pass


async def provision_stream(settings: ServiceSettings) -> StreamReport:
    """Create or update the stream from the settings (STREAM_NAME, PARTITIONS, STREAM_REPLICAS)."""
    nc = await connect_once(settings.nats_url, "switchboard-provision", settings.nats_access())
    try:
        js = nc.jetstream()
        config = await ensure_stream(js, settings.stream_spec())
        await ensure_timer_stream(js, settings.stream_replicas)  # reminders' timers (services/reminders/timers.py)
        info = await js.stream_info(settings.stream_name)
    except ProvisionError:
        raise
    except Exception as exc:
        raise ProvisionError(f"could not provision stream {settings.stream_name}: {exc}") from None
    finally:
        await nc.close()
    # nats-py types every StreamConfig field Optional; the server's config always names the stream.
    return StreamReport(cast(str, config.name), partitions_of(config), info.state.messages)


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def ensure_database(server_url: str, database: str) -> str:
    """Create `database` on the server at `server_url` if missing; return its URL."""
    import asyncpg

    try:
        admin = await asyncpg.connect(server_url, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise ProvisionError(f"cannot reach Postgres at {server_url}: {exc}") from None
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    return with_database(server_url, database)


def resolve(reference: str) -> Any:
    """`"package.module:function"` to the function."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def service_database_url(env: Mapping[str, str], service: str) -> str | None:
    """The URL `service` reads: `<SERVICE>_DATABASE_URL`, else `DATABASE_URL` (shared.settings)."""
    for variable in database_url_variables(service):
        if env.get(variable):
            return env[variable]
    return None


async def run_migrations(migrations: Sequence[tuple[str, str, str]]) -> None:
    """Run each `(service, "module:function", database_url)` migration, in order, each
    as the role its URL logs in with (the service's own, so it owns what it creates)."""
    for service, reference, database_url in migrations:
        try:
            migrate = resolve(reference)
        except (ImportError, AttributeError) as exc:
            raise ProvisionError(f"{service}: cannot load its migration {reference}: {exc}") from None
        try:
            result = migrate(database_url)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise ProvisionError(f"{service}: migration failed: {type(exc).__name__}: {exc}") from exc
