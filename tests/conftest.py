"""Fixtures on real infrastructure: a nats-server per test, one Postgres per session.

Each test gets its own nats-server (own port and store directory) and its own
database, so tests never see each other's events or rows. Set TEST_DATABASE_URL to a
running Postgres (a superuser URL) to use it instead of the embedded server.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
import pytest_asyncio

from shared.bus import Bus, NatsAccess, connect
from shared.nats_permissions import ADMIN
from shared.stream import StreamSpec, ensure_stream
from switchboard.cluster import NatsCluster
from switchboard.infra import NatsServer
from switchboard.local_postgres import LocalPostgres
from switchboard.nats_auth import LocalNatsUsers
from tests.waiting import scaled


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory):
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data", durable=False).start()
    try:
        yield server.url
    finally:
        server.stop()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest_asyncio.fixture
async def database_url(postgres_url: str):
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def nats_server(tmp_path: Path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path):
    """A three-node JetStream cluster on loopback (own ports and store directories), healthy."""
    from tests.waiting import scaled

    cluster = NatsCluster(tmp_path / "nats-cluster").start(timeout=scaled(60))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def stream_spec() -> StreamSpec:
    return StreamSpec(partitions=8)


@pytest_asyncio.fixture
async def bus(nats_server: NatsServer, stream_spec: StreamSpec):
    """A connected bus with the stream provisioned."""
    nc = await connect(nats_server.url, "test", wait=False)
    the_bus = Bus(nc, stream=stream_spec.name, publish_timeout_s=scaled(2.0) * 3)  # a busy machine's fsync
    await ensure_stream(the_bus.js, stream_spec)
    try:
        yield the_bus
    finally:
        await nc.close()


class AuthorizedNats:
    """A nats-server that requires the per-service users (`switchboard.nats_auth`), as `up` runs it."""

    def __init__(self, server: NatsServer, users: LocalNatsUsers, stream: StreamSpec):
        self.server, self.users, self.stream = server, users, stream
        self.errors: dict[str, list[str]] = {}  # what the server told each identity's connection
        self._buses: list[Bus] = []

    def access(self, identity: str) -> NatsAccess:
        env = self.users.env(identity)
        return NatsAccess(user=env["NATS_USER"], password=env["NATS_PASSWORD"])

    async def bus_as(self, identity: str) -> Bus:
        """A connection as `identity`; server errors (permission violations) land in `errors[identity]`."""
        errors = self.errors.setdefault(identity, [])

        async def record(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(self.server.url, error_cb=record, allow_reconnect=False, **self.access(identity).options())
        bus = Bus(nc, stream=self.stream.name, publish_timeout_s=scaled(2.0) * 3)  # as the `bus` fixture
        self._buses.append(bus)
        return bus

    async def close(self) -> None:
        for bus in self._buses:
            await bus.nc.close()


@pytest_asyncio.fixture
async def authorized_nats(tmp_path: Path, stream_spec: StreamSpec):
    """nats-server with a user per service and least-privilege permissions; the stream provisioned as admin."""
    users = LocalNatsUsers.generate(stream_spec.name, stream_spec.partitions)
    server = NatsServer(tmp_path / "nats-auth", config_file=users.write(tmp_path / "nats-auth.conf")).start()
    nats_ = AuthorizedNats(server, users, stream_spec)
    try:
        admin = await nats_.bus_as(ADMIN)
        await ensure_stream(admin.js, stream_spec)
        yield nats_
    finally:
        await nats_.close()
        server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `long` (minutes each) first, keeping the order otherwise: pytest-xdist hands
    out work in collection order, so they then run beside the short tests, not after them."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
