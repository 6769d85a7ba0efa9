"""Tools through the running agent: web search (a fake Tavily API), the clock, time zones."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from services.agent.tools.base import ToolContext, ToolFailed
from services.agent.tools.search import NOT_CONFIGURED, build_search_tool
from shared.events import ReplyComposed
from shared.ids import conversation_id
from shared.settings import driver_url
from tests.fakes.openai_chat import Answer, FakeOpenAIChat
from tests.integration.test_agent_memory import (
    BUSINESS,
    OWNER_A,
    Recorder,
    agent_settings,
    running_agent,
    send_text,
    wait_until,
)

CTX = ToolContext(owner=OWNER_A, business=BUSINESS, conversation=conversation_id(BUSINESS, OWNER_A), time_zone="UTC",
                  call_key="k")


class FakeTavily:
    """Tavily's `POST /search` on loopback: checks the key, answers from `results`."""

    def __init__(self, api_key: str = "tvly-test"):
        self.api_key = api_key
        self.results: list[dict[str, Any]] = []
        self.queries: list[dict[str, Any]] = []

    def __enter__(self) -> FakeTavily:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.headers.get("Authorization") == f"Bearer {fake.api_key}"
                fake.queries.append(body)
                data = json.dumps({"query": body.get("query"), "answer": None, "results": fake.results}
                                  if ok else {"detail": {"error": "Unauthorized"}}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_web_search_goes_through_langchain_tavily_and_trims_what_the_model_reads():
    with FakeTavily() as tavily:
        tavily.results = [{"title": "Paris", "url": "https://example.org/paris", "content": "Paris is the capital. " * 60,
                           "score": 0.9, "raw_content": None}]
        found = json.loads(await build_search_tool(tavily.api_key, tavily.url).run(
            build_search_tool(None).args(query="capital of France"), CTX))
        assert tavily.queries[0]["query"] == "capital of France" and tavily.queries[0]["max_results"] == 5
        assert found["results"][0]["title"] == "Paris" and len(found["results"][0]["content"]) == 500
        tavily.results = []
        empty = json.loads(await build_search_tool(tavily.api_key, tavily.url).run(
            build_search_tool(None).args(query="zzzz"), CTX))
        assert empty["results"] == []
        try:
            await build_search_tool("tvly-wrong", tavily.url).run(build_search_tool(None).args(query="x"), CTX)
        except ToolFailed as exc:
            assert "didn't work" in exc.message
        else:
            raise AssertionError("a refused key must fail the tool")


async def test_without_a_key_search_says_it_is_not_configured_and_the_model_can_say_so(database_url, bus):
    def explain(request: dict) -> Answer:
        return Answer(f"I can't search: {request['messages'][-1]['content']}")

    with FakeOpenAIChat() as llm:
        llm.call_tool("web_search", {"query": "weather in Madrid"}).respond_with(explain)
        settings = agent_settings(database_url, bus, OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url)
        async with Recorder(bus) as seen, running_agent(bus, settings):
            await send_text(bus, OWNER_A, "what's the weather in Madrid?")
            await wait_until(lambda: seen.of(ReplyComposed))
        [reply] = seen.of(ReplyComposed)
        assert reply.data.text == f"I can't search: Error: {NOT_CONFIGURED}"
        assert [(t.name, t.ok) for t in reply.data.tool_calls] == [("web_search", False)]


async def test_a_user_changes_their_time_zone_and_it_outlives_the_process(database_url, bus):
    settings = agent_settings(database_url, bus)
    async with Recorder(bus) as seen:
        async with running_agent(bus, settings):
            await send_text(bus, OWNER_A, "what time is it?")
            await wait_until(lambda: len(seen.of(ReplyComposed)) == 1)
            await send_text(bus, OWNER_A, "I'm in Tokyo now")
            await wait_until(lambda: len(seen.of(ReplyComposed)) == 2)
        async with running_agent(bus, settings):
            await send_text(bus, OWNER_A, "what time is it?")
            await wait_until(lambda: len(seen.of(ReplyComposed)) == 3)
    before, changed, after = (r.data.text for r in seen.of(ReplyComposed))
    assert before.endswith("(Europe/Madrid).")  # from the +34 number
    assert changed.startswith("Got it: I'll use Asia/Tokyo from now on.")
    assert after.endswith("(Asia/Tokyo).")
    async with await psycopg.AsyncConnection.connect(driver_url(database_url, "")) as conn:
        row = await (await conn.execute("SELECT time_zone FROM agent.user_time_zones WHERE conversation = %s",
                                        (conversation_id(BUSINESS, OWNER_A),))).fetchone()
    assert row == ("Asia/Tokyo",)
