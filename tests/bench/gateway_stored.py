"""What the stream holds: counts per run, and the MessageSids stored in a range."""

from __future__ import annotations

import asyncio
import time

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError


async def stream_state(js: JetStreamContext, stream: str) -> tuple[int, int]:
    """(messages, last_seq) of the stream."""
    info = await js.stream_info(stream)
    return info.state.messages, info.state.last_seq


async def settled_state(js: JetStreamContext, stream: str, quiet_s: float = 0.5, timeout_s: float = 10) -> tuple[int, int]:
    """The stream's state once it has stopped growing (requests in flight when a run ends land late)."""
    state = await stream_state(js, stream)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = await stream_state(js, stream)
        if now == state:
            break
        state = now
    return state


async def stored_msg_ids(js: JetStreamContext, stream: str, first_seq: int, last_seq: int) -> set[str]:
    """The `Nats-Msg-Id` of every message with sequence in [first_seq, last_seq]."""
    ids: set[str] = set()
    if last_seq < first_seq:
        return ids
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first_seq,
        ack_policy=AckPolicy.NONE, inactive_threshold=30,
    )
    sub = await js.pull_subscribe("wa.>", durable=None, stream=stream, config=config)
    try:
        seq = first_seq - 1
        while seq < last_seq:
            try:
                batch = await sub.fetch(1000, timeout=2)
            except (TimeoutError, FetchTimeoutError):
                break
            for msg in batch:
                seq = msg.metadata.sequence.stream
                if seq <= last_seq and msg.headers:
                    ids.add(msg.headers.get("Nats-Msg-Id", ""))
    finally:
        await sub.unsubscribe()
    return ids
