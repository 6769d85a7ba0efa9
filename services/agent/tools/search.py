"""Web search through Tavily; without a key the tool says search is not configured."""

from __future__ import annotations

from langchain_core.tools import ToolException
from pydantic import Field

from services.agent.tools.base import AgentTool, ToolArgs, ToolContext, ToolFailed, as_json

NOT_CONFIGURED = "Web search is not configured on this assistant, so I can't look things up online."


class SearchArgs(ToolArgs):
    query: str = Field(description="what to search the web for", min_length=1, max_length=400)


def build_search_tool(api_key: str | None, base_url: str | None = None, max_results: int = 5) -> AgentTool:
    search = None
    if api_key:
        from langchain_tavily import TavilySearch

        options = {"tavily_api_key": api_key, "max_results": max_results}
        if base_url:
            options["api_base_url"] = base_url
        search = TavilySearch(**options)

    async def web_search(args: SearchArgs, _: ToolContext) -> str:
        if search is None:
            raise ToolFailed(NOT_CONFIGURED, "not_configured")
        try:
            found = await search.ainvoke({"query": args.query})
        except ToolException:
            found = ""
        if isinstance(found, str):  # langchain-tavily's way of saying it found nothing
            return as_json({"answer": None, "results": []})
        if not isinstance(found, dict) or "error" in found:
            raise ToolFailed("The web search didn't work this time.", "search_failed")
        results = [
            {"title": r.get("title", ""), "url": r.get("url", ""), "content": (r.get("content") or "")[:500]}
            for r in found.get("results", [])[:max_results]
        ]
        return as_json({"answer": found.get("answer"), "results": results})

    return AgentTool("web_search", "Search the web for current information.", SearchArgs, web_search)
