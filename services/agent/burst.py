"""Bursts: the messages a user sends in quick succession are answered in one turn.

The partition's consumer hands over one input at a time. Before answering it, the agent
reads ahead in the stream for this conversation's later inputs (a direct get by subject,
so nothing is consumed) and waits until `window_s` has passed since the newest one
arrived, at most `max_s` in all. Inputs that arrived while the previous turn ran are
already in the stream, so they join without any wait. The consumer later delivers those
inputs one by one; they are found answered and only acknowledged.

The window is counted from when each input was stored, not from when the agent got to
it, so a backlog costs no extra waiting.
"""

from __future__ import annotations

import asyncio
import time

from nats.js.errors import NotFoundError

from shared.bus import Bus
from shared.events import MessageTranscribed, UnknownEvent, decode

MAX_INPUTS = 25


async def later_inputs(bus: Bus, subject: str, after_seq: int, limit: int = MAX_INPUTS) -> list[tuple[int, MessageTranscribed]]:
    """This conversation's inputs stored after `after_seq`, in order (the stored `subject`)."""
    found: list[tuple[int, MessageTranscribed]] = []
    seq = after_seq + 1
    while len(found) < limit:
        try:
            raw = await bus.js.get_msg(bus.stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        try:
            event = decode(raw.data or b"")
        except (UnknownEvent, ValueError):
            break  # the consumer will dead-letter it in its turn; stop before it to keep order
        if isinstance(event, MessageTranscribed):
            found.append((raw.seq, event))
        seq = raw.seq + 1
    return found


async def collect_burst(
    bus: Bus, subject: str, first: tuple[int, MessageTranscribed], window_s: float, max_s: float,
) -> list[tuple[int, MessageTranscribed]]:
    """The inputs to answer together, starting with `first` (the one the consumer delivered)."""
    inputs = [first]
    deadline = time.monotonic() + max_s
    while len(inputs) < MAX_INPUTS:
        inputs += await later_inputs(bus, subject, inputs[-1][0], MAX_INPUTS - len(inputs))
        newest = inputs[-1][1].occurred_at.timestamp()
        wait = min(newest + window_s - time.time(), deadline - time.monotonic())
        if wait <= 0:
            break
        await asyncio.sleep(wait)
    return inputs
