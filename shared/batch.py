"""Consuming the stream in batches, for stages that need no order (audit).

One durable pull consumer, shared by every replica, hands out up to `batch_size`
messages per fetch. The handler receives the whole batch and must be idempotent: the
same message can come again (a lost ack, a replica that died mid-batch, two replicas
racing after an ack wait ran out).

The ack policy is explicit and never drops a message:

- the handler returns: every message of the batch is acknowledged;
- the handler raises: every message is `nak`ed with a backoff that grows with its
  delivery count, and comes back later. The server-side `max_deliver` is unlimited, so
  a batch that fails because its store is down (Postgres restarting) is retried until
  the store is back, however long that takes;
- while the handler runs, every message is heartbeated with `in_progress`, so a slow
  store does not make JetStream hand the batch to another replica.

The risk of never giving up is a message the handler can never accept (a poison
message): it would be redelivered forever and, worse, fail every batch it lands in.
To keep it from dragging healthy messages down with it, a failed batch is retried one
message at a time for the messages already delivered `isolate_after` times or more.
Messages that succeed alone are acknowledged; the poison one keeps failing alone, with
the longest backoff, holding one of the `max_ack_pending` slots, logging an error on
every attempt and counting in `switchboard_batch_messages_total{outcome="retried"}`.
Someone has to fix its cause (or the handler); the consumer will not do it for them.
When the first isolated message fails too, the store is more likely down than the
message poisonous, so the rest are handed back at once rather than tried one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Histogram

from shared.bus import Bus, set_up
from shared.logging import get_logger

log = get_logger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]

BATCH_SIZE = Histogram(
    "switchboard_batch_size", "Messages per batch handed to a batch handler", ["consumer"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_SECONDS = Histogram(
    "switchboard_batch_seconds", "Time a batch handler took, successful or not", ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_MESSAGES = Counter(
    "switchboard_batch_messages_total", "Messages a batch consumer acknowledged or handed back",
    ["consumer", "outcome"],
)


@dataclass(frozen=True)
class BatchPolicy:
    """How a batch consumer fetches and retries. `backoff_s[n-1]` is the delay after delivery n."""

    batch_size: int = 256
    fetch_timeout_s: float = 1.0
    ack_wait_s: float = 60.0
    max_ack_pending: int = 4096
    backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    isolate_after: int = 3

    @property
    def heartbeat_s(self) -> float:
        return self.ack_wait_s / 3

    def delay_after(self, deliveries: int) -> float:
        if not self.backoff_s:
            return 0.0
        return self.backoff_s[max(1, min(deliveries, len(self.backoff_s))) - 1]


def batch_consumer_config(durable: str, filter_subject: str, policy: BatchPolicy) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        description=f"{durable}: every {filter_subject} event, in batches, no order",
        filter_subject=filter_subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=policy.ack_wait_s,
        max_ack_pending=policy.max_ack_pending,
        max_deliver=-1,  # never drop: see the module docstring for the price
    )


class BatchConsumer:
    """Runs `handler` on batches of every event matching `filter_subject`, with any number of replicas."""

    def __init__(
        self, bus: Bus, durable: str, filter_subject: str, handler: BatchHandler, policy: BatchPolicy = BatchPolicy()
    ):
        self.bus = bus
        self.durable = durable
        self.filter_subject = filter_subject
        self.handler = handler
        self.policy = policy

    async def ensure(self) -> None:
        """Create the durable consumer, or bring it to this configuration. Idempotent."""
        await self.bus.js.add_consumer(
            self.bus.stream, batch_consumer_config(self.durable, self.filter_subject, self.policy)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle batches until `stop` is set; the batch in hand is always finished."""
        await set_up(f"{self.durable} consumer", self.ensure)
        sub = await set_up(f"{self.durable} subscription",
                           lambda: self.bus.js.pull_subscribe_bind(durable=self.durable, stream=self.bus.stream))
        log.info("batch_consumer_started", consumer=self.durable, batch_size=self.policy.batch_size)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.policy.batch_size, timeout=self.policy.fetch_timeout_s)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except Exception as exc:  # disconnected: wait for the reconnect, then go on
                    if stop.is_set():
                        break
                    log.warning("fetch_failed", consumer=self.durable, error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                try:
                    await self._process(msgs)
                except Exception as exc:  # e.g. an ack lost with the connection
                    # Unacknowledged messages come back after ack_wait; the handler is idempotent.
                    log.error("batch_interrupted", consumer=self.durable, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            log.info("batch_consumer_stopped", consumer=self.durable)

    async def _process(self, msgs: list[Msg]) -> None:
        error = await self._attempt(msgs)
        if error is None:
            await self._ack(msgs)
            return
        suspects = [m for m in msgs if m.metadata.num_delivered >= self.policy.isolate_after]
        if len(msgs) == 1 or not suspects:
            await self._nak(msgs, error)
            return
        await self._nak([m for m in msgs if m.metadata.num_delivered < self.policy.isolate_after], error)
        await self._isolate(suspects)

    async def _isolate(self, suspects: list[Msg]) -> None:
        """Retry messages one at a time, so one that always fails stops holding back the others."""
        succeeded = 0
        for index, msg in enumerate(suspects):
            error = await self._attempt([msg])
            if error is None:
                succeeded += 1
                await self._ack([msg])
                continue
            await self._nak([msg], error)
            if succeeded == 0:
                # Nothing goes through, so the store is probably down: hand the rest back
                # with the shortest delay, so they do not come back together with this one.
                await self._nak(suspects[index + 1 :], None)
                return

    async def _attempt(self, msgs: list[Msg]) -> BaseException | None:
        heartbeat = asyncio.create_task(self._heartbeat(msgs))
        started = time.perf_counter()
        try:
            await self.handler(msgs)
        except Exception as exc:
            return exc
        finally:
            heartbeat.cancel()
            BATCH_SIZE.labels(self.durable).observe(len(msgs))
            BATCH_SECONDS.labels(self.durable).observe(time.perf_counter() - started)
        return None

    async def _heartbeat(self, msgs: Sequence[Msg]) -> None:
        while True:
            await asyncio.sleep(self.policy.heartbeat_s)
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _ack(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        BATCH_MESSAGES.labels(self.durable, "acked").inc(len(msgs))

    async def _nak(self, msgs: Sequence[Msg], error: BaseException | None) -> None:
        """Hand messages back: after `error` with backoff, or untried (`None`) with the shortest delay."""
        if not msgs:
            return
        if error is not None:
            deliveries = max(m.metadata.num_delivered for m in msgs)
            log.error(
                "batch_failed", consumer=self.durable, size=len(msgs), deliveries=deliveries,
                first_seq=msgs[0].metadata.sequence.stream, error=repr(error)[:500],
            )
        for msg in msgs:
            deliveries = msg.metadata.num_delivered if error is not None else 1
            await msg.nak(delay=self.policy.delay_after(deliveries))
        BATCH_MESSAGES.labels(self.durable, "retried" if error is not None else "handed_back").inc(len(msgs))
