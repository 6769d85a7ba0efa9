"""The event log deleted and created again under a kept agent database.

Sequences start at 1 again in a new stream, while the agent's checkpoints remember
"answered up to N" from the old one: without the log's epoch, every new message up to N
would look answered and get no reply.
"""

from __future__ import annotations

from services.agent.bootstrap import open_agent
from services.agent.config import AgentSettings
from services.agent.handler import handle_text
from shared.bus import Bus
from shared.consumer import Delivery
from shared.eventlog_jetstream import JetStreamEventLog
from shared.events import MessageTranscribed, MessageTranscribedData, ReplyComposed
from shared.ids import conversation_id
from shared.stream import StreamSpec, ensure_stream
from tests.integration.test_agent_memory import stream_events

BUSINESS, USER = "+14155238886", "+34600111222"
CONVERSATION = conversation_id(BUSINESS, USER)


async def say(bus: Bus, agent, sid: str, text: str) -> int:
    event = MessageTranscribed(conversation=CONVERSATION, data=MessageTranscribedData(
        message_sid=sid, source="typed", from_=USER, to=BUSINESS, text=text))
    ack = await bus.publish(event, msg_id=sid)
    subject = (await bus.js.get_msg(bus.stream, ack.seq)).subject
    await handle_text(event, Delivery(subject=subject, stream_sequence=ack.seq, deliveries=1, partition=0,
                                      consumer="test"), agent)
    return ack.seq


async def test_a_recreated_log_starts_the_window_afresh_and_every_new_message_is_answered(
        bus, database_url, stream_spec: StreamSpec):
    settings = AgentSettings(DATABASE_URL=database_url, STREAM_NAME=bus.stream, AGENT_MODEL="offline",
                             OPENAI_API_KEY="", AGENT_DEBOUNCE_S=0)
    log = JetStreamEventLog(bus)
    old_epoch = await log.epoch()
    async with open_agent(settings, bus) as agent:
        assert agent.log_epoch == old_epoch
        old = [await say(bus, agent, f"SMold{n}", f"old message {n}") for n in range(1, 4)]
        config = {"configurable": {"thread_id": CONVERSATION}}
        assert (await agent.graph.aget_state(config)).values["answered_seq"] == old[-1] == 5  # replies in between

    await bus.js.delete_stream(bus.stream)
    await ensure_stream(bus.js, stream_spec)
    assert await log.epoch() != old_epoch  # the fault: a new log, its sequences from 1 again

    async with open_agent(settings, bus) as agent:
        seqs = [await say(bus, agent, f"SMnew{n}", f"new message {n}") for n in range(1, 3)]
        assert seqs[0] == 1 and seqs[-1] < old[-1]  # these sequences were answered in the old log
        state = (await agent.graph.aget_state(config)).values
    replies = await stream_events(bus, ReplyComposed)
    assert [list(r.data.in_reply_to) for r in replies] == [["SMnew1"], ["SMnew2"]]
    assert state["answered_seq"] == seqs[-1] and state["log_epoch"] == await log.epoch()
    kept = " ".join(str(m.content) for m in state["messages"])
    assert "new message 1" in kept and "old message" not in kept  # no old `in-1` stands in for the new one
