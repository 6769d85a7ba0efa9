"""What leaves the agent: clean reply text, and the events built from the stored reply.

The events are rebuilt from the checkpointed `Reply` with fixed ids and times, so a
redelivered input re-publishes byte-for-byte the same event under the same Nats-Msg-Id.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage

from services.agent.state import Reply
from shared.events import (
    AgentFailed,
    AgentFailedData,
    ReplyComposed,
    ReplyComposedData,
    TokenUsage,
    ToolCallRecord,
)
from shared.text import clean_text

FALLBACK = "Sorry, I couldn't put an answer together for that. Could you ask again?"
APOLOGY = "Sorry, I'm having trouble thinking right now. Please try again in a minute."
TOOL_LIMIT = "Sorry, that took more steps than I can take for one message. Could you split it into smaller requests?"
MAX_REPLY_CHARS = 12_000

_MARKUP = re.compile(r"<(tool_call|function_call|tool_code)[^>]*>.*?</\1>|<function=[^>]*>.*?</function>", re.S)
_FENCE = re.compile(r"```(?:json|tool_code|python)?\s*(.*?)```", re.S)
_NAMESPACE = uuid.UUID("5f0c6f8e-8a57-4c61-9d0c-6a1f0e9d2b11")


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


def clean_value(value: Any) -> Any:
    """`value` with every string in it (nested in lists and dicts) passed through `clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    if isinstance(value, dict):
        return {clean_value(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    return value


def clean_answer(message: AIMessage) -> AIMessage:
    """The model's message without control characters in its text or tool arguments, before
    it enters the checkpoint (Postgres rejects a NUL, and then every later turn with it)."""
    return message.model_copy(update={
        "content": clean_value(message.content),
        "tool_calls": [{**call, "args": clean_value(call.get("args") or {})} for call in message.tool_calls],
    })


def clean_reply(content: Any) -> str:
    """The model's answer without tool-call markup or raw JSON; a fallback if nothing is left."""
    text = _MARKUP.sub("", clean_text(message_text(content)))
    text = _FENCE.sub(lambda m: "" if _is_data(m.group(1).strip()) else m.group(1), text)
    text = _strip_json(text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text[:MAX_REPLY_CHARS] if text else FALLBACK


def _is_data(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


def _strip_json(text: str) -> str:
    decoder = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                value, end = None, i
            if end > i and (isinstance(value, dict) and value or isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                i = end
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def stable_id(*parts: object) -> str:
    return uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)).hex


def reply_msg_id(conversation: str, last_seq: int) -> str:
    return f"reply:{conversation}:{last_seq}"


def failed_msg_id(conversation: str, last_seq: int) -> str:
    return f"agent_failed:{conversation}:{last_seq}"


def reply_event(conversation: str, reply: Reply) -> ReplyComposed:
    turn = reply["turn"]
    return ReplyComposed(
        id=reply["event_id"],
        conversation=conversation,
        occurred_at=datetime.fromisoformat(reply["composed_at"]),
        correlation_id=turn["correlation_id"],
        causation_id=turn["causation_id"],
        data=ReplyComposedData(
            reply_id=reply["reply_id"],
            in_reply_to=tuple(turn["message_sids"]),
            from_=turn["business"],
            to=turn["user"],
            text=reply["text"],
            model=reply["model"],
            tool_calls=tuple(ToolCallRecord(**record) for record in reply["tool_calls"]),
            usage=TokenUsage(**reply["usage"]),
            latency_ms=reply["latency_ms"],
        ),
    )


def failed_event(conversation: str, reply: Reply) -> AgentFailed | None:
    failure, turn = reply["failure"], reply["turn"]
    if not failure:
        return None
    return AgentFailed(
        id=stable_id("failed", conversation, turn["last_seq"]),
        conversation=conversation,
        occurred_at=datetime.fromisoformat(reply["composed_at"]),
        correlation_id=turn["correlation_id"],
        causation_id=turn["causation_id"],
        data=AgentFailedData(
            in_reply_to=tuple(turn["message_sids"]), reason=failure["reason"], error=failure["error"],
            attempts=failure["attempts"], model=reply["model"], last_input_seq=turn["last_seq"],
        ),
    )
