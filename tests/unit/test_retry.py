"""shared.retry: one backoff policy and one retry loop, with no real waiting in tests."""

from __future__ import annotations

import asyncio

import pytest

from shared.retry import Backoff, retry


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Transient(Exception):
    pass


def transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def test_the_delay_doubles_up_to_the_cap():
    policy = Backoff(attempts=10, base_s=0.5, cap_s=3.0, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_spans_zero_to_the_ceiling_and_half_jitter_the_upper_half():
    full, half = Backoff(base_s=4.0, cap_s=4.0), Backoff(base_s=4.0, cap_s=4.0, jitter=0.5)
    assert full.delay(1, rand=lambda: 0.0) == 4.0 and full.delay(1, rand=lambda: 0.999) == pytest.approx(0.004)
    assert half.delay(1, rand=lambda: 0.0) == 4.0 and half.delay(1, rand=lambda: 1.0) == 2.0
    samples = [full.delay(3) for _ in range(2000)]
    assert 0 <= min(samples) < 0.2 and 3.8 < max(samples) <= 4.0  # really random over the whole range


def test_nonsense_policies_are_refused():
    for bad in (dict(attempts=0), dict(base_s=-1), dict(jitter=1.5)):
        with pytest.raises(ValueError):
            Backoff(**bad)


async def test_transient_errors_are_retried_with_the_policys_waits():
    waits: list[float] = []
    retried: list[tuple[str, int]] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    call = Flaky(Transient("a"), Transient("b"))
    result = await retry(call, Backoff(attempts=3, base_s=1.0, jitter=0), transient,
                         on_retry=lambda exc, n: retried.append((str(exc), n)), sleep=sleep)
    assert result == "ok" and call.calls == 3
    assert waits == [1.0, 2.0] and retried == [("a", 1), ("b", 2)]


async def test_after_the_last_attempt_the_last_error_is_raised_unchanged():
    last = Transient("third")
    call = Flaky(Transient("first"), Transient("second"), last)
    with pytest.raises(Transient) as raised:
        await retry(call, Backoff(attempts=3, jitter=0), transient, sleep=lambda s: asyncio.sleep(0))
    assert raised.value is last and call.calls == 3


async def test_a_permanent_error_is_raised_at_once():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    call = Flaky(ValueError("bad request"))
    with pytest.raises(ValueError):
        await retry(call, Backoff(attempts=5), transient, sleep=sleep)
    assert call.calls == 1 and waits == []


async def test_cancellation_is_not_retried():
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry(cancelled, Backoff(attempts=5), lambda exc: True, sleep=lambda s: asyncio.sleep(0))


async def test_the_agents_llm_calls_use_it_and_count_attempts():
    from services.agent.llm import LlmFailed, LlmRetry, call_with_retries

    timeouts = Flaky(TimeoutError(), TimeoutError(), TimeoutError())
    with pytest.raises(LlmFailed) as failed:
        await call_with_retries(timeouts, LlmRetry(attempts=3, base_s=0.0))
    assert failed.value.attempts == 3 and failed.value.transient and timeouts.calls == 3
    assert await call_with_retries(Flaky(TimeoutError()), LlmRetry(attempts=2, base_s=0.0)) == "ok"
    refused = Flaky(ValueError("no"))
    with pytest.raises(LlmFailed) as failed:
        await call_with_retries(refused, LlmRetry(attempts=3, base_s=0.0))
    assert failed.value.attempts == 1 and not failed.value.transient


def test_the_services_policies_keep_their_old_shape():
    from services.agent.llm import LlmRetry
    from services.outbound.handler import RetryPolicy

    outbound, llm = RetryPolicy(), LlmRetry()
    assert (outbound.attempts, outbound.base_s, outbound.cap_s, outbound.jitter) == (5, 0.5, 8.0, 0.5)
    assert (llm.attempts, llm.base_s, llm.cap_s, llm.jitter) == (3, 1.0, 20.0, 0.5)
    assert RetryPolicy(3, 0.02).attempts == 3 and 0.01 <= RetryPolicy(3, 0.02).delay(1) <= 0.02


async def test_set_up_retries_only_transient_nats_errors():
    from nats.errors import TimeoutError as NatsTimeoutError
    from nats.js.errors import ServiceUnavailableError

    from shared.bus import SET_UP, set_up

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    failures = [NatsTimeoutError(), ServiceUnavailableError()]

    async def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ready"

    assert await set_up("consumers", flaky, sleep=sleep) == "ready"
    assert len(waits) == 2 and all(0 < wait <= SET_UP.cap_s for wait in waits)

    async def refused() -> str:
        raise PermissionError("not allowed")

    with pytest.raises(PermissionError):
        await set_up("consumers", refused, sleep=sleep)
    assert len(waits) == 2  # a permanent error is raised at once


async def test_a_deadline_stops_the_retries_once_the_next_try_would_start_after_it():
    now = [0.0]
    calls: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def failing() -> str:
        calls.append(now[0])
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        await retry(failing, Backoff(attempts=100, base_s=1.0, cap_s=1.0, jitter=0), lambda exc: True,
                    sleep=sleep, deadline=3.5, clock=lambda: now[0])
    assert calls == [0.0, 1.0, 2.0, 3.0]  # a fifth try would have started at 4.0, past the deadline
