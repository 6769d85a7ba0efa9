"""Answering one conversation's inputs: exactly one reply per turn, even across crashes.

For each MessageTranscribed the consumer delivers (in order, one at a time per conversation)
the handler gathers the burst it starts, and runs the graph once. The graph's `accept`
step reads the checkpoint and decides:

1. the input's stream sequence is already answered (it was part of an earlier burst, or
   we crashed after composing): nothing runs; the stored reply is re-published under the
   same Nats-Msg-Id (the stream drops the duplicate). No model call.
2. it belongs to a turn that failed half-way (an exception; that checkpoint was saved):
   the turn carries on from its last stored message.
3. otherwise a new turn answers the whole burst.

The reply and the last answered sequence are written in the same checkpoint before
anything is published; the input is acknowledged after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from langchain_core.messages import AnyMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph

from services.agent import metrics
from services.agent.burst import collect_burst
from services.agent.inputs import identity, input_message, make_turn
from services.agent.opt_out import record_opt_keywords
from services.agent.privacy import thread_for
from services.agent.replies import failed_event, failed_msg_id, reply_event, reply_msg_id
from services.agent.state import Reply, turn_input
from services.agent.timezones import TimeZoneStore
from services.reminders.book import ReminderBook
from shared.clock import SYSTEM_CLOCK, Clock
from shared.consumer import Delivery
from shared.eventlog import EventLog, KeyValueStore
from shared.events import Event, MessageTranscribed
from shared.logging import get_logger
from shared.privacy import LOCAL_SALT

log = get_logger(__name__)

# The checkpoint is written once, when the turn ends (or fails): a turn's steps are not
# saved one by one, which would double the cost of a turn. If the process dies mid-turn
# the turn runs again; no reply was published, and tools are idempotent per turn (see
# `ToolContext.call_key`).
DURABILITY: Final = "exit"


@dataclass
class Agent:
    """Everything the handler needs; built once per process."""

    events: EventLog
    graph: CompiledStateGraph
    checkpointer: AsyncPostgresSaver | None
    time_zones: TimeZoneStore
    debounce_s: float = 0.4
    burst_max_s: float = 10.0
    prune_every: int = 20
    debounce_fragment_s: float | None = None
    clock: Clock = SYSTEM_CLOCK
    log_epoch: str = ""  # the event log's epoch at start-up (EventLog.epoch); "" = not tracked
    reminders: ReminderBook | None = None  # STOP / START take effect before the turn runs
    erasure_cuts: KeyValueStore | None = None  # see services/agent/privacy.py
    privacy_salt: str = LOCAL_SALT


async def handle_text(event: Event, delivery: Delivery, agent: Agent) -> None:
    if not isinstance(event, MessageTranscribed):
        return
    identity(event)  # dead-letters an input without a trustworthy sender at once
    conversation, seq = event.conversation, delivery.stream_sequence
    thread = await thread_for(agent.erasure_cuts, conversation, seq, agent.privacy_salt)  # fresh after an erasure
    stored = await _stored_answer(agent, thread, seq)
    if stored is not None:  # case 1, found with one read: no burst to gather, nothing to write
        await _answered_already(agent, conversation, seq, stored)
        return
    started = time.perf_counter()
    inputs = await collect_burst(agent.events, delivery.subject, (seq, event), agent.debounce_s, agent.burst_max_s,
                                 agent.debounce_fragment_s, agent.clock)
    metrics.DEBOUNCE_SECONDS.observe(time.perf_counter() - started)
    turn = make_turn(inputs)
    if agent.reminders is not None:
        await record_opt_keywords(agent.reminders, conversation, turn["user"], inputs)
    zone = await agent.time_zones.zone_for(conversation, turn["user"])
    messages: list[AnyMessage] = [input_message(s, e) for s, e in inputs]
    final = await agent.graph.ainvoke(turn_input(messages, turn, zone, seq, agent.log_epoch),
                                      {"configurable": {"thread_id": thread}}, durability=DURABILITY)
    reply: Reply | None = final.get("reply")
    if final.get("answered_seq", 0) < seq or reply is None:
        raise RuntimeError(f"the turn ended without answering input {seq}")
    if final["outcome"] == "answered":
        await _answered_already(agent, conversation, seq, reply)
        return
    metrics.BURST_SIZE.observe(len(reply["turn"]["message_sids"]))
    metrics.TURN_SECONDS.observe(time.perf_counter() - started)
    metrics.TURNS.labels("failed" if reply["failure"] else "answered").inc()
    metrics.TOKENS.labels(reply["model"], "input").inc(reply["usage"].get("input_tokens", 0))
    metrics.TOKENS.labels(reply["model"], "output").inc(reply["usage"].get("output_tokens", 0))
    await _publish(agent, conversation, reply)
    log.info("turn_answered", conversation=conversation, outcome=final["outcome"], last_seq=reply["turn"]["last_seq"],
             inputs=len(reply["turn"]["message_sids"]), tools=len(reply["tool_calls"]), latency_ms=reply["latency_ms"])
    if agent.checkpointer is not None and agent.prune_every and final.get("turns", 0) % agent.prune_every == 0:
        await agent.checkpointer.aprune([thread])  # keep only the latest checkpoint


async def _stored_answer(agent: Agent, thread: str, seq: int) -> Reply | None:
    """The thread's stored reply when it has answered `seq` already. After an outage a user's
    backlog is answered as bursts of up to 25, and the 24 inputs after each burst's first come
    here: a checkpoint read, instead of a burst read, a time-zone query and a checkpoint write
    each (that made the backlog drain about three times slower on a durable Postgres)."""
    snapshot = await agent.graph.aget_state({"configurable": {"thread_id": thread}})
    values = snapshot.values or {}
    if values.get("log_epoch", "") != agent.log_epoch:
        return None  # another event log (or not recorded yet): the graph's `accept` decides
    reply = values.get("reply")
    return reply if reply is not None and values.get("answered_seq", 0) >= seq else None


async def _answered_already(agent: Agent, conversation: str, seq: int, reply: Reply) -> None:
    if reply["turn"]["first_seq"] <= seq <= reply["turn"]["last_seq"]:
        metrics.REPUBLISHED.inc()  # we may have crashed after composing: publish it (again)
        await _publish(agent, conversation, reply)
    log.info("input_already_answered", conversation=conversation, seq=seq)


async def _publish(agent: Agent, conversation: str, reply: Reply) -> None:
    last_seq = reply["turn"]["last_seq"]
    failed = failed_event(conversation, reply)
    if failed is not None:
        await agent.events.publish(failed, msg_id=failed_msg_id(conversation, last_seq))
    await agent.events.publish(reply_event(conversation, reply), msg_id=reply_msg_id(conversation, last_seq))
