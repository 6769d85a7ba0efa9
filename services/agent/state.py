"""What the graph remembers per conversation (the LangGraph checkpoint of one thread)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class Turn(TypedDict):
    """The inputs one turn answers: stream sequences, message sids and who is talking.

    `user` and `business` come from the signed webhook (through MessageTranscribed), never
    from what the user or the model types.
    """

    first_seq: int
    last_seq: int
    message_sids: list[str]
    user: str
    business: str
    correlation_id: str | None
    causation_id: str
    started_at: float  # epoch seconds, for the reply's latency


class ToolRecord(TypedDict):
    name: str
    ok: bool


class Failure(TypedDict):
    reason: str  # "llm_unavailable" | "llm_error"
    error: str
    attempts: int


class Reply(TypedDict):
    """The answer to the last turn, kept so a redelivered input re-publishes it as is."""

    reply_id: str
    event_id: str
    text: str
    model: str
    usage: dict[str, int]
    tool_calls: list[ToolRecord]
    latency_ms: float
    composed_at: str
    turn: Turn
    failure: Failure | None


class Inbox(TypedDict):
    """What the handler hands the graph: the delivered input's sequence and the turn it
    would start (the burst gathered with it)."""

    seq: int
    messages: list[AnyMessage]
    turn: Turn
    time_zone: str
    log_epoch: str  # the event log's epoch the sequences belong to ("" = not tracked)


class AgentState(TypedDict, total=False):
    inbox: Inbox
    outcome: str  # what `accept` decided: "answered", "resumed" or "new"
    messages: Annotated[list[AnyMessage], add_messages]
    summary: str  # what compaction folded out of `messages`
    time_zone: str  # the user's IANA zone for this turn
    turn: Turn
    rounds: int  # tool rounds in this turn
    usage: dict[str, int]  # model tokens in this turn
    tool_calls: list[ToolRecord]  # tools called in this turn
    failure: Failure | None
    answered_seq: int  # the last input stream sequence answered
    reply: Reply | None
    turns: int  # turns answered on this thread
    log_epoch: str  # the event log epoch `answered_seq` and the `in-<seq>` message ids belong to


def turn_input(messages: list[AnyMessage], turn: Turn, time_zone: str, seq: int | None = None,
               log_epoch: str = "") -> dict[str, Any]:
    """The graph input for a delivered input (`seq`, by default the turn's first)."""
    return {"inbox": Inbox(seq=turn["first_seq"] if seq is None else seq, messages=messages, turn=turn,
                           time_zone=time_zone, log_epoch=log_epoch)}
