"""Consuming the stream: ordered per conversation, parallel across conversations.

Each ordered stage owns one durable pull consumer per partition, with
`max_ack_pending=1`: JetStream hands out a partition's next event only after the
previous one is acknowledged, so however many replicas fetch from a partition, its
events are handled one at a time and in order. Replicas run a fetch loop on every
partition, so any replica can take over when another stops.

The ack policy is explicit: ack on success; heartbeat `in_progress` while a handler
runs; on failure `nak` with backoff until `max_deliver`, then publish
`MessageDeadLettered` and terminate the message, so the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from shared.bus import Bus, PublishFailed
from shared.errors import DependencyUnavailable, PermanentFailure  # noqa: F401  (re-exported)
from shared.events import Event, MessageDeadLettered, MessageDeadLetteredData, UnknownEvent, decode
from shared.ids import parse_stored_subject, partition_filter
from shared.logging import get_logger
from shared.stream import partitions_of

log = get_logger(__name__)

HANDLED = Counter(
    "switchboard_events_handled_total", "Events handled by a stage", ["consumer", "outcome"]
)
HANDLER_SECONDS = Histogram(
    "switchboard_handler_seconds", "Time spent in a stage's handler", ["consumer"]
)
DEAD_LETTERS = Counter("switchboard_dead_letters_total", "Events given up on", ["consumer"])


@dataclass(frozen=True)
class AckPolicy:
    """How a stage acknowledges. `backoff_s[n-1]` is the delay before delivery n+1."""

    max_deliver: int = 5
    backoff_s: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    ack_wait_s: float = 30.0
    fetch_timeout_s: float = 1.0

    @property
    def heartbeat_s(self) -> float:
        return self.ack_wait_s / 3

    def delay_after(self, deliveries: int) -> float:
        return self.backoff_s[min(deliveries, len(self.backoff_s)) - 1] if self.backoff_s else 0.0


@dataclass(frozen=True)
class Delivery:
    """What a handler may want to know about the message in hand."""

    subject: str
    stream_sequence: int
    deliveries: int
    partition: int
    consumer: str


Handler = Callable[[Event, Delivery], Awaitable[None]]


def durable_name(service: str, kind: str, partition: int) -> str:
    return f"{service}-{kind}-p{partition:03d}"


def partition_consumer_config(service: str, kind: str, partition: int, policy: AckPolicy) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable_name(service, kind, partition),
        description=f"{service}: {kind} events of partition {partition}, in order",
        filter_subject=partition_filter(kind, partition),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=JsAckPolicy.EXPLICIT,
        max_ack_pending=1,
        ack_wait=policy.ack_wait_s,
        # No server-side limit: the fetch loop dead-letters at `max_deliver`, before the
        # handler runs, so even a process that dies on the message every time moves on,
        # and an event is never dropped without a MessageDeadLettered record.
        max_deliver=-1,
    )


async def ensure_partition_consumers(bus: Bus, service: str, kind: str, policy: AckPolicy) -> int:
    """Create or update the service's durable consumers, one per partition. Idempotent."""
    info = await bus.js.stream_info(bus.stream)
    partitions = partitions_of(info.config)
    for partition in range(partitions):
        await bus.js.add_consumer(bus.stream, partition_consumer_config(service, kind, partition, policy))
    return partitions


class PartitionedConsumer:
    """Runs `handler` on every `kind` event, each partition in order, all partitions at once."""

    def __init__(self, bus: Bus, service: str, kind: str, handler: Handler, policy: AckPolicy = AckPolicy()):
        self.bus = bus
        self.service = service
        self.kind = kind
        self.handler = handler
        self.policy = policy
        self.name = f"{service}-{kind}"
        self.busy = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle until `stop` is set; the message in hand is always finished."""
        partitions = await ensure_partition_consumers(self.bus, self.service, self.kind, self.policy)
        log.info("consumer_started", consumer=self.name, partitions=partitions)
        await asyncio.gather(*(self._fetch_loop(p, stop) for p in range(partitions)))
        log.info("consumer_stopped", consumer=self.name)

    async def _fetch_loop(self, partition: int, stop: asyncio.Event) -> None:
        durable = durable_name(self.service, self.kind, partition)
        sub = await self.bus.js.pull_subscribe_bind(durable=durable, stream=self.bus.stream)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=self.policy.fetch_timeout_s)
                except (NatsTimeoutError, asyncio.TimeoutError):
                    continue
                except Exception as exc:  # disconnected: wait for the reconnect, then go on
                    if stop.is_set():
                        break
                    log.warning("fetch_failed", consumer=durable, error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    try:
                        await self._handle(msg, partition, durable)
                    except Exception as exc:  # e.g. the ack was lost with the connection
                        # Unacknowledged, so JetStream redelivers it after ack_wait.
                        log.error("handling_interrupted", consumer=durable, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _handle(self, msg: Msg, partition: int, durable: str) -> None:
        meta = msg.metadata
        delivery = Delivery(
            subject=msg.subject,
            stream_sequence=meta.sequence.stream,
            deliveries=meta.num_delivered,
            partition=partition,
            consumer=durable,
        )
        try:
            event = decode(msg.data)
        except (UnknownEvent, ValidationError, ValueError) as exc:
            await self._dead_letter(msg, delivery, f"undecodable event: {exc}", None)
            return
        if delivery.deliveries > self.policy.max_deliver:
            await self._dead_letter(msg, delivery, "delivered too often without an outcome", event)
            return
        self.busy += 1
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = time.perf_counter()
        try:
            await self.handler(event, delivery)
        except PermanentFailure as exc:
            await self._dead_letter(msg, delivery, f"permanent failure: {exc}", event)
        except Exception as exc:
            log.warning(
                "handler_failed", consumer=durable, seq=delivery.stream_sequence,
                deliveries=delivery.deliveries, error=repr(exc),
            )
            if delivery.deliveries >= self.policy.max_deliver:
                await self._dead_letter(msg, delivery, repr(exc), event)
            else:
                HANDLED.labels(self.name, "retried").inc()
                await msg.nak(delay=self.policy.delay_after(delivery.deliveries))
        else:
            HANDLED.labels(self.name, "ok").inc()
            await msg.ack()
        finally:
            heartbeat.cancel()
            self.busy -= 1
            HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.policy.heartbeat_s)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _dead_letter(self, msg: Msg, delivery: Delivery, error: str, event: Event | None) -> None:
        try:
            _, _, conversation = parse_stored_subject(delivery.subject)
        except ValueError:
            conversation = "unknown"
        dead = MessageDeadLettered(
            conversation=event.conversation if event else conversation,
            correlation_id=(event.correlation_id or event.id) if event else None,
            causation_id=event.id if event else None,
            data=MessageDeadLetteredData(
                consumer=delivery.consumer,
                stream_sequence=delivery.stream_sequence,
                subject=delivery.subject,
                deliveries=delivery.deliveries,
                error=error[:2000],
                original_type=event.type if event else None,
                original_id=event.id if event else None,
            ),
        )
        try:
            await self.bus.publish(dead, msg_id=f"dead:{delivery.consumer}:{delivery.stream_sequence}")
        except PublishFailed as exc:
            # Not recorded, so not given up on: try again later rather than lose it.
            log.error("dead_letter_failed", consumer=delivery.consumer, seq=delivery.stream_sequence, error=str(exc))
            await msg.nak(delay=self.policy.delay_after(len(self.policy.backoff_s) or 1))
            return
        DEAD_LETTERS.labels(self.name).inc()
        HANDLED.labels(self.name, "dead_lettered").inc()
        log.error(
            "dead_lettered", consumer=delivery.consumer, seq=delivery.stream_sequence,
            deliveries=delivery.deliveries, error=error[:200],
        )
        await msg.term()
