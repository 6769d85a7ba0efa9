"""Bounded context: what is sent to the model, and what is kept in the checkpoint.

Tokens are estimated (about four characters a token, plus a few per message, tool calls
included), the same estimate everywhere, so the budget holds whatever the tokenizer.

- `select_context` picks the messages sent on one call: the user's messages of this turn
  and its newest tool round always (that round's results shortened if they do not fit),
  then older rounds and earlier turns that fit the budget. It never
  splits a tool call from its results, and it answers any tool call left without a
  result (a crash mid-round) with an error, so the thread is always a valid one.
- `compact` bounds what is *stored*: when the thread outgrows the token budget or the
  turn limit, the oldest turns are removed (`RemoveMessage`) and folded into a short
  summary; the full history stays in the audit log. The turn limit keeps the checkpoint,
  which is read and written whole every turn, small even when messages are short.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Sequence, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from shared.text import clean_text

SUMMARY_HEADER = "Earlier in this conversation (oldest first, shortened):"
CHARS_PER_TOKEN = 4


_SIZES: OrderedDict[tuple, int] = OrderedDict()  # stored messages never change: count each once


def message_tokens(message: BaseMessage) -> int:
    key = (message.id, len(str(message.content)), len(getattr(message, "tool_calls", None) or ()))
    if message.id is None:
        return count_tokens_approximately([message])
    size = _SIZES.get(key)
    if size is None:
        size = _SIZES[key] = count_tokens_approximately([message])
        if len(_SIZES) > 100_000:
            _SIZES.popitem(last=False)
    return size


def tokens(messages: Sequence[BaseMessage]) -> int:
    return sum(message_tokens(m) for m in messages)


def tool_tokens(schemas: Sequence[dict[str, Any]]) -> int:
    return sum(len(json.dumps(schema, separators=(",", ":"))) // CHARS_PER_TOKEN + 8 for schema in schemas)


def units(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    """Messages grouped so a tool-calling AI message and its results stay together."""
    grouped: list[list[BaseMessage]] = []
    for message in messages:
        if isinstance(message, ToolMessage) and grouped and _calls(grouped[-1][0]):
            grouped[-1].append(message)
        else:
            grouped.append([message])
    return [_answered(unit) for unit in grouped]


def _calls(message: BaseMessage) -> list[dict]:
    return (getattr(message, "tool_calls", None) or []) if isinstance(message, AIMessage) else []


def _answered(unit: list[BaseMessage]) -> list[BaseMessage]:
    """Give every tool call in the unit a result; drop results nothing asked for."""
    calls = _calls(unit[0])
    if isinstance(unit[0], ToolMessage):
        return []  # a result whose call was compacted away
    if not calls:
        return unit
    seen = {cast(ToolMessage, m).tool_call_id for m in unit[1:]}  # `units` puts only results after a call
    missing = [ToolMessage("Error: this tool did not run.", tool_call_id=c["id"], status="error")
               for c in calls if c["id"] not in seen]
    return unit + missing


def select_context(messages: Sequence[BaseMessage], turn_first_id: str | None, budget: int) -> list[BaseMessage]:
    """The messages to send, newest first within `budget` tokens, this turn's input always."""
    grouped = [u for u in units(messages) if u]
    start = next((i for i, u in enumerate(grouped) if u[0].id == turn_first_id), None)
    if start is None:
        start = max((i for i, u in enumerate(grouped) if isinstance(u[0], HumanMessage)), default=len(grouped))
    end = start
    while end < len(grouped) and isinstance(grouped[end][0], HumanMessage):
        end += 1
    current_input = [m for u in grouped[start:end] for m in u]
    current_input = _shrink(current_input, budget // 2)
    left = budget - tokens(current_input)
    rounds: list[list[BaseMessage]] = []
    for unit in reversed(grouped[end:]):  # this turn's tool rounds, newest first
        cost = tokens(unit)
        if cost > left and rounds:
            break
        if cost > left:
            # The newest round always goes, its results shortened (past the budget if it must:
            # a round holds at most a step's calls). A model that cannot see what its calls
            # returned asks for them again, round after round, and never answers.
            unit = _shrink_round(unit, left)
            cost = tokens(unit)
        rounds.insert(0, unit)
        left -= cost
    earlier: list[list[BaseMessage]] = []
    for unit in reversed(grouped[:start]):
        cost = tokens(unit)
        if cost > left:
            break
        earlier.insert(0, unit)
        left -= cost
    while earlier and not isinstance(earlier[0][0], HumanMessage):
        earlier.pop(0)  # start on something the user said
    return [m for u in earlier for m in u] + current_input + [m for u in rounds for m in u]


def _shrink_round(unit: list[BaseMessage], budget: int) -> list[BaseMessage]:
    """A tool round cut to `budget` tokens: the call stays, each result gets an equal share."""
    results = [m for m in unit[1:] if isinstance(m, ToolMessage)]
    if not results:
        return unit
    share = max(MIN_RESULT_CHARS, (budget - tokens(unit[:1])) * CHARS_PER_TOKEN // len(results) - 40)
    return unit[:1] + [m if len(str(m.content)) <= share else
                       m.model_copy(update={"content": shorten_result(str(m.content), share)}) for m in results]


MIN_RESULT_CHARS = 400  # room for one event as a tool describes it


def shorten_result(content: str, limit: int) -> str:
    """A tool result cut to `limit` characters. JSON stays JSON: long lists keep their first
    items and say how many were left out (`<key>_left_out`), so what the model reads still
    parses; other text is cut at the end."""
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if isinstance(value, dict):
        for keep in (5, 3, 1, 0):
            cut = {key: _first(item, keep) for key, item in value.items()}
            cut.update({f"{key}_left_out": len(item) - keep for key, item in value.items()
                        if isinstance(item, list) and len(item) > keep})
            text = json.dumps(cut, ensure_ascii=False, separators=(",", ":"))
            if len(text) <= limit:
                return text
    return content[: max(0, limit - 7)] + " [cut]"


def _first(item: Any, keep: int) -> Any:
    return item[:keep] if isinstance(item, list) else item


def _shrink(messages: list[BaseMessage], budget: int) -> list[BaseMessage]:
    """A burst too long for the budget keeps its newest words."""
    if tokens(messages) <= budget:
        return messages
    text = "\n".join(str(m.content) for m in messages)
    keep = max(0, budget * CHARS_PER_TOKEN - 64)
    return [HumanMessage("[earlier part cut] " + text[-keep:], id=messages[0].id)]


def compact(messages: Sequence[BaseMessage], summary: str, keep_tokens: int, summary_tokens: int,
            protect_from: str | None = None, keep_turns: int | None = None) -> tuple[list[RemoveMessage], str] | None:
    """If the stored thread holds more than `keep_tokens` or `keep_turns`, remove its oldest
    turns down to half of both.

    Returns the removals and the new summary, or None when nothing needs doing. Turns are
    cut where the user spoke, never inside a tool round, and never at or after
    `protect_from` (the current turn's first message id).
    """
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)
              and (i == 0 or not isinstance(messages[i - 1], HumanMessage))]
    sizes = [message_tokens(m) for m in messages]
    if sum(sizes) <= keep_tokens and (keep_turns is None or len(starts) <= keep_turns):
        return None
    after = [0] * (len(messages) + 1)  # tokens from i to the end
    for i in range(len(messages) - 1, -1, -1):
        after[i] = after[i + 1] + sizes[i]
    protected = next((i for i, m in enumerate(messages) if m.id == protect_from), len(messages))
    cut = 0
    for n, start in enumerate(starts):
        if start > protected:
            break
        cut = start
        if after[start] <= keep_tokens // 2 and (keep_turns is None or len(starts) - n <= keep_turns // 2):
            break
    if cut == 0:
        return None
    removed = list(messages[:cut])
    return [RemoveMessage(id=m.id) for m in removed if m.id], fold(summary, removed, summary_tokens)


def fold(summary: str, removed: Sequence[BaseMessage], limit_tokens: int) -> str:
    """An extractive summary: who said what, shortened, newest kept when it is too long."""
    lines = [line for line in summary.splitlines()[1:] if line.strip()] if summary else []
    for message in removed:
        text = message.content if isinstance(message.content, str) else str(message.content)
        text = " ".join(clean_text(text).split())  # threads stored before inputs were cleaned
        if not text or isinstance(message, ToolMessage):
            continue
        who = "user" if isinstance(message, HumanMessage) else "assistant"
        lines.append(f"- {who}: {text[:160]}{'…' if len(text) > 160 else ''}")
    budget = limit_tokens * CHARS_PER_TOKEN - len(SUMMARY_HEADER)
    kept: list[str] = []
    for line in reversed(lines):
        budget -= len(line) + 1
        if budget < 0:
            break
        kept.insert(0, line)
    return "\n".join([SUMMARY_HEADER, *kept]) if kept else ""
