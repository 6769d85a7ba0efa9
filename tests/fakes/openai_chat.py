"""A fake OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

It speaks the wire format of `POST /v1/chat/completions` (non-streaming), so the real
`openai` client, and `langchain-openai` on top of it, run against it unchanged: point
`base_url` at `.base_url`.

- Answers come from a script, in order: `reply(text)`, `call_tool(name, args, ...)`
  (one assistant message with one or more tool calls), `fail(status, count)` (e.g. 500s),
  or `respond_with(fn)` where `fn(request) -> Answer` decides from the request itself
  (e.g. to read an event id out of an earlier tool result). When the script is empty,
  `default` answers (by default, a short text that quotes the last user message).
- Every answer reports `usage.prompt_tokens`, counted from the request the way the agent
  estimates it: characters / 4 of every message's text and tool calls, and of the tool
  definitions, plus 4 per message. So a test can check the prompt budget from outside.
- `requests` keeps every request body (model, messages, tools, tool_choice).
- A wrong or missing bearer token gets 401 `invalid_api_key`; `latency_s` delays answers,
  and `in_flight` / `peak_in_flight` count requests being answered at once.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Answer:
    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200  # anything else is an error answer


Responder = Callable[[dict[str, Any]], Answer]


def count_prompt_tokens(request: dict[str, Any]) -> int:
    chars, messages = 0, request.get("messages", [])
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        chars += len(content)
        for call in message.get("tool_calls") or []:
            chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    for tool in request.get("tools") or []:
        chars += len(json.dumps(tool, separators=(",", ":")))
    return math.ceil(chars / 4) + 4 * len(messages)


def last_user_text(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def echo(request: dict[str, Any]) -> Answer:
    return Answer(f"You said: {last_user_text(request)[:200]}")


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of agent calls may connect at once
    daemon_threads = True


class FakeOpenAIChat:
    def __init__(self, api_key: str = "sk-fake-chat", latency_s: float = 0.0, default: Responder = echo):
        self.api_key = api_key
        self.latency_s = latency_s
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self._script: deque[Answer | Responder] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # --- the script ------------------------------------------------------------------

    def reply(self, text: str) -> FakeOpenAIChat:
        self._script.append(Answer(text))
        return self

    def call_tool(self, name: str, args: dict[str, Any], *more: tuple[str, dict[str, Any]], text: str | None = None) -> FakeOpenAIChat:
        self._script.append(Answer(text, [(name, args), *more]))
        return self

    def fail(self, status: int = 500, count: int = 1) -> FakeOpenAIChat:
        for _ in range(count):
            self._script.append(Answer(status=status))
        return self

    def respond_with(self, responder: Responder, count: int = 1) -> FakeOpenAIChat:
        for _ in range(count):
            self._script.append(responder)
        return self

    @property
    def pending(self) -> int:
        return len(self._script)

    @property
    def calls(self) -> int:
        return len(self.requests)

    # --- serving ---------------------------------------------------------------------

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            step = self._script.popleft() if self._script else self.default
        answer = step(request) if callable(step) else step
        if answer.status != 200:
            return answer.status, {"error": {"message": "The server had an error while processing your request.",
                                             "type": "server_error", "param": None, "code": None}}
        calls = [
            {"id": f"call_{next(self._ids)}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for name, args in answer.tool_calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if calls:
            message["tool_calls"] = calls
        prompt_tokens = count_prompt_tokens(request)
        completion_tokens = math.ceil(len(answer.text or "") / 4) + sum(len(c["function"]["arguments"]) // 4 for c in calls)
        body = {
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop",
                         "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        self.answers.append(body)
        return 200, body

    def start(self) -> FakeOpenAIChat:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai-chat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIChat:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler_for(fake: FakeOpenAIChat) -> type[BaseHTTPRequestHandler]:

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
            elif self.path.rstrip("/") == "/_fake/stats":  # for a fake running in its own process
                self._send(200, {"calls": fake.calls, "peak_in_flight": fake.peak_in_flight,
                                 "in_flight": fake.in_flight})
            else:
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                           "code": "invalid_api_key", "param": None}})
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            with fake._lock:
                fake.in_flight += 1
                fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
            try:
                if fake.latency_s:
                    time.sleep(fake.latency_s)
                status, answer = fake.answer(json.loads(body))
            finally:
                with fake._lock:
                    fake.in_flight -= 1
            self._send(status, answer)

    return Handler


def main() -> None:
    """Serve the fake on its own (benchmarks run it in a separate process, off their GIL)."""
    import argparse

    parser = argparse.ArgumentParser(description="a fake OpenAI-compatible chat server on loopback")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--key", default="sk-fake-chat")
    args = parser.parse_args()
    fake = FakeOpenAIChat(api_key=args.key, latency_s=args.latency)
    fake._server = _Server(("127.0.0.1", args.port), _handler_for(fake))
    fake._server.serve_forever()


if __name__ == "__main__":
    main()
