"""What a tool is to the agent: an args model the LLM fills, and a function of (args, context).

The context carries who is talking (from the signed webhook) and is never an argument the
model controls: the args models forbid extra fields, so a model that adds `owner` gets an
error back instead of someone else's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, ConfigDict


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ToolContext:
    """Who the tool acts for. Built by the graph from the turn, never from model output."""

    owner: str  # the user's phone number, E.164
    conversation: str
    time_zone: str
    call_key: str  # stable for this call in this turn: an idempotency key
    correlation_id: str | None = None
    business: str = ""  # the number the user wrote to; the calendar checks it against `conversation`
    causation_id: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What the model reads back, and any state the tool changed (e.g. the time zone)."""

    content: str
    state: dict[str, Any] = field(default_factory=dict)


class ToolFailed(Exception):
    """A failure the model should explain to the user; `message` is safe to show."""

    def __init__(self, message: str, code: str = "failed"):
        super().__init__(message)
        self.message = message
        self.code = code


ToolFunction = Callable[[Any, ToolContext], Awaitable[ToolResult | str]]


@dataclass(frozen=True)
class AgentTool:
    name: str
    description: str
    args: type[ToolArgs]
    run: ToolFunction

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema the model is given."""
        parameters = slim_schema(self.args.model_json_schema())
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


def slim_schema(node: Any) -> Any:
    """A JSON schema without what costs tokens and tells the model nothing: titles, and
    `anyOf [X, null]` for optional fields (they are simply not required)."""
    if isinstance(node, list):
        return [slim_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: value for key, value in node.items() if key != "title"}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(option for option in options if option != {"type": "null"})
        node = {**{k: v for k, v in node.items() if k != "anyOf"}, **other}
        if node.get("default", 0) is None:
            del node["default"]
    return {key: slim_schema(value) for key, value in node.items()}


def as_json(value: Any) -> str:
    """Tool output for the model: compact JSON (the model turns it into words)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
