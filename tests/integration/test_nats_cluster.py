"""The stream and a key-value bucket on three replicas survive the loss of the stream leader.

Publishing goes on (a publish that fails during the election is retried with the same
Nats-Msg-Id, as the services do, so a retry never stores a second copy) and one durable
consumer, created before the kill, reads every message exactly once.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig, StorageType

from shared.bus import connect
from shared.stream import StreamSpec, ensure_stream
from switchboard.cluster import NatsCluster
from tests.waiting import eventually, scaled

pytestmark = pytest.mark.timeout(300)

SPEC = StreamSpec(name="CLUSTERED", partitions=4, replicas=3)


async def publish_until_acked(js, n: int) -> None:
    async def once() -> bool:
        ack = await js.publish(f"wa.received.conv{n % 7}", f"m{n}".encode(), stream=SPEC.name,
                               headers={"Nats-Msg-Id": f"m{n}"}, timeout=2)
        return ack.seq > 0
    await eventually(once, 60, f"message m{n} to be stored", interval=0.2)


async def fetch_all(subscription, expected: int) -> list[str]:
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + scaled(90)
    while len(seen) < expected and asyncio.get_running_loop().time() < deadline:
        try:
            batch = await subscription.fetch(50, timeout=2)
        except Exception:  # a timeout or the consumer moving leader: fetch again
            continue
        for msg in batch:
            seen.append(msg.data.decode())
            await msg.ack_sync(timeout=5)
    return seen


async def test_killing_the_stream_leader_loses_nothing(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url, "cluster-test", wait=False)
    try:
        js = nc.jetstream(timeout=5)
        await ensure_stream(js, SPEC)
        info = await js.stream_info(SPEC.name)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
        kv = await js.create_key_value(KeyValueConfig(bucket="CLUSTER_LEDGER", replicas=3, storage=StorageType.FILE))
        assert (await kv.status()).stream_info.config.num_replicas == 3

        subscription = await js.pull_subscribe(
            "wa.>", durable="reader", stream=SPEC.name, config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
        )
        for n in range(40):
            await publish_until_acked(js, n)
            await kv.put(f"k{n}", f"v{n}".encode())
        first = await fetch_all(subscription, 20)

        leader = info.cluster.leader
        nats_cluster.kill(leader)

        for n in range(40, 80):
            await publish_until_acked(js, n)
        async def kv_put_after() -> bool:
            return await kv.put("after", b"the kill") > 0
        await eventually(kv_put_after, 60, "a key-value put after the kill")
        rest = await fetch_all(subscription, 80 - len(first))

        received = first + rest
        assert sorted(received, key=lambda m: int(m[1:])) == [f"m{n}" for n in range(80)]  # none lost, none twice
        after = await js.stream_info(SPEC.name)
        assert after.state.messages == 80
        assert after.cluster.leader not in (None, leader)
        assert [(await kv.get(f"k{n}")).value for n in (0, 39)] == [b"v0", b"v39"]
        assert (await kv.get("after")).value == b"the kill"

        node = await asyncio.to_thread(nats_cluster.restart, leader)  # back on the same ports and data
        await asyncio.to_thread(nats_cluster.wait_healthy, scaled(60), [node])
    finally:
        await nc.close()
