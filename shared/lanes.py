"""Lanes: one queue per conversation inside the partition a replica owns.

The owner of a partition holds up to `buffer` of its events at once (the consumer's
`max_ack_pending`). Each event joins its conversation's lane; a lane runs its events one
at a time in stream order and acknowledges each when its own work is done, so a slow
conversation delays only itself while the others of the partition go on.

Why order holds, even across crashes and takeovers: JetStream redelivers an unacknowledged
event after `ack_wait`, and a new owner may receive a conversation's *later* events before
the redelivery of an earlier one (the redelivery queue is not in sequence order either).
So a lane does not trust arrival order. Before it runs event `s` it asks the stream for
its conversation's first event after `max(done, ack floor)`, where `done` is the last
event of this conversation the stage finished (kept in a key-value bucket, written before
the ack) and the ack floor is the consumer's. If that event is earlier than `s`, it is
still out with someone, and the lane waits for it; every other lane keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.consumer import PartitionedConsumer

log = get_logger(__name__)


class Progress:
    """Per (stage, conversation), in a key-value bucket: the last finished stream sequence,
    and how many times the handler has been started on the event after it.

    The value is `"<done>"`, or `"<done> <seq> <attempts>"` while event `seq` is being
    tried. Counting handler starts rather than JetStream deliveries matters after a crash:
    an event that was only waiting behind the one that killed the process is redelivered
    too, but it never ran, so it must not be given up on with the poison one.
    """

    def __init__(self, kv: KeyValue, stage: str):
        self.kv = kv
        self.stage = stage
        self._cache: dict[str, tuple[int, int, int]] = {}  # conversation -> (done, seq tried, attempts)

    def key(self, conversation: str) -> str:
        return f"{self.stage}.{conversation}"

    async def _state(self, conversation: str) -> tuple[int, int, int]:
        if conversation in self._cache:
            return self._cache[conversation]
        try:
            entry = await self.kv.get(self.key(conversation))
            numbers = [int(part) for part in (entry.value or b"0").split()]
        except (KeyNotFoundError, ValueError):
            numbers = [0]
        state = (numbers[0], numbers[1], numbers[2]) if len(numbers) == 3 else (numbers[0], 0, 0)
        self._cache[conversation] = state
        return state

    async def done(self, conversation: str) -> int:
        return (await self._state(conversation))[0]

    async def attempts(self, conversation: str, seq: int) -> int:
        """How many times the handler was started on `seq` before (0 if never)."""
        done, tried, attempts = await self._state(conversation)
        return attempts if tried == seq and seq > done else 0

    async def record_start(self, conversation: str, seq: int, attempts: int) -> None:
        done = (await self._state(conversation))[0]
        await self.kv.put(self.key(conversation), f"{done} {seq} {attempts}".encode())
        self._cache[conversation] = (done, seq, attempts)

    async def record(self, conversation: str, seq: int) -> None:
        await self.kv.put(self.key(conversation), str(seq).encode())
        done = max(seq, self._cache.get(conversation, (0, 0, 0))[0])
        self._cache[conversation] = (done, 0, 0)

    def forget(self, conversation: str) -> None:
        """Drop the cached value (another replica may own this conversation next)."""
        self._cache.pop(conversation, None)


@dataclass
class Lane:
    conversation: str
    subject: str
    held: dict[int, Msg] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    running: int | None = None


class PartitionLanes:
    """The lanes of one owned partition: dispatch, order guard, heartbeats, drain."""

    def __init__(self, consumer: PartitionedConsumer, partition: int, durable: str):
        self.consumer = consumer
        self.partition = partition
        self.durable = durable
        self.lanes: dict[str, Lane] = {}
        self.ack_floor = 0
        self._floor_read_at = 0.0

    @property
    def held(self) -> int:
        return sum(len(lane.held) for lane in self.lanes.values())

    def add(self, msg: Msg) -> None:
        """Put a delivered event into its conversation's lane (a redelivery replaces the copy)."""
        conversation = msg.subject.rsplit(".", 1)[-1]
        seq = msg.metadata.sequence.stream
        lane = self.lanes.get(conversation)
        if lane is None:
            lane = self.lanes[conversation] = Lane(conversation, msg.subject)
        log.debug("event_held", consumer=self.durable, seq=seq, deliveries=msg.metadata.num_delivered,
                  pin=(msg.headers or {}).get("Nats-Pin-Id"), replaced=seq in lane.held)
        lane.held[seq] = msg
        lane.wake.set()
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run(lane), name=f"lane-{self.durable}-{conversation}")
        self.consumer.metrics_changed()

    async def refresh_floor(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._floor_read_at < self.consumer.policy.recheck_s:
            return
        self._floor_read_at = now
        with contextlib.suppress(Exception):
            state = await self.consumer.consumer_state(self.durable)
            self.ack_floor = max(self.ack_floor, int(state.get("ack_floor", {}).get("stream_seq", 0)))

    async def _next_expected(self, lane: Lane, done: int) -> int | None:
        """The first event of this conversation after what is known to be finished."""
        after = max(done, self.ack_floor)
        try:
            raw = await self.consumer.bus.js.get_msg(
                self.consumer.bus.stream, seq=after + 1, subject=lane.subject, next=True, direct=True
            )
        except NotFoundError:
            return None
        return raw.seq

    async def _run(self, lane: Lane) -> None:
        progress = self.consumer.progress
        try:
            while lane.held:
                seq = min(lane.held)
                try:
                    done = await progress.done(lane.conversation)
                    expected = await self._next_expected(lane, done)
                except Exception as exc:  # NATS away: look again shortly
                    log.warning("lane_check_failed", consumer=self.durable, error=repr(exc))
                    await asyncio.sleep(self.consumer.policy.recheck_s)
                    continue
                if seq <= done:
                    # Finished before (a redelivery after a lost ack): acknowledge only.
                    await self._ack(lane.held.pop(seq))
                    continue
                if expected is not None and expected < seq:
                    # An earlier event of this conversation is still out: wait for it.
                    self.consumer.metrics.waiting_for_order.inc()
                    lane.wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lane.wake.wait(), self.consumer.policy.recheck_s)
                    await self.refresh_floor()
                    continue
                lane.running = seq
                try:
                    await self.consumer.process(lane, seq, self)
                finally:
                    lane.running = None
                lane.held.pop(seq, None)
                self.consumer.metrics_changed()
        finally:
            if not lane.held and self.lanes.get(lane.conversation) is lane:
                del self.lanes[lane.conversation]
                progress.forget(lane.conversation)

    async def _ack(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            await msg.ack()
        self.consumer.metrics_changed()

    async def heartbeat(self) -> None:
        """Keep every held event from being redelivered while it waits or runs."""
        while True:
            await asyncio.sleep(self.consumer.policy.heartbeat_s)
            for lane in list(self.lanes.values()):
                for msg in list(lane.held.values()):
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [lane.task for lane in self.lanes.values() if lane.task is not None and not lane.task.done()]

    async def drain(self, timeout_s: float) -> None:
        """Finish what is held; past `timeout_s`, hand the rest back in order for the next owner."""
        pending = self.tasks()
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        left = [lane for lane in self.lanes.values() if lane.held]
        if left:
            log.warning("drain_timed_out", consumer=self.durable, conversations=len(left),
                        running=sum(1 for lane in left if lane.running is not None),
                        events=sum(len(lane.held) for lane in left), timeout_s=timeout_s)
        await self.abandon(hand_back=True)

    async def abandon(self, hand_back: bool) -> None:
        """Stop every lane. With `hand_back`, `nak` what is left so it is redelivered at once."""
        for task in self.tasks():
            task.cancel()
        for task in self.tasks():
            with contextlib.suppress(BaseException):
                await task
        leftovers = sorted((seq, msg) for lane in self.lanes.values() for seq, msg in lane.held.items())
        self.lanes.clear()
        if hand_back:
            for _, msg in leftovers:
                with contextlib.suppress(Exception):
                    await msg.nak()
        self.consumer.metrics_changed()
