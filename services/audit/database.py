"""The audit service's Postgres engine and a cheap readiness flag for it."""

from __future__ import annotations

import asyncio
import contextlib
import time

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.logging import get_logger
from shared.settings import driver_url

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 5.0


def create_engine(database_url: str, pool_size: int = 4) -> AsyncEngine:
    """One engine per process: asyncpg, pre-pinged connections (Postgres may restart under us)."""
    return create_async_engine(
        driver_url(database_url, "asyncpg"),
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {"application_name": "switchboard-audit"},
        },
    )


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` means Postgres could not be reached, rather than a bad statement or row."""
    if isinstance(error, (OSError, asyncio.TimeoutError, sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    return False


class DatabaseHealth:
    """Whether the database answered last time anyone asked, for the readiness probe.

    The batch loop reports every write; `watch` pings only when the loop has been quiet,
    so a probe never costs a query.
    """

    def __init__(self) -> None:
        self.ok = False
        self._last_report = 0.0

    def report(self, ok: bool) -> None:
        if ok != self.ok:
            log.info("database_reachable" if ok else "database_unreachable")
        self.ok = ok
        self._last_report = time.monotonic()

    def is_ok(self) -> bool:
        return self.ok

    async def watch(self, engine: AsyncEngine, stop: asyncio.Event, interval_s: float = 10.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set() or time.monotonic() - self._last_report < interval_s:
                continue
            try:
                async with engine.connect() as connection:
                    await asyncio.wait_for(connection.execute(text("SELECT 1")), CONNECT_TIMEOUT_S)
            except Exception:
                self.report(False)
            else:
                self.report(True)
