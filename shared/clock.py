"""Time as a dependency: the wall clock, a monotonic clock and sleeping, behind one port.

Code that waits (a burst window, a backoff) takes a `Clock` instead of calling
`time.time()`, `time.monotonic()` and `asyncio.sleep()` itself, so a test can drive time
by hand (`ManualClock`) and prove what was waited for without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Awaitable, Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What code that reads or waits for time needs."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` (at once for zero or less)."""
        ...


class SystemClock:
    """The real clocks of this process."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


SYSTEM_CLOCK = SystemClock()
_SETTLE_TURNS = 10  # event-loop turns `advance` gives woken tasks


class ManualClock:
    """A clock that moves only when a test calls `advance`; sleepers wake when their time comes.

    `now()` and `monotonic()` move together. `sleeping()` returns once some task is
    asleep on this clock, so a test can advance time exactly when the code under test
    has started to wait, with no real sleep and no race. `run()` drives a coroutine to
    its end, jumping time to each sleeper's deadline as soon as it waits.
    """

    def __init__(self, start: datetime | None = None):
        self._start = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self.slept: list[float] = []  # every sleep asked for, in order: what the code waited

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)  # still a scheduling point, like asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), wake))
        self._changed.set()
        try:
            await wake
        finally:
            if not wake.done():  # cancelled: forget it
                wake.cancel()

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep on this clock now."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    async def sleeping(self, count: int = 1) -> None:
        """Return once at least `count` tasks are asleep on this clock."""
        while self.sleepers < count:
            self._changed.clear()
            await self._changed.wait()

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking (in deadline order) every sleeper now due.

        Woken tasks get a few turns of the event loop before this returns, enough for code
        that awaits only this clock and in-memory fakes to reach its next sleep or its
        result; code waiting on real I/O needs its own synchronisation.
        """
        if seconds < 0:
            raise ValueError("time does not go back")
        self._elapsed += seconds
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, moving time to the next deadline whenever something sleeps on this clock."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                asleep = asyncio.ensure_future(self.sleeping())
                done, _ = await asyncio.wait({task, asleep}, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    asleep.cancel()
                    return task.result()
                await self.advance(max(0.0, self._next_deadline() - self._elapsed))
        finally:
            if not task.done():
                task.cancel()

    def _next_deadline(self) -> float:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else self._elapsed
