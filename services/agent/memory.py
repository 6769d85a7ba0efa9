"""Conversation memory: one psycopg pool per process and the LangGraph Postgres checkpointer.

The pool uses autocommit and `dict_row`, as `AsyncPostgresSaver` needs, puts every
connection in the `agent` schema, and lets `PG_PREPARE_THRESHOLD` turn prepared
statements off (`None`) for PgBouncer in transaction mode.

Postgres being down or unreachable is a dependency outage, not a failure of the input
in hand: the checkpointer and the time-zone store turn it into `DependencyUnavailable`
(the stage retries the input without spending its delivery budget) and report it to the
readiness check. A connection waits at most `AGENT_PG_TIMEOUT_S` (default 5 s), so an
attempt during an outage fails fast instead of holding its conversation for 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, TypeVar

import psycopg
import psycopg_pool.base
import psycopg_pool.pool_async
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from services.agent.migrations import SCHEMA
from shared.errors import DependencyUnavailable
from shared.health import DependencyHealth
from shared.logging import get_logger
from shared.settings import driver_url

log = get_logger(__name__)
T = TypeVar("T")

# SQLSTATEs that mean "the server is not there for us" rather than "this statement is bad":
# connection exceptions (08…), shutdowns and "cannot connect now", too many connections.
OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_outage(error: BaseException) -> bool:
    """Whether `error` means Postgres could not be reached (a pool timeout included)."""
    error = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    if isinstance(error, psycopg.OperationalError):  # psycopg_pool.PoolTimeout is one too
        state = error.sqlstate
        return state is None or state.startswith("08") or state in OUTAGE_STATES
    return isinstance(error, (psycopg.InterfaceError, OSError))


@contextlib.contextmanager
def outage_guard(health: DependencyHealth | None) -> Iterator[None]:
    """Turn a Postgres outage into `DependencyUnavailable`, and tell `health` how it went."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            raise
        if health is not None:
            health.report(False)
        raise DependencyUnavailable(f"Postgres is unreachable ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if health is not None:
        health.report(True)


async def until_reachable(step: Callable[[], Awaitable[T]], health: DependencyHealth | None = None,
                          what: str = "postgres") -> T:
    """Run a start-up step, waiting (with capped backoff) while Postgres is unreachable, so a
    worker started during an outage waits for it instead of exiting."""
    delay = 0.5
    while True:
        try:
            return await step()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if health is not None:
                health.report(False)
            log.warning("database_unavailable", step=what, error=str(exc)[:200], retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


# psycopg_pool retries a lost connection with a delay that doubles without a ceiling when
# `reconnect_timeout` is infinite: after a five-minute Postgres outage the next attempt could
# be two minutes away, and the agent kept answering "unavailable" long after Postgres was
# back (seen in the chaos suite). Reconnect at least every RECONNECT_DELAY_CAP_S instead.
RECONNECT_DELAY_CAP_S = 2.0


class CappedReconnect(psycopg_pool.base.AttemptWithBackoff):
    """psycopg_pool's reconnection backoff, with a ceiling."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_DELAY_CAP_S)


psycopg_pool.pool_async.AttemptWithBackoff = CappedReconnect  # type: ignore[misc]  # no option for it


async def open_pool(database_url: str, max_size: int = 8, prepare_threshold: int | None = 5,
                    timeout_s: float = 5.0) -> AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]:
    # The row type follows `row_factory` below, which the pool's type cannot see.
    pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] = AsyncConnectionPool(
        driver_url(database_url, ""),
        min_size=1,
        max_size=max_size,
        open=False,
        name="agent",
        timeout=timeout_s,  # how long a caller waits for a connection (PoolTimeout after)
        reconnect_timeout=float("inf"),  # never give up on the server; the callers fail fast meanwhile
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": prepare_threshold,
            "options": f"-c search_path={SCHEMA}",
            "connect_timeout": max(1, math.ceil(timeout_s)),
        },
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def probe(pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]) -> None:
    """One round trip to Postgres (for the readiness watcher)."""
    async with pool.connection() as conn:
        await conn.execute("SELECT 1")


class OutageAwareSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` whose Postgres outages raise `DependencyUnavailable`."""

    health: DependencyHealth | None = None

    async def aget_tuple(self, config: Any) -> Any:
        with outage_guard(self.health):
            return await super().aget_tuple(config)

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        with outage_guard(self.health):
            return await super().aput(*args, **kwargs)

    async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
        with outage_guard(self.health):
            await super().aput_writes(*args, **kwargs)

    async def aprune(self, *args: Any, **kwargs: Any) -> Any:
        with outage_guard(self.health):
            return await super().aprune(*args, **kwargs)

    async def adelete_thread(self, *args: Any, **kwargs: Any) -> None:
        with outage_guard(self.health):
            await super().adelete_thread(*args, **kwargs)

    async def alist(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        with outage_guard(self.health):
            async for item in super().alist(*args, **kwargs):
                yield item


def checkpointer(pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]], health: DependencyHealth | None = None) -> AsyncPostgresSaver:
    saver = OutageAwareSaver(pool)  # tables created by `migrations.migrate`
    saver.health = health
    return saver
