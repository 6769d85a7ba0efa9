"""Waiting on conditions in tests on real processes, with deadlines that scale.

`TEST_TIME_FACTOR` (default 1) multiplies every deadline: raise it on a slow or busy
machine. Tests poll a condition until it holds; a fixed sleep is never the proof.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Awaitable, Callable


def scaled(seconds: float) -> float:
    try:
        factor = float(os.environ.get("TEST_TIME_FACTOR", "1"))
    except ValueError:
        factor = 1.0
    return seconds * max(factor, 1.0)


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout` (scaled)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {scaled(timeout):.0f}s waiting for {what}")
        time.sleep(interval)


async def eventually(condition: Callable[[], Awaitable[object]], timeout: float, what: str, interval: float = 0.1) -> object:
    """The async form: await `condition()` until truthy; exceptions count as "not yet"."""
    deadline = time.monotonic() + scaled(timeout)
    last_error: BaseException | None = None
    while True:
        try:
            result = await condition()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {scaled(timeout):.0f}s waiting for {what} (last error: {last_error!r})")
        await asyncio.sleep(interval)
