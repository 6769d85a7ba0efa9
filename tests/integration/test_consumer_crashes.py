"""Dead letters on the paths that only a real failure reaches, each asserting its fault fired.

1. A process that dies on an event every time (no exception the consumer could see):
   JetStream redelivers it to each restarted process until the consumer, counting
   deliveries before it runs the handler, gives up with a dead letter, and the
   conversation's next event is handled, even one that was already waiting behind the
   poison one in the dying process (handler starts are counted, not deliveries).
2. A dead letter whose publish fails (the stream does not take `wa.dead_letter.*` yet):
   the event stays held, unacknowledged, and the publish is retried until the stream
   takes it; it is never lost, and the conversation goes on after it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats.js.api import SubjectTransform

from shared.bus import Bus, connect
from shared.consumer import AckPolicy, Delivery, PartitionedConsumer, PermanentFailure
from shared.events import Event, MessageDeadLettered, MessageReceived, MessageReceivedData, decode, utcnow
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from tests.waiting import eventually, scaled

# `long`: minutes of processes in all; collected first so it runs beside the short tests.
pytestmark = pytest.mark.long

ROOT = Path(__file__).resolve().parents[2]
MAX_DELIVER = 2
ACK_WAIT_S = 2.0  # how soon a dead process's event is redelivered
CONVERSATION = conversation_id("+14155238886", "+34600000001")


def received(sid: str, body: str) -> MessageReceived:
    return MessageReceived(
        conversation=CONVERSATION,
        data=MessageReceivedData(message_sid=sid, from_="+34600000001", to="+14155238886", body=body,
                                 received_at=utcnow()),
    )


async def stored(bus: Bus) -> list[Event]:
    info = await bus.js.stream_info(bus.stream)
    return [decode((await bus.js.get_msg(bus.stream, seq)).data) for seq in range(1, info.state.last_seq + 1)]


async def dead_letters(bus: Bus) -> list[MessageDeadLettered]:
    return [event for event in await stored(bus) if isinstance(event, MessageDeadLettered)]


class CrashingWorkers:
    """`python -m tests.crash_worker`, started again each time it dies, as a supervisor would."""

    def __init__(self, bus: Bus, nats_url: str, tmp_path: Path):
        self.record = tmp_path / "handled.txt"
        self.record.touch()
        self.log = tmp_path / "worker.log"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "NATS_URL": nats_url, "STREAM_NAME": bus.stream,
                    "RECORD_FILE": str(self.record), "MAX_DELIVER": str(MAX_DELIVER),
                    "ACK_WAIT_S": str(ACK_WAIT_S), "LOG_FORMAT": "console"}
        self.exits: list[int] = []
        self.worker: subprocess.Popen | None = None

    def handled(self) -> list[str]:
        """`<stream seq> <deliveries> <body>` per event handed to the handler."""
        return self.record.read_text().splitlines()

    async def run_until(self, done) -> None:
        """Restart the worker whenever it dies, until `done()` (awaited) holds with it alive."""
        while True:
            if self.worker is None or self.worker.poll() is not None:
                if self.worker is not None:
                    self.exits.append(self.worker.returncode)
                    assert len(self.exits) <= MAX_DELIVER + 1, f"still delivered after {len(self.exits)} crashes"
                with self.log.open("a") as out:
                    self.worker = subprocess.Popen([sys.executable, "-m", "tests.crash_worker"], cwd=ROOT,
                                                   env=self.env, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + scaled(60)
            while self.worker.poll() is None:
                if await done():
                    return
                assert time.monotonic() < deadline, f"no progress:\n{self.log.read_text()[-3000:]}"
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            assert self.worker.wait(scaled(30)) == 0


async def test_an_event_that_kills_the_process_every_time_is_dead_lettered_and_the_conversation_goes_on(
        bus, nats_server, tmp_path):
    workers = CrashingWorkers(bus, nats_server.url, tmp_path)
    poison = received("SM-poison", "poison")
    await bus.publish(poison, msg_id=poison.data.message_sid)

    async def given_up() -> bool:
        return bool(await dead_letters(bus))

    try:
        await workers.run_until(given_up)
        # The fault fired: each of the first MAX_DELIVER deliveries killed the process in the handler.
        assert workers.exits == [1] * MAX_DELIVER
        assert workers.handled() == [f"1 {n} poison" for n in range(1, MAX_DELIVER + 1)]
        # The delivery after those was not handed to the handler: it became the dead letter.
        [dead] = await dead_letters(bus)
        assert dead.data.stream_sequence == 1 and dead.data.deliveries == MAX_DELIVER + 1 > MAX_DELIVER
        assert dead.data.error == "delivered too often without an outcome"
        assert dead.data.consumer.startswith("crashy-received-p") and dead.conversation == CONVERSATION

        after = received("SM-next", "next")
        seq = (await bus.publish(after, msg_id=after.data.message_sid)).seq

        async def went_on() -> bool:
            return f"{seq} 1 next" in workers.handled()

        await workers.run_until(went_on)
        assert workers.exits == [1] * MAX_DELIVER  # the worker that gave up is the one that went on
    finally:
        workers.stop()


async def test_an_event_waiting_behind_one_that_kills_the_process_is_handled_not_dead_lettered(
        bus, nats_server, tmp_path):
    workers = CrashingWorkers(bus, nats_server.url, tmp_path)
    for event in (received("SM-poison", "poison"), received("SM-next", "next")):
        await bus.publish(event, msg_id=event.data.message_sid)

    async def settled() -> bool:
        return "2 1 next" in workers.handled() or len(await dead_letters(bus)) >= 2

    try:
        await workers.run_until(settled)
        assert workers.exits == [1] * MAX_DELIVER  # the fault fired each time
        assert [d.data.stream_sequence for d in await dead_letters(bus)] == [1]
        assert workers.handled()[-1] == "2 1 next"
    finally:
        workers.stop()


async def test_a_dead_letter_that_cannot_be_published_is_retried_and_never_lost(nats_server):
    spec = StreamSpec(name="DEADLETTERS", partitions=4)
    nc = await connect(nats_server.url, "test", wait=False)
    bus = Bus(nc, stream=spec.name, publish_timeout_s=0.5)
    # A stream that takes received events only, partitioned as usual: a dead letter has nowhere to go.
    config = spec.config()
    config.subjects = ["wa.received.*"]
    config.subject_transform = SubjectTransform(
        src="wa.received.*", dest=f"wa.received.{{{{partition({spec.partitions},1)}}}}.{{{{wildcard(1)}}}}")
    await bus.js.add_stream(config)
    attempts: list[str] = []  # every publish of a dead letter, stored or not

    async def count(msg) -> None:
        attempts.append(msg.subject)

    watcher = await nc.subscribe("wa.dead_letter.>", cb=count)
    handled: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.data.body == "poison":
            raise PermanentFailure("cannot handle this one")
        handled.append(event.data.message_sid)

    policy = AckPolicy(max_deliver=3, backoff_s=(0.05,), ack_wait_s=2.0, fetch_timeout_s=0.5,
                       dependency_backoff_s=(0.1, 0.2))
    consumer = PartitionedConsumer(bus, "stage", "received", handle, policy)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for event in (received("SM-poison", "poison"), received("SM-next", "next")):
            await bus.publish(event, msg_id=event.data.message_sid)

        async def retried() -> bool:
            return len(attempts) >= 3

        await eventually(retried, 30, "the dead letter's publish to be retried")
        # The fault fired: the publishes were made and none was stored; the poison event is
        # held (not acknowledged, not terminated), so its conversation waits behind it.
        assert await dead_letters(bus) == [] and handled == []
        partition = int((await bus.js.get_msg(spec.name, 1)).subject.split(".")[2])
        info = await bus.js.consumer_info(spec.name, f"stage-received-p{partition:03d}")
        assert info.num_ack_pending >= 1 and info.ack_floor.stream_seq == 0

        await ensure_stream(bus.js, spec)  # the stream takes every kind again

        async def next_handled() -> bool:
            return handled == ["SM-next"]

        await eventually(next_handled, 30, "the conversation's next event to be handled")
        [dead] = await dead_letters(bus)
        assert dead.data.stream_sequence == 1 and dead.data.error == "permanent failure: cannot handle this one"
        assert dead.conversation == CONVERSATION
    finally:
        stop.set()
        await asyncio.wait_for(task, scaled(30))
        await watcher.unsubscribe()
        await nc.close()
