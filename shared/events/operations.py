"""Operations: dead letters and what operators did with them, and the agent giving up."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.events.envelope import Event, Payload


class MessageDeadLetteredData(Payload):
    consumer: str
    stream_sequence: int
    subject: str
    deliveries: int
    error: str
    original_type: str | None = None
    original_id: str | None = None


class MessageDeadLettered(Event[MessageDeadLetteredData]):
    """A stage gave up on an event after bounded redelivery; its partition moved on."""

    kind: ClassVar[str] = "dead_letter"
    type: Literal["MessageDeadLettered"] = "MessageDeadLettered"
    version: Literal[1] = 1


class DeadLetterRetriedData(Payload):
    """A dead-lettered event was put back in the stream: by an operator (or a tool acting for
    one), or automatically by its stage once the stage was healthy again (`by: auto`)."""

    dead_letter_seq: int  # the MessageDeadLettered event
    original_seq: int  # the event that was given up on
    republished_seq: int  # where its copy was stored; its stage handles it like a new event
    consumer: str
    requested_by: str  # the operator, or the replica that retried it automatically
    by: Literal["operator", "auto"] = "operator"


class DeadLetterRetried(Event[DeadLetterRetriedData]):
    """v2: v1 plus `by` (see `upcast_dead_letter_retried_v1`)."""

    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterRetried"] = "DeadLetterRetried"
    version: Literal[2] = 2


class DeadLetterDiscardedData(Payload):
    """An operator decided a dead-lettered event is not to be retried."""

    dead_letter_seq: int
    original_seq: int
    consumer: str
    requested_by: str
    reason: str = ""


class DeadLetterDiscarded(Event[DeadLetterDiscardedData]):
    kind: ClassVar[str] = "dead_letter"
    type: Literal["DeadLetterDiscarded"] = "DeadLetterDiscarded"
    version: Literal[1] = 1


class AgentFailedData(Payload):
    """The agent could not compose an answer (e.g. the LLM kept failing); the user got an apology."""

    in_reply_to: tuple[str, ...]
    reason: Literal["llm_unavailable", "llm_error"]
    error: str  # the exception's type and a short message; never a stack trace
    attempts: int
    model: str
    last_input_seq: int


class AgentFailed(Event[AgentFailedData]):
    kind: ClassVar[str] = "agent_failed"
    type: Literal["AgentFailed"] = "AgentFailed"
    version: Literal[1] = 1
