"""`OfflineAssistant`: a deterministic LangChain chat model that needs no network or weights.

It implements LangChain's chat-model interface and emits real tool calls, so the agent
runs the same graph, tools and memory with it as with an LLM. What it understands is in
`intents.py`; what it does about it in `planner.py`.
"""

from __future__ import annotations

from typing import Any, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

from services.agent.offline.planner import MEMORY_KEY, plan


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict):
        return tool.get("function", tool).get("name", "")
    return getattr(tool, "name", "") or getattr(tool, "__name__", "")


class OfflineAssistant(BaseChatModel):
    """Calendar, clock, time zone, greetings and help, by rule; says plainly what needs an LLM."""

    model_name: str = "offline"

    @property
    def _llm_type(self) -> str:
        return "switchboard-offline"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Runnable:
        return self.bind(tool_names=[_tool_name(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        tool_names: list[str] | None = None,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = set() if tool_choice == "none" else set(tool_names or ())
        text, tool_calls, memory = plan(messages, tools)
        message = AIMessage(text, tool_calls=tool_calls, additional_kwargs={MEMORY_KEY: memory} if memory else {})
        prompt_tokens = count_tokens_approximately(messages)
        completion_tokens = count_tokens_approximately([message])
        message.usage_metadata = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                                  "total_tokens": prompt_tokens + completion_tokens}
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)  # pure computation: no thread needed
