"""Consuming the stream: in order per conversation, concurrently across conversations.

An ordered stage (transcriber, agent, outbound) has one durable consumer per partition.
Three pieces make it both ordered and parallel:

1. **One owner per partition.** Each consumer is in a JetStream priority group with the
   `pinned_client` policy, so the server delivers a partition's events to one replica at a
   time (`shared.pinned`). Replicas agree on who should own what through heartbeats in a
   key-value bucket (`shared.ownership`): at most ceil(P/R) partitions each. A replica
   that stops (SIGTERM) or loses a partition in a rebalance finishes what it holds, then
   unpins, so the next owner takes over at once and nothing is redelivered; a replica that
   dies (kill -9) loses its pin after `ack_wait / 2` of silence.
2. **Lanes inside the owner.** The owner holds up to `buffer` events of a partition and
   runs each conversation's events one at a time, in stream order, on its own lane
   (`shared.lanes`); up to `concurrency` handlers run at once per replica, whatever their
   partition. Each event is acknowledged when its own work is done.
3. **An order guard** that does not trust arrival order after a crash (`shared.lanes`).

The ack policy is explicit and per event: success → record progress, ack; `PermanentFailure`
→ dead-letter at once; `DependencyUnavailable` → wait with capped backoff and retry,
without spending the event's delivery budget; any other exception → retry on the lane
after `backoff_s`, and dead-letter at `max_deliver` deliveries (counting redeliveries after
crashes, checked before the handler runs). While an event is held it is kept alive with
`in_progress`. Waiting (backoff, order, the handler itself) happens on the lane only.

Beside this module: the policy's numbers (`shared.ack_policy`), what a stage needs in
place before it consumes (`shared.consumer_setup`) and the metrics (`shared.consumer_metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, TypeVar

from nats.aio.msg import Msg
from pydantic import ValidationError

from shared.ack_policy import AckPolicy
from shared.bus import Bus, PublishFailed, set_up
from shared.consumer_metrics import LAG, ConsumerMetrics
from shared.consumer_setup import durable_name, ensure_partition_consumers, open_progress
from shared.dead_letter_retry import DeadLetterRetrier
from shared.errors import DependencyUnavailable, PermanentFailure
from shared.events import Event, MessageDeadLettered, MessageDeadLetteredData, UnknownEvent, decode
from shared.ids import parse_stored_subject
from shared.lanes import PartitionLanes, Progress
from shared.logging import get_logger
from shared.ownership import Membership, assign
from shared.pinned import PinLost, PinnedPuller, consumer_state, unpin
from shared.tracing import span

if TYPE_CHECKING:
    from shared.lanes import Lane

__all__ = [
    "AckPolicy", "Delivery", "DependencyUnavailable", "Handler", "PartitionedConsumer", "PermanentFailure",
    "durable_name", "ensure_partition_consumers",
]

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    """What a handler may want to know about the message in hand."""

    subject: str
    stream_sequence: int
    deliveries: int
    partition: int
    consumer: str


Handler = Callable[[Event[Any], Delivery], Awaitable[None]]


@dataclass
class _Owned:
    task: asyncio.Task[None]
    release: asyncio.Event
    lanes: PartitionLanes | None = None


class PartitionedConsumer:
    """Runs `handler` on every `kind` event: in order per conversation, many conversations at once."""

    def __init__(self, bus: Bus, service: str, kind: str, handler: Handler, policy: AckPolicy = AckPolicy(),
                 *, replicas: int = 1, member: str | None = None, healthy: Callable[[], bool] | None = None):
        self.bus = bus
        # The stage's readiness (NATS and what its handler needs): its dead letters are
        # retried automatically once this has held for a while.
        self.healthy = healthy or (lambda: bus.connected)
        self.service = service
        self.kind = kind
        self.handler = handler
        self.policy = policy
        self.name = f"{service}-{kind}"
        self.replicas = replicas  # key-value replicas, as for the stream
        self.member = member
        self.metrics = ConsumerMetrics(self.name)
        self.slots = asyncio.Semaphore(policy.concurrency)  # made again in run(): tests swap the policy
        self.owned: dict[int, _Owned] = {}
        self.partitions = 0
        self.room_freed = asyncio.Event()
        self.progress: Progress
        self.membership: Membership
        self.retrier: DeadLetterRetrier

    async def run(self, stop: asyncio.Event) -> None:
        """Serve the partitions assigned to this replica until `stop`; then hand them over."""
        self.slots = asyncio.Semaphore(self.policy.concurrency)
        self.partitions = await set_up(
            f"{self.name} consumers", lambda: ensure_partition_consumers(self.bus, self.service, self.kind, self.policy))
        self.progress = await set_up(f"{self.name} progress", lambda: open_progress(self.bus, self.name, self.replicas))
        self.membership = await set_up(f"{self.name} members", lambda: Membership.open(
            self.bus.js, f"{self.bus.stream}_MEMBERS_{self.service}_{self.kind}", self.policy.member_ttl_s,
            self.replicas, self.member,
        ))
        log.info("consumer_started", consumer=self.name, partitions=self.partitions, member=self.membership.me,
                 concurrency=self.policy.concurrency)
        members = [self.membership.me]
        lag: asyncio.Task[None] | None = None
        self.retrier = DeadLetterRetrier(self.bus, self.owns, self.healthy, self.membership.me, self.policy.auto_retry)
        retrier = asyncio.create_task(self.retrier.run(stop))
        try:
            while not stop.is_set():
                members = await self._members(members)
                self._rebalance(assign(self.partitions, members).get(self.membership.me, set()))
                if lag is None or lag.done():
                    lag = asyncio.create_task(self._report_lag())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.policy.member_ttl_s / 3)
        except asyncio.CancelledError:
            # A hard stop: drop everything held, unacknowledged (JetStream redelivers it).
            for owned in self.owned.values():
                owned.task.cancel()
            await asyncio.gather(*(o.task for o in self.owned.values()), return_exceptions=True)
            self.owned.clear()
            raise
        finally:
            retrier.cancel()
            if lag is not None:
                lag.cancel()
            with contextlib.suppress(Exception):
                await self.membership.leave()
            self._rebalance(set())
            tasks = [owned.task for owned in self.owned.values()]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.owned.clear()
            self.metrics.owned.set(0)
            log.info("consumer_stopped", consumer=self.name)

    def owns(self, durable: str) -> bool:
        """Whether `durable` is one of this stage's partition consumers that this replica serves now."""
        prefix, _, partition = durable.rpartition("-p")
        if prefix != self.name or not partition.isdigit():
            return False
        owned = self.owned.get(int(partition))
        return owned is not None and not owned.release.is_set()

    async def _members(self, last: list[str]) -> list[str]:
        try:
            await self.membership.beat()
            members = await self.membership.members()
        except Exception as exc:  # NATS away: keep serving what we have
            log.warning("membership_unavailable", consumer=self.name, error=repr(exc))
            return last
        return members if self.membership.me in members else sorted({*members, self.membership.me})

    def _rebalance(self, wanted: set[int]) -> None:
        for partition, owned in list(self.owned.items()):
            if owned.task.done():
                del self.owned[partition]
                with contextlib.suppress(KeyError):
                    LAG.remove(self.name, str(partition))
        for partition in wanted - self.owned.keys():
            release = asyncio.Event()
            task = asyncio.create_task(self._serve(partition, release), name=f"{self.name}-p{partition}")
            self.owned[partition] = _Owned(task, release)
        for partition, owned in self.owned.items():
            if partition not in wanted and not owned.release.is_set():
                log.info("partition_released", consumer=self.name, partition=partition)
                owned.release.set()
        self.metrics.owned.set(len(wanted))

    async def _report_lag(self) -> None:
        for partition, owned in list(self.owned.items()):
            if owned.release.is_set():
                continue
            with contextlib.suppress(Exception):
                state = await self.consumer_state(durable_name(self.service, self.kind, partition))
                LAG.labels(self.name, str(partition)).set(int(state.get("num_pending", 0)))

    async def consumer_state(self, durable: str) -> dict[str, Any]:
        return await consumer_state(self.bus.nc, self.bus.stream, durable)

    def held(self) -> int:
        return sum(o.lanes.held for o in self.owned.values() if o.lanes is not None)

    def room(self, lanes: PartitionLanes) -> int:
        """How many more events this partition may take now (its share of the replica's room)."""
        free = self.policy.held_limit - self.held()
        serving = max(1, sum(1 for o in self.owned.values() if not o.release.is_set()))
        return min(self.policy.buffer - lanes.held, -(-free // serving) if free > 0 else 0)

    def metrics_changed(self) -> None:
        lanes = [owned.lanes for owned in self.owned.values() if owned.lanes is not None]
        held = sum(pl.held for pl in lanes)
        self.metrics.held.set(held)
        self.metrics.lanes.set(sum(len(pl.lanes) for pl in lanes))
        if held < self.policy.held_limit:
            self.room_freed.set()

    async def _serve(self, partition: int, release: asyncio.Event) -> None:
        """Pull one partition while it is ours; then finish what is held and unpin."""
        durable = durable_name(self.service, self.kind, partition)
        lanes = PartitionLanes(self, partition, durable)
        self.owned[partition].lanes = lanes
        puller = PinnedPuller(self.bus.nc, self.bus.stream, durable, self.policy.pull_expires_s)
        await puller.start()
        heartbeat = asyncio.create_task(lanes.heartbeat())
        await lanes.refresh_floor(force=True)
        try:
            await self._pull_until(release, puller, lanes)
            keep = asyncio.create_task(self._keep_pin(puller))
            try:
                await lanes.drain(self.policy.drain_timeout_s)
            finally:
                keep.cancel()
            if puller.pin_id is not None:
                with contextlib.suppress(Exception):
                    await self.bus.nc.flush(timeout=2)
                    if not await unpin(self.bus.nc, self.bus.stream, durable, puller.pin_id):
                        log.info("pin_already_moved", consumer=self.name, partition=partition)
        except asyncio.CancelledError:
            await lanes.abandon(hand_back=False)
            raise
        finally:
            heartbeat.cancel()
            await puller.close()
            self.metrics_changed()

    async def _keep_pin(self, puller: PinnedPuller) -> None:
        while True:
            with contextlib.suppress(Exception):
                await puller.keep_pin()
            await asyncio.sleep(self.policy.pull_expires_s)

    async def _pull_until(self, release: asyncio.Event, puller: PinnedPuller, lanes: PartitionLanes) -> None:
        while not release.is_set():
            room = self.room(lanes)
            if room <= 0:
                self.room_freed.clear()
                room = self.room(lanes)  # room freed just before the clear is not missed
            if room <= 0:
                # Full: keep the pin (a request that takes nothing) and wait for room.
                with contextlib.suppress(Exception):
                    await puller.keep_pin()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.room_freed.wait(), self.policy.pull_expires_s)
                continue
            try:
                async for msg in puller.pull(room):
                    lanes.add(msg)
            except PinLost as exc:
                # The server moved the pin (we were silent too long, or membership views
                # disagreed for a moment). Keep finishing what we hold: the lanes' order
                # guard keeps each conversation in order whoever holds its later events.
                log.warning("partition_pin_lost", consumer=self.name, partition=lanes.partition, reason=str(exc))
            except Exception as exc:  # disconnected: wait for the reconnect, then go on
                if release.is_set():
                    break
                log.warning("fetch_failed", consumer=lanes.durable, error=repr(exc))
                await asyncio.sleep(0.5)
        for msg in puller.pending():
            lanes.add(msg)

    async def process(self, lane: Lane, seq: int, lanes: PartitionLanes) -> None:
        """Run the handler on one event until it has an outcome: done, or dead-lettered."""
        failures = 0
        dependency_waits = 0
        # Handler starts before this one (in processes that died, or here): recorded, not
        # JetStream's delivery count, which also counts copies that only waited in a lane.
        started_before = await self._retrying(lambda: self.progress.attempts(lane.conversation, seq))
        recorded = started_before
        while True:
            msg = lane.held[seq]  # a redelivery may have replaced our copy
            delivery = Delivery(
                subject=msg.subject, stream_sequence=seq, deliveries=started_before + failures + 1,
                partition=lanes.partition, consumer=lanes.durable,
            )
            try:
                event = decode(msg.data)
            except (UnknownEvent, ValidationError, ValueError) as exc:
                await self._dead_letter(lane, msg, delivery, f"undecodable event: {exc}", None)
                return
            if delivery.deliveries > self.policy.max_deliver:
                await self._dead_letter(lane, msg, delivery, "delivered too often without an outcome", event)
                return
            if delivery.deliveries != recorded:  # written before the handler runs, so a crash counts
                recorded = delivery.deliveries
                await self._retrying(functools.partial(self.progress.record_start, lane.conversation, seq, recorded))
            try:
                await self._attempt(event, delivery, msg.headers)
            except PermanentFailure as exc:
                await self._dead_letter(lane, msg, delivery, f"permanent failure: {exc}", event)
                return
            except DependencyUnavailable as exc:
                dependency_waits += 1
                self.metrics.dependency_waits.inc()
                delay = self.policy.dependency_delay(dependency_waits)
                log.warning("dependency_unavailable", consumer=lanes.durable, seq=seq, error=str(exc)[:200],
                            retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                log.warning("handler_failed", consumer=lanes.durable, seq=seq, deliveries=delivery.deliveries,
                            error=repr(exc)[:500])
                if delivery.deliveries >= self.policy.max_deliver:
                    await self._dead_letter(lane, msg, delivery, repr(exc), event)
                    return
                self.metrics.retried.inc()
                failures += 1
                await asyncio.sleep(self.policy.delay_after(delivery.deliveries))
                continue
            self.metrics.ok.inc()
            await self._finish(lane, seq, msg.ack)
            return

    async def _attempt(self, event: Event[Any], delivery: Delivery, headers: Mapping[str, str] | None = None) -> None:
        async with self.slots:
            self.metrics.in_flight.inc()
            started = time.perf_counter()
            try:
                with span(f"{delivery.consumer.rsplit('-p', 1)[0]} {event.type}", headers, kind="consumer",
                          conversation=event.conversation, stream_sequence=delivery.stream_sequence):
                    await asyncio.wait_for(self.handler(event, delivery), self.policy.handler_timeout_s)
            except TimeoutError as exc:
                raise TimeoutError(f"handler took longer than {self.policy.handler_timeout_s}s") from exc
            finally:
                self.metrics.in_flight.dec()
                self.metrics.seconds.observe(time.perf_counter() - started)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a progress read or write until NATS answers; the event stays held and alive."""
        waits = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                waits += 1
                log.warning("progress_unavailable", consumer=self.name, error=repr(exc)[:200])
                await asyncio.sleep(self.policy.dependency_delay(waits))

    async def _finish(self, lane: Lane, seq: int, settle: Callable[[], Awaitable[None]]) -> None:
        """Record that this conversation got past `seq`, then settle the message (ack or term)."""
        await self._retrying(lambda: self.progress.record(lane.conversation, seq))
        with contextlib.suppress(Exception):
            await settle()

    async def _dead_letter(self, lane: Lane, msg: Msg, delivery: Delivery, error: str,
                           event: Event[Any] | None) -> None:
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
        waits = 0
        while True:
            try:
                await self.bus.publish(dead, msg_id=f"dead:{delivery.consumer}:{delivery.stream_sequence}")
                break
            except PublishFailed as exc:
                # Not recorded, so not given up on: keep it held (and alive) and try again.
                waits += 1
                log.error("dead_letter_failed", consumer=delivery.consumer, seq=delivery.stream_sequence,
                          error=str(exc))
                await asyncio.sleep(self.policy.dependency_delay(waits))
        self.metrics.dead_letters.inc()
        self.metrics.dead.inc()
        log.error(
            "dead_lettered", consumer=delivery.consumer, seq=delivery.stream_sequence,
            deliveries=delivery.deliveries, error=error[:200],
        )
        await self._finish(lane, delivery.stream_sequence, msg.term)
