"""The manual clock that handler tests drive time with."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.clock import ManualClock, SystemClock


async def test_sleepers_wake_when_time_reaches_their_deadline_in_order():
    clock = ManualClock()
    start = clock.now()
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(nap("long", 2.0)), asyncio.create_task(nap("short", 1.0))]
    await clock.sleeping(2)
    await clock.advance(0.5)
    assert woke == []
    await clock.advance(0.5)
    assert woke == ["short"]
    await clock.advance(1.0)
    assert woke == ["short", "long"]
    await asyncio.gather(*tasks)
    assert clock.monotonic() == 2.0 and clock.now() - start == timedelta(seconds=2)
    assert clock.slept == [2.0, 1.0]


async def test_run_jumps_time_to_each_deadline():
    clock = ManualClock()

    async def backoff() -> float:
        for delay in (0.5, 1.0, 2.0):
            await clock.sleep(delay)
        return clock.monotonic()

    assert await clock.run(backoff()) == 3.5
    assert clock.sleepers == 0


async def test_the_system_clock_is_utc_and_monotonic():
    clock = SystemClock()
    assert clock.now().utcoffset() == timedelta(0)
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before
