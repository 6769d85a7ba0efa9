"""The partitioned consumer on a real nats-server: order, exclusivity, retries, dead letters."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from shared.bus import Bus, connect
from shared.consumer import AckPolicy, Delivery, PartitionedConsumer, PermanentFailure
from shared.events import MessageDeadLettered, MessageReceived, MessageReceivedData, decode, utcnow
from shared.ids import conversation_id

FAST = AckPolicy(max_deliver=3, backoff_s=(0.05, 0.1), ack_wait_s=2.0, fetch_timeout_s=0.5)


def received(conversation: str, sid: str, body: str = "") -> MessageReceived:
    return MessageReceived(
        conversation=conversation,
        data=MessageReceivedData(message_sid=sid, from_="+34600000000", to="+14155238886", body=body, received_at=utcnow()),
    )


async def publish_all(bus: Bus, events: list[MessageReceived]) -> None:
    for event in events:
        await bus.publish(event, msg_id=event.data.message_sid)


async def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def all_events(bus: Bus) -> list:
    """Every decodable event in the stream (tests publish some garbage on purpose)."""
    info = await bus.js.stream_info(bus.stream)
    events = []
    for seq in range(1, info.state.last_seq + 1):
        try:
            events.append(decode((await bus.js.get_msg(bus.stream, seq)).data))
        except ValueError:
            pass
    return events


async def test_two_replicas_keep_order_per_conversation_and_never_share_a_partition(bus, nats_server):
    conversations = [conversation_id("+14155238886", f"+3460000{i:04d}") for i in range(10)]
    events = [received(c, f"SM{c}-{n:02d}") for n in range(20) for c in conversations]
    seen: dict[str, list[str]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    serving: dict[int, set[int]] = defaultdict(set)  # partition -> replicas with a handler running
    overlaps: list[str] = []
    shared_partitions: list[int] = []
    per_replica = [0, 0]
    most_at_once = [0]

    def handler_for(replica: int):
        async def handle(event: MessageReceived, delivery: Delivery) -> None:
            running[event.conversation] += 1
            serving[delivery.partition].add(replica)
            if running[event.conversation] > 1:
                overlaps.append(event.conversation)
            if len(serving[delivery.partition]) > 1:
                shared_partitions.append(delivery.partition)
            most_at_once[0] = max(most_at_once[0], sum(running.values()))
            await asyncio.sleep(random.uniform(0, 0.004))
            seen[event.conversation].append(event.data.message_sid)
            per_replica[replica] += 1
            running[event.conversation] -= 1
            serving[delivery.partition].discard(replica)
        return handle

    # Each replica has its own connection, as separate processes would.
    connections = [await connect(nats_server.url, f"replica-{i}", wait=False) for i in range(2)]
    stop = asyncio.Event()
    replicas = [
        PartitionedConsumer(Bus(nc), "stage", "received", handler_for(i), FAST) for i, nc in enumerate(connections)
    ]
    tasks = [asyncio.create_task(r.run(stop)) for r in replicas]
    await wait_until(lambda: all(len(r.owned) > 0 for r in replicas))  # both have joined
    await publish_all(bus, events)
    await wait_until(lambda: sum(per_replica) >= len(events), timeout=60)
    stop.set()
    await asyncio.gather(*tasks)
    for nc in connections:
        await nc.close()

    assert overlaps == []  # one event at a time per conversation
    assert shared_partitions == []  # a partition is served by one replica at a time
    assert sum(per_replica) == len(events)  # each event handled once
    assert all(count > 0 for count in per_replica), per_replica  # the replicas shared the work
    assert most_at_once[0] > 1  # conversations did run concurrently
    for conversation in conversations:
        assert seen[conversation] == [f"SM{conversation}-{n:02d}" for n in range(20)]


async def test_a_handler_that_always_raises_is_dead_lettered_and_the_partition_goes_on(bus):
    conversation = conversation_id("+14155238886", "+34611111111")
    attempts: list[int] = []
    handled: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.data.body == "poison":
            attempts.append(delivery.deliveries)
            raise RuntimeError("cannot handle this one")
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, FAST).run(stop))
    await publish_all(bus, [received(conversation, "SM-poison", "poison")] + [received(conversation, f"SM-{i}") for i in range(3)])
    await wait_until(lambda: len(handled) == 3)
    stop.set()
    await task

    assert attempts == [1, 2, 3]  # exactly max_deliver attempts
    assert handled == ["SM-0", "SM-1", "SM-2"]  # the events behind it, in order
    dead = [e for e in await all_events(bus) if isinstance(e, MessageDeadLettered)]
    assert len(dead) == 1
    assert dead[0].conversation == conversation
    assert dead[0].data.deliveries == 3 and dead[0].data.stream_sequence == 1
    assert "cannot handle this one" in dead[0].data.error
    assert dead[0].data.consumer.startswith("stage-received-p")


async def test_permanent_failures_and_undecodable_events_are_dead_lettered_at_once(bus):
    conversation = conversation_id("+14155238886", "+34622222222")
    attempts: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        attempts.append(event.data.message_sid)
        if event.data.body == "bad":
            raise PermanentFailure("unsupported input")

    await bus.js.publish(f"wa.received.{conversation}", b"{not json", headers={"Nats-Msg-Id": "garbage"})
    await publish_all(bus, [received(conversation, "SM-bad", "bad"), received(conversation, "SM-ok")])
    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, FAST).run(stop))
    await wait_until(lambda: "SM-ok" in attempts)
    stop.set()
    await task

    assert attempts == ["SM-bad", "SM-ok"]
    dead = [e for e in await all_events(bus) if isinstance(e, MessageDeadLettered)]
    assert sorted(d.data.stream_sequence for d in dead) == [1, 2]
    assert all(d.data.deliveries == 1 for d in dead)


async def test_long_handlers_send_heartbeats_and_are_not_redelivered(bus):
    policy = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=1.0, fetch_timeout_s=0.5)
    conversation = conversation_id("+14155238886", "+34633333333")
    calls: list[int] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        calls.append(delivery.deliveries)
        await asyncio.sleep(2.5)  # well past ack_wait

    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "slow", "received", handle, policy).run(stop))
    await publish_all(bus, [received(conversation, "SM-slow")])
    await wait_until(lambda: calls)
    await asyncio.sleep(4)
    stop.set()
    await task
    assert calls == [1]


async def test_stopping_finishes_the_message_in_hand(bus, nats_server):
    conversation = conversation_id("+14155238886", "+34644444444")
    started, finished = asyncio.Event(), []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(event.data.message_sid)

    stop = asyncio.Event()
    consumer = PartitionedConsumer(bus, "stage", "received", handle, FAST)
    task = asyncio.create_task(consumer.run(stop))
    await publish_all(bus, [received(conversation, "SM-1")])
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert finished == ["SM-1"]
    # It was acknowledged: a new replica gets nothing to redo.
    redo: list[str] = []

    async def record(event, delivery):
        redo.append(event.data.message_sid)

    stop2 = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", record, FAST).run(stop2))
    await asyncio.sleep(1.5)
    stop2.set()
    await task
    assert redo == []


@pytest.mark.parametrize("deliveries,expected", [(1, 0.05), (2, 0.1), (7, 0.1)])
def test_backoff_grows_then_holds(deliveries, expected):
    assert FAST.delay_after(deliveries) == expected
