"""`build_graph`: the assistant as a LangGraph graph, without side effects.

    START → accept ─┬─────────────────────────→ END      (input already answered)
                    ├→ chat ⇄ tools                       (a new turn)
                    │    └──────────────────→ END         (answered, reply composed)
                    └→ tools | compose → …                (a turn resumed where it failed)

`accept` decides from the checkpoint whether the delivered input is already answered,
`chat` asks the model (retrying transient failures; its first call in a turn bounds the
stored thread) and, once the model answers without tools, stores the reply together with
the last input sequence it answers — in the same checkpoint, which is what makes replies
exactly-once. `tools` runs the calls the model asked for, at most `max_tool_steps`
rounds a turn.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from services.agent.nodes import GraphOptions, TurnNodes
from services.agent.state import AgentState
from services.agent.tools.base import AgentTool


def build_graph(
    model: BaseChatModel,
    tools: list[AgentTool],
    checkpointer: BaseCheckpointSaver | None,
    options: GraphOptions,
) -> CompiledStateGraph:
    nodes = TurnNodes(model, tools, options)
    graph = StateGraph(AgentState)
    graph.add_node("accept", nodes.accept)
    graph.add_node("chat", nodes.chat)
    graph.add_node("tools", nodes.run_tools)
    graph.add_node("compose", nodes.compose)
    graph.add_edge(START, "accept")
    graph.add_conditional_edges("accept", nodes.after_accept,
                                {"done": END, "chat": "chat", "tools": "tools", "compose": "compose"})
    graph.add_conditional_edges("chat", nodes.after_chat, {"tools": "tools", "done": END})
    graph.add_edge("tools", "chat")
    graph.add_edge("compose", END)
    return graph.compile(checkpointer=checkpointer)
