"""Conversations in parallel, each in order, on a real nats-server.

The stream here has ONE partition, so every conversation shares it: whatever one
conversation waits for (a hung handler, a retry backoff, an outage) must not delay the
others, and order per conversation must hold across replicas, hand-overs and deaths.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from shared.bus import Bus, connect
from shared.consumer import AckPolicy, Delivery, PartitionedConsumer
from shared.errors import DependencyUnavailable
from shared.events import MessageDeadLettered, MessageReceived
from shared.ids import conversation_id
from shared.ownership import assign
from shared.stream import StreamSpec
from tests.integration.test_consumer import all_events, publish_all, received, wait_until

FAST = AckPolicy(max_deliver=3, backoff_s=(0.05, 0.1), ack_wait_s=2.0, fetch_timeout_s=0.5, recheck_s=0.2)


@pytest.fixture
def stream_spec() -> StreamSpec:
    return StreamSpec(partitions=1)


def user(i: int) -> str:
    return conversation_id("+14155238886", f"+3460100{i:04d}")


async def test_a_hung_conversation_does_not_hold_up_the_others_in_its_partition(bus):
    slow, others = user(0), [user(i) for i in range(1, 6)]
    release = asyncio.Event()
    handled: list[str] = []
    slow_started = asyncio.Event()

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.conversation == slow:
            slow_started.set()
            await release.wait()  # an LLM call that hangs
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, FAST).run(stop))
    await publish_all(bus, [received(slow, "SM-slow-1"), received(slow, "SM-slow-2")])
    await asyncio.wait_for(slow_started.wait(), 20)
    await publish_all(bus, [received(c, f"SM-{c}-{n}") for n in range(3) for c in others])
    # Everyone else is answered while the slow conversation is still stuck on its first event.
    await wait_until(lambda: len(handled) == 15)
    assert not release.is_set() and "SM-slow-1" not in handled
    release.set()
    await wait_until(lambda: len(handled) == 17)
    stop.set()
    await task
    assert handled[-2:] == ["SM-slow-1", "SM-slow-2"]  # its own order kept
    for c in others:
        assert [s for s in handled if s.startswith(f"SM-{c}")] == [f"SM-{c}-{n}" for n in range(3)]


async def test_a_failing_conversation_backs_off_alone_and_is_dead_lettered_while_others_flow(bus):
    poisoned, others = user(10), [user(i) for i in range(11, 14)]
    policy = AckPolicy(max_deliver=3, backoff_s=(0.3, 0.3), ack_wait_s=2.0, fetch_timeout_s=0.5, recheck_s=0.2)
    attempts: list[int] = []
    handled: list[str] = []
    during_backoff: list[int] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.conversation == poisoned and event.data.body == "poison":
            attempts.append(delivery.deliveries)
            raise RuntimeError("always fails")
        if attempts and len(attempts) < 3:
            during_backoff.append(len(attempts))
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, policy).run(stop))
    await publish_all(bus, [received(poisoned, "SM-p-1", "poison"), received(poisoned, "SM-p-2")])
    await wait_until(lambda: attempts)
    await publish_all(bus, [received(c, f"SM-{c}-{n}") for n in range(5) for c in others])
    await wait_until(lambda: "SM-p-2" in handled and len(handled) == 16)
    stop.set()
    await task
    assert attempts == [1, 2, 3]
    assert during_backoff, "the other conversations waited for the failing one's backoff"
    assert handled.index("SM-p-2") >= 0  # the poisoned conversation went on after its dead letter
    dead = [e for e in await all_events(bus) if isinstance(e, MessageDeadLettered)]
    assert [d.data.stream_sequence for d in dead] == [1]


async def test_a_dependency_outage_never_spends_the_delivery_budget(bus):
    conversation = user(20)
    outage = {"left": 7}  # more failures than max_deliver (3)
    seen: list[tuple[str, int]] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise DependencyUnavailable("postgres is down")
        seen.append((event.data.message_sid, delivery.deliveries))

    policy = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=2.0, fetch_timeout_s=0.5,
                       dependency_backoff_s=(0.05,))
    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, policy).run(stop))
    await publish_all(bus, [received(conversation, "SM-1"), received(conversation, "SM-2")])
    await wait_until(lambda: len(seen) == 2)
    stop.set()
    await task
    assert outage["left"] == 0  # the outage happened
    assert seen == [("SM-1", 1), ("SM-2", 1)]
    assert not [e for e in await all_events(bus) if isinstance(e, MessageDeadLettered)]


def members_in_order(partitions: int = 1) -> tuple[str, str]:
    """Two member names where the first is the preferred owner of partition 0."""
    for i in range(100):
        a, b = f"first-{i}", f"second-{i}"
        if 0 in assign(partitions, [a, b])[a]:
            return a, b
    raise AssertionError("no ordering found")


async def test_a_dead_owners_events_are_taken_over_in_order(bus, nats_server):
    """Owner A dies holding a conversation's events; B takes over and keeps that order."""
    x, y = user(30), user(31)
    first, second = members_in_order()
    a_started = asyncio.Event()
    seen_by: dict[str, list[str]] = defaultdict(list)
    deliveries: dict[str, int] = {}

    async def a_handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.conversation == x:
            a_started.set()
            await asyncio.Event().wait()  # hangs until A dies
        seen_by["a"].append(event.data.message_sid)

    async def b_handle(event: MessageReceived, delivery: Delivery) -> None:
        seen_by["b"].append(event.data.message_sid)
        deliveries[event.data.message_sid] = delivery.deliveries

    nc_a = await connect(nats_server.url, "a", wait=False)
    nc_b = await connect(nats_server.url, "b", wait=False)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = PartitionedConsumer(Bus(nc_a), "stage", "received", a_handle, FAST, member=first)
    b = PartitionedConsumer(Bus(nc_b), "stage", "received", b_handle, FAST, member=second)
    task_a = asyncio.create_task(a.run(stop_a))
    await wait_until(lambda: 0 in a.owned)
    task_b = asyncio.create_task(b.run(stop_b))
    await publish_all(bus, [received(x, f"SM-x-{n}") for n in range(3)] + [received(y, "SM-y-0")])
    await asyncio.wait_for(a_started.wait(), 20)
    await wait_until(lambda: "SM-y-0" in seen_by["a"])
    await wait_until(lambda: a.owned[0].lanes is not None and a.owned[0].lanes.held == 3)  # x's three
    assert not b.owned  # A is alive, so B serves nothing

    # A dies: its connection goes away with no ack, no unpin, no goodbye.
    await nc_a.close()
    died = asyncio.get_running_loop().time()
    task_a.cancel()
    await publish_all(bus, [received(x, "SM-x-3"), received(y, "SM-y-1")])
    await wait_until(lambda: len(seen_by["b"]) == 5, timeout=60)
    takeover = asyncio.get_running_loop().time() - died
    stop_b.set()
    await task_b
    await asyncio.gather(task_a, return_exceptions=True)
    await nc_b.close()

    assert seen_by["b"] and [s for s in seen_by["b"] if s.startswith("SM-x")] == [f"SM-x-{n}" for n in range(4)]
    assert "SM-y-1" in seen_by["b"]
    # x-0 was in A's hands when it died: redelivered. (x-3 may have been too: the server can
    # hand it to A's last pull request before it notices the closed connection.)
    assert deliveries["SM-x-0"] == 2
    print(f"takeover and catch-up took {takeover:.2f}s with ack_wait {FAST.ack_wait_s}s")


async def test_a_stopping_owner_hands_over_without_any_redelivery(bus, nats_server):
    conversations = [user(40 + i) for i in range(6)]
    first, second = members_in_order()
    handled: dict[str, list[str]] = defaultdict(list)
    deliveries: list[int] = []
    a_busy = asyncio.Event()

    def handler(name: str):
        async def handle(event: MessageReceived, delivery: Delivery) -> None:
            if name == "a":
                a_busy.set()
            await asyncio.sleep(0.01)
            handled[event.conversation].append(event.data.message_sid)
            deliveries.append(delivery.deliveries)
        return handle

    nc_a = await connect(nats_server.url, "a", wait=False)
    nc_b = await connect(nats_server.url, "b", wait=False)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = PartitionedConsumer(Bus(nc_a), "stage", "received", handler("a"), FAST, member=first)
    b = PartitionedConsumer(Bus(nc_b), "stage", "received", handler("b"), FAST, member=second)
    task_a = asyncio.create_task(a.run(stop_a))
    await wait_until(lambda: 0 in a.owned)
    task_b = asyncio.create_task(b.run(stop_b))
    events = [received(c, f"SM-{c}-{n:02d}") for n in range(15) for c in conversations]
    publishing = asyncio.create_task(publish_all(bus, events))
    await asyncio.wait_for(a_busy.wait(), 20)
    stop_a.set()  # SIGTERM in the middle of the flow
    await task_a
    await publishing
    await wait_until(lambda: sum(len(v) for v in handled.values()) >= len(events), timeout=60)
    stop_b.set()
    await task_b
    for nc in (nc_a, nc_b):
        await nc.close()
    assert set(deliveries) == {1}  # nothing was redelivered
    assert sum(len(v) for v in handled.values()) == len(events)  # and nothing handled twice
    for c in conversations:
        assert handled[c] == [f"SM-{c}-{n:02d}" for n in range(15)]


async def test_ownership_is_balanced_and_moves_when_a_replica_leaves(nats_server):
    nc = await connect(nats_server.url, "admin", wait=False)
    bus = Bus(nc)
    from shared.stream import ensure_stream

    await ensure_stream(bus.js, StreamSpec(partitions=8))

    async def nothing(event, delivery):
        return None

    connections = [await connect(nats_server.url, f"r{i}", wait=False) for i in range(3)]
    stops = [asyncio.Event() for _ in range(3)]
    replicas = [PartitionedConsumer(Bus(c), "stage", "received", nothing, FAST) for c in connections]
    tasks = [asyncio.create_task(r.run(s)) for r, s in zip(replicas, stops, strict=True)]

    def live_owned(rs):
        return [{p for p, o in r.owned.items() if not o.release.is_set()} for r in rs]

    def balanced(rs, share):
        owned = live_owned(rs)
        return sorted(p for s in owned for p in s) == list(range(8)) and all(0 < len(s) <= share for s in owned)

    # Once all three have joined: every partition served, nobody above ceil(8/3) + 1.
    await wait_until(lambda: balanced(replicas, 3 + 1))
    stops[0].set()
    await tasks[0]
    rest = replicas[1:]
    await wait_until(lambda: balanced(rest, 4 + 1))  # its partitions moved to the other two
    for s in stops[1:]:
        s.set()
    await asyncio.gather(*tasks[1:])
    for c in [*connections, nc]:
        await c.close()


async def test_a_lost_member_bucket_is_made_again_and_the_stage_goes_on(bus):
    """A nats-server that lost its store (or an operator) takes the member bucket away."""
    handled: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    consumer = PartitionedConsumer(bus, "stage", "received", handle, FAST)
    task = asyncio.create_task(consumer.run(stop))
    await wait_until(lambda: 0 in consumer.owned)
    bucket = f"{bus.stream}_MEMBERS_stage_received"
    await bus.js.delete_key_value(bucket)

    async def bucket_back() -> bool:
        try:
            kv = await bus.js.key_value(bucket)
            return consumer.membership.me in await kv.keys()
        except Exception:
            return False

    deadline = asyncio.get_running_loop().time() + 30
    while not await bucket_back():
        assert asyncio.get_running_loop().time() < deadline, "the member bucket was not made again"
        await asyncio.sleep(0.1)
    await publish_all(bus, [received(user(50), "SM-after")])
    await wait_until(lambda: handled == ["SM-after"])
    stop.set()
    await task
