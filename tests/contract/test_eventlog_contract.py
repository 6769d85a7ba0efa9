"""One contract suite for the event-log port, run on the in-memory fake and on JetStream.

`memory` is `shared.eventlog_memory.InMemoryEventLog`; `jetstream` is
`shared.eventlog_jetstream.JetStreamEventLog` on a real nats-server with the stream as
`shared.stream` provisions it. A behaviour services rely on is asserted here, so the
fake cannot drift from the real thing unnoticed.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.bus import Bus, connect
from shared.eventlog import EventLog, KeyExists, PublishFailed, WrongRevision
from shared.eventlog_jetstream import JetStreamEventLog
from shared.eventlog_memory import InMemoryEventLog, server_partition
from shared.events import MessageTranscribed, MessageTranscribedData, decode
from shared.ids import parse_stored_subject
from shared.stream import StreamSpec, ensure_stream

SPEC = StreamSpec(partitions=8)
ANA = "c" + "a" * 24
BOB = "c" + "b" * 24


@pytest.fixture(params=["memory", "jetstream"])
async def log(request, tmp_path):
    if request.param == "memory":
        yield InMemoryEventLog(SPEC.name, partitions=SPEC.partitions)
        return
    server = request.getfixturevalue("nats_server")
    nc = await connect(server.url, "contract", wait=False)
    bus = Bus(nc, stream=SPEC.name)
    await ensure_stream(bus.js, SPEC)
    try:
        yield JetStreamEventLog(bus, read_chunk=2)  # small chunks: reading spans several fetches
    finally:
        await nc.close()


def said(text: str, conversation: str = ANA, sid: str | None = None) -> MessageTranscribed:
    return MessageTranscribed(conversation=conversation, data=MessageTranscribedData(
        message_sid=sid or f"SM-{text}", text=text, source="typed", from_="+34600111222", to="+14155238886"))


async def publish_all(log: EventLog, *events: MessageTranscribed) -> list[int]:
    return [await log.publish(event, msg_id=f"text:{event.data.message_sid}") for event in events]


async def test_publish_stores_under_the_partitioned_subject_and_reads_back(log):
    first, second = said("hi"), said("book the dentist")
    seqs = await publish_all(log, first, second)
    assert seqs == [1, 2] and await log.last_seq() == 2

    stored = await log.get(2)
    assert stored is not None and stored.seq == 2
    kind, partition, conversation = parse_stored_subject(stored.subject)
    assert (kind, conversation) == ("text", ANA) and 0 <= partition < SPEC.partitions
    assert (await log.get(1)).subject == stored.subject  # one conversation, one partition
    assert decode(stored.data) == second
    assert (stored.headers["Nats-Msg-Id"], stored.headers["Sb-Type"]) == ("text:SM-book the dentist", "MessageTranscribed")
    assert stored.stored_at is not None
    assert await log.get(0) is None and await log.get(3) is None


async def test_a_message_id_is_stored_once(log):
    seq = await log.publish(said("hi"), msg_id="text:SM1")
    again = await log.publish(said("hi, but retried"), msg_id="text:SM1")
    other = await log.publish(said("hi"), msg_id="text:SM2")
    assert again == seq and other == seq + 1
    assert await log.last_seq() == 2
    assert json.loads((await log.get(seq)).data)["data"]["text"] == "hi"  # the first copy is kept


async def test_a_subject_outside_the_stream_is_refused(log):
    outside = said("hi", conversation="not.a.conversation")
    with pytest.raises(PublishFailed):
        await log.publish(outside, msg_id="x")
    assert await log.last_seq() == 0


async def test_next_for_subject_walks_one_conversation_in_order(log):
    await publish_all(log, said("a1"), said("b1", BOB), said("a2"), said("b2", BOB), said("a3"))
    subject = f"wa.text.*.{ANA}"
    found, after = [], 0
    while (message := await log.next_for_subject(subject, after)) is not None:
        found.append((message.seq, decode(message.data).data.text))
        after = message.seq
    assert found == [(1, "a1"), (3, "a2"), (5, "a3")]
    assert await log.next_for_subject(f"wa.received.*.{ANA}", 0) is None
    exact = (await log.get(1)).subject  # a stored subject without wildcards works too
    assert (await log.next_for_subject(exact, 1)).seq == 3


async def test_last_for_subject(log):
    await publish_all(log, said("a1"), said("b1", BOB), said("a2"), said("b2", BOB))
    assert (await log.last_for_subject(f"wa.text.*.{ANA}")).seq == 3
    assert (await log.last_for_subject("wa.>")).seq == 4
    assert await log.last_for_subject(f"wa.reply.*.{ANA}") is None


async def test_read_all_in_order_within_bounds(log):
    assert [m async for m in log.read_all()] == []
    await publish_all(log, *(said(f"m{i}", ANA if i % 2 else BOB) for i in range(1, 8)))
    assert [m.seq for m in [m async for m in log.read_all()]] == [1, 2, 3, 4, 5, 6, 7]
    assert [m.seq for m in [m async for m in log.read_all(from_seq=3, to_seq=5)]] == [3, 4, 5]
    everything = [m async for m in log.read_all()]
    assert [decode(m.data).data.text for m in everything] == [f"m{i}" for i in range(1, 8)]
    # The same message either way (the client rounds nanosecond timestamps differently per API).
    assert replace(everything[0], stored_at=None) == replace(await log.get(1), stored_at=None)


async def test_read_all_stops_at_the_last_message_when_it_began(log):
    await publish_all(log, said("a1"), said("a2"))
    seen = []
    async for message in log.read_all():
        seen.append(message.seq)
        if message.seq == 1:
            await log.publish(said("a3"), msg_id="late")
    assert seen == [1, 2] and await log.last_seq() == 3


async def test_key_value_revisions(log):
    kv = await log.open_kv("CONTRACT", history=1, ttl_s=3600, description="contract")
    assert await kv.get("r1.1") is None and await kv.keys() == []

    first = await kv.put("r1.1", b"sent:SM1")
    entry = await kv.get("r1.1")
    assert (entry.key, entry.value, entry.revision) == ("r1.1", b"sent:SM1", first)

    with pytest.raises(KeyExists):
        await kv.create("r1.1", b"other")
    second = await kv.create("r1.2", b"failed:21610")
    assert second > first  # revisions count writes to the whole bucket

    third = await kv.update("r1.1", b"published:SM1", last_revision=first)
    assert third > second and (await kv.get("r1.1")).value == b"published:SM1"
    with pytest.raises(WrongRevision):
        await kv.update("r1.1", b"lost update", last_revision=first)
    assert (await kv.get("r1.1")).value == b"published:SM1"

    await kv.delete("r1.2")
    assert await kv.get("r1.2") is None and await kv.keys() == ["r1.1"]
    recreated = await kv.create("r1.2", b"again")  # a deleted key can be created again
    assert recreated > third and sorted(await kv.keys()) == ["r1.1", "r1.2"]

    reopened = await log.open_kv("CONTRACT")
    assert (await reopened.get("r1.1")).value == b"published:SM1"


async def test_the_fakes_partition_is_the_servers(nats_server):
    """The fake computes the partition the stream's transform does, for many conversations."""
    nc = await connect(nats_server.url, "contract", wait=False)
    try:
        bus = Bus(nc, stream=SPEC.name)
        await ensure_stream(bus.js, SPEC)
        real, fake = JetStreamEventLog(bus), InMemoryEventLog(partitions=SPEC.partitions)
        conversations = [f"c{n:024x}" for n in range(0, 64 * 7919, 7919)]
        for n, conversation in enumerate(conversations):
            event = said(f"m{n}", conversation)
            seq = await real.publish(event, msg_id=f"m{n}")
            assert (await real.get(seq)).subject == fake.stored_subject(event.subject)
        assert len({server_partition(c, SPEC.partitions) for c in conversations}) == SPEC.partitions
    finally:
        await nc.close()


async def recreate(log: EventLog) -> None:
    """Delete the log and create it again, the way each adapter allows."""
    if isinstance(log, InMemoryEventLog):
        log.recreate()
        return
    assert isinstance(log, JetStreamEventLog)
    await log.bus.js.delete_stream(SPEC.name)
    await ensure_stream(log.bus.js, SPEC)


async def test_the_epoch_holds_while_the_log_lives_and_changes_when_it_is_created_again(log):
    first = await log.epoch()
    await publish_all(log, said("a1"), said("b1", BOB))
    assert first and await log.epoch() == first
    await recreate(log)
    assert await log.last_seq() == 0
    await publish_all(log, said("a1 again"))
    assert await log.last_seq() == 1  # sequences start again...
    assert await log.epoch() not in ("", first)  # ...so the epoch says they mean something new
