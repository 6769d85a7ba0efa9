"""Dead letters: list them, put them back, or record that they are not to be retried.

Operators do it with `switchboard dead-letters`; an ordered stage retries its own
automatically once it is healthy again (`shared.dead_letter_retry`).

A dead letter (`MessageDeadLettered`) names the stream sequence of the event a stage gave
up on. Retrying stores a copy of that event again (the same bytes, so the same event id)
under `Nats-Msg-Id: retry:<dead letter seq>`, so retrying twice stores one copy; the stage
that consumes its kind handles it like a new event, with the usual idempotency (the agent
answers a new stream sequence once; outbound skips parts its ledger has). Every action is
an event in the stream (`DeadLetterRetried`, `DeadLetterDiscarded`), so audit has it.

The copy comes after the conversation's newer events: a retried message is answered late
and out of its original order, which is what an operator asks for by retrying it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from nats.js.api import DeliverPolicy

from shared.bus import Bus
from shared.events import (
    DeadLetterDiscarded,
    DeadLetterDiscardedData,
    DeadLetterRetried,
    DeadLetterRetriedData,
    MessageDeadLettered,
    decode,
)
from shared.ids import parse_stored_subject, publish_subject


class DeadLetterError(RuntimeError):
    """The action cannot be done; the message says why."""


@dataclass
class DeadLetter:
    seq: int
    event: MessageDeadLettered
    state: str = "open"  # open, retried, discarded
    republished_seq: int | None = None
    retried_by: Literal["operator", "auto"] | None = None

    @property
    def original_seq(self) -> int:
        return self.event.data.stream_sequence


async def dead_letters(bus: Bus) -> list[DeadLetter]:
    """Every dead letter in the stream with what has been done about it, oldest first."""
    info = await bus.js.stream_info(bus.stream)
    if not info.state.messages:
        return []
    found: dict[int, DeadLetter] = {}
    sub = await bus.js.subscribe("wa.dead_letter.>", ordered_consumer=True, stream=bus.stream,
                                 deliver_policy=DeliverPolicy.ALL)
    try:
        last = (await bus.js.stream_info(bus.stream)).state.last_seq
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                break
            seq = msg.metadata.sequence.stream
            event = decode(msg.data)
            if isinstance(event, MessageDeadLettered):
                found[seq] = DeadLetter(seq, event)
            elif isinstance(event, DeadLetterRetried) and event.data.dead_letter_seq in found:
                found[event.data.dead_letter_seq].state = "retried"
                found[event.data.dead_letter_seq].republished_seq = event.data.republished_seq
                found[event.data.dead_letter_seq].retried_by = event.data.by
            elif isinstance(event, DeadLetterDiscarded) and event.data.dead_letter_seq in found:
                found[event.data.dead_letter_seq].state = "discarded"
            if msg.metadata.num_pending == 0 or seq >= last:
                break
    finally:
        await sub.unsubscribe()
    return sorted(found.values(), key=lambda d: d.seq)


async def retry(bus: Bus, dead: DeadLetter, requested_by: str, by: Literal["operator", "auto"] = "operator") -> int:
    """Store the original event again; returns the new stream sequence."""
    if dead.state == "retried":
        raise DeadLetterError(f"dead letter {dead.seq} was retried already (as {dead.republished_seq})")
    try:
        original = await bus.js.get_msg(bus.stream, dead.original_seq)
    except Exception as exc:
        raise DeadLetterError(f"event {dead.original_seq} is no longer in the stream ({exc})") from None
    # nats-py types every field of a stored message Optional; a stored message always has its subject.
    kind, _, conversation = parse_stored_subject(cast(str, original.subject))
    ack = await bus.js.publish(publish_subject(kind, conversation), original.data or b"", stream=bus.stream,
                               headers={"Nats-Msg-Id": f"retry:{dead.seq}",
                                        "Sb-Type": (original.headers or {}).get("Sb-Type", "")})
    record = DeadLetterRetried(
        conversation=dead.event.conversation, correlation_id=dead.event.correlation_id, causation_id=dead.event.id,
        data=DeadLetterRetriedData(dead_letter_seq=dead.seq, original_seq=dead.original_seq,
                                   republished_seq=ack.seq, consumer=dead.event.data.consumer,
                                   requested_by=requested_by[:100], by=by),
    )
    await bus.publish(record, msg_id=f"dead-retried:{dead.seq}")
    return ack.seq


async def discard(bus: Bus, dead: DeadLetter, requested_by: str, reason: str) -> None:
    if dead.state != "open":
        raise DeadLetterError(f"dead letter {dead.seq} is {dead.state} already")
    record = DeadLetterDiscarded(
        conversation=dead.event.conversation, correlation_id=dead.event.correlation_id, causation_id=dead.event.id,
        data=DeadLetterDiscardedData(dead_letter_seq=dead.seq, original_seq=dead.original_seq,
                                     consumer=dead.event.data.consumer, requested_by=requested_by[:100],
                                     reason=reason[:500]),
    )
    await bus.publish(record, msg_id=f"dead-discarded:{dead.seq}")
