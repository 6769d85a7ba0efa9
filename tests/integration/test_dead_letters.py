"""`switchboard dead-letters`: list, retry (the stage handles the event again), discard; all recorded."""

from __future__ import annotations

import asyncio

from shared.consumer import Delivery, PartitionedConsumer, PermanentFailure
from shared.events import DeadLetterDiscarded, DeadLetterRetried, MessageReceived
from shared.ids import conversation_id
from switchboard.cli import main
from tests.integration.test_consumer import FAST, all_events, publish_all, received, wait_until


async def test_an_operator_retries_one_dead_letter_and_discards_another(bus, nats_server, monkeypatch, capsys):
    user = conversation_id("+14155238886", "+34655555555")
    broken = {"SM-a", "SM-b"}  # a bug these two events hit, fixed after they were dead-lettered
    handled: list[str] = []

    async def handle(event: MessageReceived, delivery: Delivery) -> None:
        if event.data.message_sid in broken:
            raise PermanentFailure("a bug")
        handled.append(event.data.message_sid)

    stop = asyncio.Event()
    task = asyncio.create_task(PartitionedConsumer(bus, "stage", "received", handle, FAST).run(stop))
    await publish_all(bus, [received(user, "SM-a"), received(user, "SM-b"), received(user, "SM-c")])
    await wait_until(lambda: handled == ["SM-c"])
    broken.clear()  # the fix is deployed

    monkeypatch.setenv("NATS_URL", nats_server.url)
    monkeypatch.setenv("STREAM_NAME", bus.stream)
    monkeypatch.setenv("SWITCHBOARD_HOME", "/nonexistent-switchboard-home")
    run = lambda *argv: asyncio.to_thread(main, list(argv))  # noqa: E731 - the CLI runs its own loop

    assert await run("dead-letters") == 0
    listed = capsys.readouterr().out
    assert "2 dead letter(s) open" in listed and "permanent failure: a bug" in listed
    dead_seq = {d.data.stream_sequence: s for s, d in await _dead_with_seq(bus)}
    assert sorted(dead_seq) == [1, 2]

    assert await run("dead-letters", "retry", str(dead_seq[1])) == 0
    await wait_until(lambda: handled == ["SM-c", "SM-a"])  # the stage handled the copy
    assert await run("dead-letters", "retry", str(dead_seq[1])) == 1  # not twice
    assert "retried already" in capsys.readouterr().err
    assert await run("dead-letters", "discard", str(dead_seq[2]), "--reason", "user asked again", "--by", "ana") == 0
    assert await run("dead-letters") == 0
    assert "0 dead letter(s) open" in capsys.readouterr().out
    stop.set()
    await task

    events = await all_events(bus)
    [retried] = [e for e in events if isinstance(e, DeadLetterRetried)]
    [discarded] = [e for e in events if isinstance(e, DeadLetterDiscarded)]
    assert (retried.data.original_seq, discarded.data.original_seq) == (1, 2)
    assert (discarded.data.requested_by, discarded.data.reason) == ("ana", "user asked again")
    copies = [e for e in events if isinstance(e, MessageReceived) and e.data.message_sid == "SM-a"]
    assert len(copies) == 2 and copies[0].id == copies[1].id  # the same event, stored once more


async def test_a_sequence_that_is_not_a_dead_letter_is_refused_clearly(bus, nats_server, monkeypatch, capsys):
    monkeypatch.setenv("NATS_URL", nats_server.url)
    monkeypatch.setenv("STREAM_NAME", bus.stream)
    monkeypatch.setenv("SWITCHBOARD_HOME", "/nonexistent-switchboard-home")
    await publish_all(bus, [received(conversation_id("+1", "+2"), "SM-x")])
    assert await asyncio.to_thread(main, ["dead-letters", "retry", "1"]) == 1
    assert "is not the stream sequence of a dead letter" in capsys.readouterr().err


async def _dead_with_seq(bus):
    from shared.events import MessageDeadLettered, decode

    info = await bus.js.stream_info(bus.stream)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        try:
            event = decode((await bus.js.get_msg(bus.stream, seq)).data)
        except ValueError:
            continue
        if isinstance(event, MessageDeadLettered):
            found.append((seq, event))
    return found
