"""A stage retries its own dead letters once it is healthy again, with a record, boundedly.

The dependency is a real loopback TCP service the handler must reach; taking it down makes
the handler fail with a plain `ConnectionRefusedError` (an outage that was not recognised as
one), so the event is dead-lettered. The stage's health follows the same service
(`DependencyHealth` probing it), and the retrier acts only once that health is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from shared.consumer import Delivery, PartitionedConsumer
from shared.dead_letter_retry import AutoRetry
from shared.events import DeadLetterRetried, MessageDeadLettered, MessageReceived
from shared.health import DependencyHealth
from shared.ids import conversation_id
from switchboard.infra import free_port
from tests.integration.test_consumer import FAST, all_events, publish_all, received
from tests.waiting import eventually

USER = conversation_id("+14155238886", "+34655500000")
RETRYING = replace(FAST, auto_retry=AutoRetry(attempts=2, after_s=0.5, interval_s=0.2))


class Dependency:
    """A line-echo service on a fixed loopback port that can be taken down and brought back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def up(self) -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(answer, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        self.server = None

    async def ask(self, text: str) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(text.encode() + b"\n")
            await writer.drain()
            return (await reader.readline()).decode().strip()
        finally:
            writer.close()


def holds(predicate):
    """`predicate` as the awaitable condition `eventually` takes."""
    async def check() -> bool:
        return bool(predicate())
    return check


async def of_type(bus, cls) -> list:
    return [e for e in await all_events(bus) if isinstance(e, cls)]


async def test_a_dead_letter_made_while_a_dependency_was_down_is_handled_once_after_it_is_back(bus):
    dependency = Dependency()
    await dependency.up()
    health = DependencyHealth("echo")
    handled: list[str] = []
    refused: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        try:
            handled.append(await dependency.ask(event.data.message_sid))
        except ConnectionRefusedError:
            refused.append(event.data.message_sid)
            raise

    stop = asyncio.Event()
    watcher = asyncio.create_task(health.watch(lambda: dependency.ask("ping"), stop, interval_s=0.1, timeout_s=1))
    stage = PartitionedConsumer(bus, "stage", "received", handle, RETRYING,
                                healthy=lambda: bus.connected and health.is_ok())
    task = asyncio.create_task(stage.run(stop))
    try:
        await publish_all(bus, [received(USER, "SM-before")])
        await eventually(holds(lambda: handled == ["SM-before"]), 20, "the first event to be handled")

        await dependency.down()
        await eventually(holds(lambda: not health.is_ok()), 20, "the stage to see the outage")
        await publish_all(bus, [received(USER, "SM-during")])

        async def dead_lettered() -> bool:
            return bool(await of_type(bus, MessageDeadLettered))
        await eventually(dead_lettered, 30, "the event to be dead-lettered")
        [dead] = await of_type(bus, MessageDeadLettered)
        assert refused == ["SM-during"] * FAST.max_deliver  # the fault fired, every delivery
        assert "ConnectionRefusedError" in dead.data.error
        assert await of_type(bus, DeadLetterRetried) == []  # nothing retried while it was down

        await dependency.up()
        await eventually(holds(lambda: handled == ["SM-before", "SM-during"]), 30, "the dead letter to be handled")
        passes = stage.retrier.passes
        await eventually(holds(lambda: stage.retrier.passes >= passes + 3), 20, "the retrier to look three more times")
    finally:
        stop.set()
        await task
        await watcher
        with contextlib.suppress(AssertionError):
            await dependency.down()

    assert handled == ["SM-before", "SM-during"]  # exactly once
    [retried] = await of_type(bus, DeadLetterRetried)
    assert retried.data.by == "auto" and retried.data.requested_by.startswith("auto:")
    assert retried.data.original_seq == dead.data.stream_sequence and retried.data.consumer == dead.data.consumer
    assert len(await of_type(bus, MessageDeadLettered)) == 1


async def test_an_event_that_fails_on_a_healthy_stage_is_retried_a_bounded_number_of_times_then_left(bus):
    tries: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        tries.append(event.data.message_sid)
        raise RuntimeError("a bug, not an outage")

    stop = asyncio.Event()
    stage = PartitionedConsumer(bus, "stage", "received", handle, RETRYING)
    task = asyncio.create_task(stage.run(stop))
    try:
        await publish_all(bus, [received(USER, "SM-bug")])

        async def dead_three_times() -> bool:
            return len(await of_type(bus, MessageDeadLettered)) == 1 + RETRYING.auto_retry.attempts
        await eventually(dead_three_times, 60, "the original and both automatic retries to be dead-lettered")
        passes = stage.retrier.passes
        await eventually(holds(lambda: stage.retrier.passes >= passes + 3), 20, "the retrier to look three more times")
    finally:
        stop.set()
        await task

    assert len(await of_type(bus, DeadLetterRetried)) == RETRYING.auto_retry.attempts  # then it stops
    assert len(await of_type(bus, MessageDeadLettered)) == 1 + RETRYING.auto_retry.attempts
    assert tries == ["SM-bug"] * FAST.max_deliver * (1 + RETRYING.auto_retry.attempts)
