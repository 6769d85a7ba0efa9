"""Running one tool call: every outcome becomes text for the model, never an exception,
except a dependency outage (`DependencyUnavailable`), which ends the turn for now."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from pydantic import ValidationError

from services.agent.tools.base import AgentTool, ToolContext, ToolFailed, ToolResult
from shared.errors import DependencyUnavailable
from shared.logging import get_logger

log = get_logger(__name__)


async def run_tool_call(tool: AgentTool | None, call: Mapping[str, Any], ctx: ToolContext, timeout_s: float) -> tuple[str, bool, dict]:
    """(content for the model, ok, state changes). Errors come back as "Error: ..." text."""
    if tool is None:
        return f"Error: there is no tool called {call['name']!r}.", False, {}
    try:
        args = tool.args.model_validate(call.get("args") or {})
        result = await asyncio.wait_for(tool.run(args, ctx), timeout_s)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "arguments" for e in exc.errors()}))
        return f"Error: invalid arguments for {tool.name} ({fields}).", False, {}
    except ToolFailed as exc:
        return f"Error: {exc.message}", False, {}
    except DependencyUnavailable:
        raise  # an outage is not an answer: the turn stops here and its input is retried later
    except TimeoutError:
        return f"Error: {tool.name} took too long to answer.", False, {}
    except Exception as exc:  # a bug or an outage in a tool must not break the thread
        log.warning("tool_crashed", tool=tool.name, error=repr(exc)[:300])
        return f"Error: {tool.name} failed unexpectedly.", False, {}
    if isinstance(result, ToolResult):
        return result.content, True, result.state
    return str(result), True, {}
