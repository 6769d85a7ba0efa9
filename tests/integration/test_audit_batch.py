"""The batch consumer audit runs on (`shared/batch.py`), on a real nats-server."""

from __future__ import annotations

import asyncio
import time

from nats.aio.msg import Msg

from shared.batch import BatchConsumer, BatchPolicy
from shared.bus import Bus, connect
from tests.waiting import scaled

POLICY = BatchPolicy(batch_size=8, fetch_timeout_s=0.2, ack_wait_s=3.0, backoff_s=(0.05, 0.1, 0.2), isolate_after=2)


async def publish_raw(bus: Bus, payloads: list[bytes]) -> None:
    for n, payload in enumerate(payloads):
        await bus.js.publish(f"wa.batch.c{n % 3}", payload)


async def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def start(bus: Bus, handler) -> tuple[asyncio.Event, asyncio.Task]:
    consumer = BatchConsumer(bus, "batch-test", "wa.batch.>", handler, POLICY)
    await consumer.ensure()
    stop = asyncio.Event()
    return stop, asyncio.create_task(consumer.run(stop))


async def settled(bus: Bus, durable: str, pending: int = 0) -> bool:
    info = await bus.js.consumer_info(bus.stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == pending


async def test_a_failing_handler_is_retried_until_it_succeeds_and_nothing_is_lost(bus):
    handled: list[bytes] = []
    calls = 0

    async def handler(msgs: list[Msg]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 4:  # the store is down for a while
            raise ConnectionRefusedError("postgres is restarting")
        handled.extend(m.data for m in msgs)

    payloads = [f"event {n}".encode() for n in range(30)]
    await publish_raw(bus, payloads)
    stop, task = await start(bus, handler)
    try:
        await wait_until(lambda: settled(bus, "batch-test"))
    finally:
        stop.set()
        await task
    assert sorted(handled) == sorted(payloads)
    assert calls > 4


async def test_a_poison_message_is_isolated_and_retried_forever_without_holding_back_others(bus):
    handled: set[bytes] = set()
    poison_attempts = 0

    async def handler(msgs: list[Msg]) -> None:
        nonlocal poison_attempts
        if any(m.data == b"poison" for m in msgs):
            poison_attempts += len(msgs) == 1
            raise ValueError("cannot store this one")
        handled.update(m.data for m in msgs)

    payloads = [f"event {n}".encode() for n in range(20)]
    await publish_raw(bus, payloads[:5] + [b"poison"] + payloads[5:])
    stop, task = await start(bus, handler)
    try:
        await wait_until(lambda: settled(bus, "batch-test", pending=1))
        await wait_until(lambda: asyncio.sleep(0, poison_attempts >= 2))
    finally:
        stop.set()
        await task
    assert handled == set(payloads)
    info = await bus.js.consumer_info(bus.stream, "batch-test")
    assert info.num_ack_pending == 1 and info.config.max_deliver == -1  # kept, never dropped


async def test_stop_finishes_the_batch_in_hand(bus):
    started = asyncio.Event()
    handled: list[bytes] = []

    async def handler(msgs: list[Msg]) -> None:
        started.set()
        await asyncio.sleep(0.5)
        handled.extend(m.data for m in msgs)

    payloads = [f"event {n}".encode() for n in range(5)]
    await publish_raw(bus, payloads)
    stop, task = await start(bus, handler)
    await started.wait()
    stop.set()
    await asyncio.wait_for(task, 5)
    await bus.nc.flush()
    assert sorted(handled) == sorted(payloads)
    assert await settled(bus, "batch-test")


async def test_the_consumer_is_durable_and_shared_by_replicas(bus, nats_server):
    seen: list[list[bytes]] = [[], []]

    def handler_for(replica: int):
        async def handler(msgs: list[Msg]) -> None:
            await asyncio.sleep(0.01)
            seen[replica].extend(m.data for m in msgs)
        return handler

    payloads = [f"event {n}".encode() for n in range(200)]
    connections = [await connect(nats_server.url, f"replica-{i}", wait=False) for i in range(2)]
    stop = asyncio.Event()
    consumers = [BatchConsumer(Bus(nc), "batch-test", "wa.batch.>", handler_for(i), POLICY) for i, nc in enumerate(connections)]
    await consumers[0].ensure()
    tasks = [asyncio.create_task(consumer.run(stop)) for consumer in consumers]
    try:
        await publish_raw(bus, payloads)
        await wait_until(lambda: settled(bus, "batch-test"))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for nc in connections:
            await nc.close()
    assert sorted(seen[0] + seen[1]) == sorted(payloads)  # each handled once: no failure, no redelivery
    assert seen[0] and seen[1]
