"""Provisioning the stream: idempotent, and the one place partitions are decided."""

from __future__ import annotations

import pytest
from nats.js.errors import NoStreamResponseError

from shared.consumer import AckPolicy, ensure_partition_consumers
from shared.events import MessageReceived, MessageReceivedData, utcnow
from shared.ids import conversation_id, parse_stored_subject
from shared.pinned import consumer_state
from shared.stream import StreamSpec, ensure_stream, partitions_of


async def test_provisioning_twice_changes_nothing(bus, stream_spec):
    before = await bus.js.stream_info(bus.stream)
    config = await ensure_stream(bus.js, stream_spec)
    after = await bus.js.stream_info(bus.stream)
    assert partitions_of(config) == stream_spec.partitions
    assert before.config == after.config and after.config.storage == "file"


async def test_the_stream_assigns_a_stable_partition_per_conversation(bus, stream_spec):
    seen: dict[str, set[int]] = {}
    for i in range(40):
        conversation = conversation_id("+14155238886", f"+3460000{i % 10:04d}")
        event = MessageReceived(
            conversation=conversation,
            data=MessageReceivedData(message_sid=f"SM{i}", from_="+1", to="+2", received_at=utcnow()),
        )
        ack = await bus.publish(event, msg_id=event.data.message_sid)
        kind, partition, stored_conversation = parse_stored_subject((await bus.js.get_msg(bus.stream, ack.seq)).subject)
        assert kind == "received" and stored_conversation == conversation
        assert 0 <= partition < stream_spec.partitions
        seen.setdefault(conversation, set()).add(partition)
    assert all(len(partitions) == 1 for partitions in seen.values())
    assert len({p for ps in seen.values() for p in ps}) > 1  # conversations spread out


async def test_publishing_straight_into_a_partition_is_refused(bus):
    with pytest.raises(NoStreamResponseError):
        await bus.js.publish("wa.received.3.cabc", b"{}", timeout=1)


async def test_consumers_are_created_per_partition_idempotently(bus, stream_spec):
    for _ in range(2):
        count = await ensure_partition_consumers(bus, "svc", "text", AckPolicy())
    assert count == stream_spec.partitions
    infos = await bus.js.consumers_info(bus.stream)
    assert sorted(i.name for i in infos) == [f"svc-text-p{p:03d}" for p in range(stream_spec.partitions)]
    assert {i.config.max_ack_pending for i in infos} == {AckPolicy().buffer}
    assert infos[0].config.filter_subject.startswith("wa.text.")
    # One client at a time per partition: a priority group with the pinned_client policy.
    raw = await consumer_state(bus.nc, bus.stream, "svc-text-p000")
    assert raw["config"]["priority_policy"] == "pinned_client"
    assert raw["config"]["priority_timeout"] == int(AckPolicy().pin_timeout_s * 1e9)


async def test_an_old_single_slot_consumer_is_updated_in_place_and_keeps_its_position(bus):
    """Consumers made by the first version (max_ack_pending=1) become pinned ones, position kept."""
    from nats.js.api import AckPolicy as JsAck
    from nats.js.api import ConsumerConfig

    await bus.js.add_consumer(bus.stream, ConsumerConfig(
        durable_name="svc-text-p000", filter_subject="wa.text.0.*", ack_policy=JsAck.EXPLICIT, max_ack_pending=1,
        max_deliver=-1,
    ))
    sub = await bus.js.pull_subscribe_bind("svc-text-p000", stream=bus.stream)
    # publish until one lands in partition 0, ack it through the old consumer
    seq = None
    for i in range(200):
        ack = await bus.js.publish(f"wa.text.c{i:024x}", b"{}")
        msg = await bus.js.get_msg(bus.stream, ack.seq)
        if msg.subject.startswith("wa.text.0."):
            seq = ack.seq
            break
    assert seq is not None
    [msg] = await sub.fetch(1, timeout=5)
    await msg.ack_sync()
    await ensure_partition_consumers(bus, "svc", "text", AckPolicy())
    raw = await consumer_state(bus.nc, bus.stream, "svc-text-p000")
    assert raw["config"]["priority_policy"] == "pinned_client"
    assert raw["ack_floor"]["stream_seq"] == seq


async def test_changing_the_partition_count_updates_the_transform(bus):
    config = await ensure_stream(bus.js, StreamSpec(partitions=4))
    assert partitions_of(config) == 4
