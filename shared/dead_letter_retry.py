"""A stage puts back, by itself, the events it gave up on for a reason that may pass.

A dependency outage is handled without spending deliveries (`DependencyUnavailable`), but
an outage can still surface as a plain failure (a timeout, a crash loop while a server was
away) and end in a dead letter. Once the stage has been healthy again (every readiness
check passing) for `after_s`, its retrier stores each such event again, exactly as an
operator's `switchboard dead-letters retry` does, and records `DeadLetterRetried` with
`by: auto` and the replica's name.

What is and is not retried, in this order:
1. not this stage's dead letters, or a partition this replica does not own right now
   (the owner decides, so replicas do not race; the retry's `Nats-Msg-Id` covers the rest);
2. not a dead letter already retried or discarded;
3. not a permanent failure or an undecodable event: retrying cannot help;
4. not an event already retried automatically `attempts` times (counted over the stream,
   so across restarts): a message that fails on a healthy stage stays for an operator.
At most `per_pass` retries per pass, oldest first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import dataclass
from typing import Callable

from prometheus_client import Counter

from shared.bus import Bus
from shared.dead_letters import DeadLetter, DeadLetterError, dead_letters, retry
from shared.logging import get_logger

log = get_logger(__name__)

AUTO_RETRIES = Counter("switchboard_dead_letters_auto_retried_total", "Dead letters a stage retried itself",
                       ["consumer"])

NOT_TRANSIENT = ("permanent failure:", "undecodable event:")  # the prefixes `shared.consumer` writes


@dataclass(frozen=True)
class AutoRetry:
    """How a stage retries its own dead letters. `attempts=0` turns it off."""

    attempts: int = 2  # automatic retries per event, ever
    after_s: float = 30.0  # healthy this long (continuously) before a pass
    interval_s: float = 10.0  # how often to look
    per_pass: int = 50


def transient(dead: DeadLetter) -> bool:
    return not dead.event.data.error.startswith(NOT_TRANSIENT)


def choose(found: list[DeadLetter], mine: Callable[[str], bool], attempts: int, limit: int) -> list[DeadLetter]:
    """The open dead letters to retry now (see the module docstring for the rules)."""
    tried: collections.Counter[str] = collections.Counter(
        _event_key(d) for d in found if d.retried_by == "auto"
    )
    chosen: list[DeadLetter] = []
    for dead in found:
        if len(chosen) >= limit:
            break
        if not mine(dead.event.data.consumer) or dead.state != "open" or not transient(dead):
            continue
        if tried[_event_key(dead)] >= attempts:
            continue
        tried[_event_key(dead)] += 1
        chosen.append(dead)
    return chosen


def _event_key(dead: DeadLetter) -> str:
    # A retried copy has the same bytes, so the same event id; its own dead letter names it.
    return dead.event.data.original_id or f"seq:{dead.original_seq}"


class DeadLetterRetrier:
    """Runs beside a stage's consumer: waits for health, then retries what `choose` picks."""

    def __init__(self, bus: Bus, mine: Callable[[str], bool], healthy: Callable[[], bool], member: str,
                 policy: AutoRetry):
        self.bus = bus
        self.mine = mine
        self.healthy = healthy
        self.member = member
        self.policy = policy
        self._healthy_since: float | None = None
        self._gone: set[int] = set()  # dead letters whose event is no longer in the stream
        self.passes = 0  # passes made (tests wait on it)

    async def run(self, stop: asyncio.Event) -> None:
        if self.policy.attempts <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.policy.interval_s)
            if stop.is_set():
                return
            if not self.healthy():
                self._healthy_since = None
                continue
            self._healthy_since = self._healthy_since or time.monotonic()
            if time.monotonic() - self._healthy_since < self.policy.after_s:
                continue
            try:
                await self.pass_once()
            except Exception as exc:  # NATS away mid-pass: the next pass looks again
                log.warning("dead_letter_retry_failed", error=repr(exc)[:300])

    async def pass_once(self) -> list[int]:
        """Retry what is due now; the dead letters' sequences."""
        done: list[int] = []
        found = [d for d in await dead_letters(self.bus) if d.seq not in self._gone]
        for dead in choose(found, self.mine, self.policy.attempts, self.policy.per_pass):
            try:
                new_seq = await retry(self.bus, dead, f"auto:{self.member}", by="auto")
            except DeadLetterError as exc:
                log.warning("dead_letter_not_retried", dead_letter_seq=dead.seq, error=str(exc)[:300])
                self._gone.add(dead.seq)
                continue
            AUTO_RETRIES.labels(dead.event.data.consumer.rsplit("-p", 1)[0]).inc()
            log.info("dead_letter_retried", consumer=dead.event.data.consumer, dead_letter_seq=dead.seq,
                     original_seq=dead.original_seq, republished_seq=new_seq, by="auto")
            done.append(dead.seq)
        self.passes += 1
        return done
