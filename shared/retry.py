"""Retrying a call that failed for a passing reason: one backoff policy, one loop.

    policy = Backoff(attempts=5, base_s=0.5, cap_s=8.0)
    sid = await retry(lambda: twilio.send(...), policy, is_transient=lambda exc: ...)

The delay before retry n (n = 1, 2, ...) is `min(cap_s, base_s * 2 ** (n - 1))`, of which
the fraction `jitter` is random: with the default 1.0 ("full jitter") it is uniform in
[0, ceiling], which spreads out clients that failed together; 0.5 keeps it in
[ceiling / 2, ceiling]; 0 makes it fixed. The loop stops at the first success, at the
first error `is_transient` rejects, after `attempts` calls, or (given a `deadline`) when
the next try would start after it; then it re-raises the last error unchanged. `sleep`,
the clock and the random source are injectable, so tests need no real waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How often to try and how long to wait in between."""

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_s < 0 or self.cap_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff: {self!r}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        return min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt `attempt`: the ceiling, less a random share."""
        return self.ceiling(attempt) * (1 - self.jitter * rand())


async def retry(
    call: Callable[[], Awaitable[T]],
    policy: Backoff,
    is_transient: Callable[[BaseException], bool],
    *,
    on_retry: Callable[[BaseException, int], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`await call()`, retried after transient errors as `policy` says.

    `on_retry(error, attempt)` runs before each wait (metrics, a log line). `deadline`, on
    `clock`, is the latest moment a try may start (a caller with a time budget passes its
    end less the longest a try may take). Cancellation is never retried: only
    `Exception`s reach `is_transient`.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt >= policy.attempts or not is_transient(exc):
                raise
            delay = policy.delay(attempt)
            if deadline is not None and clock() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, attempt)
            await sleep(delay)
            attempt += 1
