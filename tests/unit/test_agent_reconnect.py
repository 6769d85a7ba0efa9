"""The agent's Postgres pool tries to reconnect at least every couple of seconds, however
long the outage has lasted (psycopg_pool's own backoff doubles without a ceiling)."""

from __future__ import annotations

import psycopg_pool.pool_async

from services.agent.memory import RECONNECT_DELAY_CAP_S, CappedReconnect


def test_the_reconnect_delay_stops_growing_at_the_cap():
    attempt = CappedReconnect(timeout=float("inf"))
    delays = []
    for second in range(0, 600, 2):  # ten minutes of failed attempts
        attempt.update_delay(float(second))
        delays.append(attempt.delay)
    assert delays[0] <= 1.2  # starts at psycopg_pool's own first delay
    assert max(delays) <= RECONNECT_DELAY_CAP_S
    assert delays[-1] == RECONNECT_DELAY_CAP_S


def test_the_pool_uses_it():
    assert psycopg_pool.pool_async.AttemptWithBackoff is CappedReconnect
