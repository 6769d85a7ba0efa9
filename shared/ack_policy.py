"""How an ordered stage consumes and acknowledges: its delivery budget, backoffs, deadlines and room.

`shared.consumer.PartitionedConsumer` applies it; its module docstring tells the ack policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.dead_letter_retry import AutoRetry


@dataclass(frozen=True)
class AckPolicy:
    """How a stage consumes and acknowledges. `backoff_s[n-1]` is the delay before attempt n+1."""

    max_deliver: int = 5
    backoff_s: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    ack_wait_s: float = 30.0
    fetch_timeout_s: float = 5.0  # how long one pull request waits on the server
    concurrency: int = 16  # handlers running at once in one replica
    buffer: int = 256  # events one partition's owner may hold (the consumer's max_ack_pending)
    handler_timeout_s: float = 300.0  # one attempt's deadline; past it the attempt has failed
    dependency_backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0)
    drain_timeout_s: float = 20.0  # on stop or hand-over: finish what is held within this
    recheck_s: float = 1.0  # how often a lane waiting for an earlier event looks again
    # Dead letters retried once healthy again (shared.dead_letter_retry); off unless asked
    # for: the services ask through `WorkerSettings.ack_policy` (DEAD_LETTER_AUTO_RETRIES).
    auto_retry: AutoRetry = AutoRetry(attempts=0)

    @property
    def heartbeat_s(self) -> float:
        return self.ack_wait_s / 3

    @property
    def pin_timeout_s(self) -> float:
        """Silence after which the server moves a partition's pin: half of `ack_wait`."""
        return max(1.0, self.ack_wait_s / 2)

    @property
    def member_ttl_s(self) -> float:
        return max(1.0, self.ack_wait_s / 3)

    @property
    def pull_expires_s(self) -> float:
        return max(0.2, min(self.fetch_timeout_s, self.pin_timeout_s / 3))

    @property
    def held_limit(self) -> int:
        """Events one replica holds across its partitions: enough to keep every slot busy
        while some lanes wait, and no more, so a backlog stays visible as consumer lag
        (what KEDA scales on) instead of hiding in one replica's memory."""
        return 2 * self.concurrency

    def delay_after(self, deliveries: int) -> float:
        return self.backoff_s[min(deliveries, len(self.backoff_s)) - 1] if self.backoff_s else 0.0

    def dependency_delay(self, waits: int) -> float:
        steps = self.dependency_backoff_s or (1.0,)
        return steps[min(waits, len(steps)) - 1]
