"""Turning a burst of MessageTranscribed events into the messages and the Turn of one turn."""

from __future__ import annotations

import re
import time
from typing import Awaitable, Callable

from langchain_core.messages import HumanMessage

from services.agent.state import Turn
from shared.consumer import PermanentFailure
from shared.events import MessageTranscribed
from shared.ids import conversation_id
from shared.text import clean_text

FAILED_INPUT = re.compile(r"\[(voice note|attachment) not understood \(([\w-]+)\): ([^\]]*)\]")
DEFAULT_FAILURE_REPLY = "I couldn't understand that voice note. Could you type it?"
# Below this transcription confidence, a cancel, a move or a time-zone change heard in a
# voice note is confirmed before it is made (the offline model asks; an LLM is told to).
LOW_VOICE_CONFIDENCE = 0.6


def input_message(seq: int, event: MessageTranscribed) -> HumanMessage:
    """The user's words, plus a note for media that could not become text (never invented).

    The note carries the transcriber's code and polite reply, for the model to use. The
    id is derived from the stream sequence, so adding the same input twice replaces it.
    Words that came from a voice note carry `additional_kwargs["voice"]` (source, the
    engine's confidence and language): the reply shows what was heard, and the offline
    model confirms a heard cancel, move or time-zone change it is not sure of.
    """
    data = event.data
    text = clean_text(data.text).strip()  # a NUL would poison the checkpoint (JSONB) for good
    parts = [text] if text else []
    if data.failure_code or (data.failure and not parts):
        kind = "voice note" if data.source in ("voice", "mixed") else "attachment"
        reply = clean_text(data.failure_reply or DEFAULT_FAILURE_REPLY).replace("]", ")")
        parts.append(f"[{kind} not understood ({clean_text(data.failure_code or 'unknown')}): {reply}]")
    heard = {"source": data.source, "confidence": data.confidence, "language": data.language} \
        if data.source in ("voice", "mixed") and text else {}
    return HumanMessage("\n".join(parts) or "[empty message]", id=f"in-{seq}",
                        additional_kwargs={"voice": heard} if heard else {})


def identity(event: MessageTranscribed) -> tuple[str, str]:
    """(user, business) from the signed webhook, checked against the conversation id."""
    user, business = event.data.from_, event.data.to
    if not user or not business:
        raise PermanentFailure(
            "MessageTranscribed has no from/to: the transcriber must copy them from MessageReceived"
        )
    if conversation_id(business, user) != event.conversation:
        raise PermanentFailure("MessageTranscribed from/to do not match its conversation id")
    return user, business


# (user, business) of the MessageReceived that started an input's chain, or None.
FindSender = Callable[[MessageTranscribed], Awaitable["tuple[str, str] | None"]]


def has_identity(event: MessageTranscribed) -> bool:
    return bool(event.data.from_ and event.data.to)


async def with_identity(event: MessageTranscribed, find_sender: FindSender) -> MessageTranscribed:
    """`event`, with `from`/`to` taken from its chain's MessageReceived when it has none.

    Only a MessageTranscribed upcast from v1 as first published lacks them. The numbers
    still come from the signed webhook (the stored MessageReceived), and `identity` checks
    them against the conversation id as for any other input. Not found: unchanged, and
    `identity` dead-letters it with its reason.
    """
    if has_identity(event):
        return event
    found = await find_sender(event)
    if found is None:
        return event
    user, business = found
    return event.model_copy(update={"data": event.data.model_copy(update={"from_": user, "to": business})})


def make_turn(inputs: list[tuple[int, MessageTranscribed]]) -> Turn:
    """The turn answering `inputs`, one conversation's burst.

    An input without `from`/`to` (upcast from v1) takes them from the others: they share
    the conversation id, a hash of exactly these two numbers.
    """
    first_seq = inputs[0][0]
    last_seq, last = inputs[-1]
    known = [event for _, event in inputs if has_identity(event)]
    user, business = identity(known[-1] if known else last)
    for _, event in inputs:
        if event.conversation != last.conversation:
            raise PermanentFailure("inputs of one turn belong to different conversations")
        if has_identity(event) and identity(event) != (user, business):
            raise PermanentFailure("inputs of one conversation name different numbers")
    return Turn(
        first_seq=first_seq,
        last_seq=last_seq,
        message_sids=[event.data.message_sid for _, event in inputs],
        user=user,
        business=business,
        correlation_id=last.correlation_id or last.id,
        causation_id=last.id,
        started_at=time.time(),
    )
