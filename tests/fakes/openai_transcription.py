"""A fake OpenAI-compatible transcription server on loopback, for tests and benchmarks.

It speaks the wire format of `POST /v1/audio/transcriptions` (multipart: file, model,
response_format, language) so the real `openai` client runs against it unchanged:
point `base_url` at `.base_url`. It answers `json`, `verbose_json` or `text`.

- Transcripts are registered per audio content (`respond(audio, text, ...)`); other
  recognisable audio gets `default_text`.
- Content that is not audio (no known container signature) gets OpenAI's 400
  `invalid_request_error`, as corrupt audio does from the real API.
- `fail_next(status, count)` makes the next requests fail (e.g. 503, 429).
- A wrong or missing bearer token gets 401 `invalid_api_key`.
- `hold(audio, gate)` keeps that audio's answer until `gate` is set (a long note being
  transcribed); `holding` is set while one is held.
- `requests` records what each call carried (model, format, file name and type, size).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_AUDIO_SIGNATURES = (b"OggS", b"RIFF", b"ID3", b"fLaC", b"\xff\xfb", b"\xff\xf3", b"#!AMR", b"\x1aE\xdf\xa3")


def _looks_like_audio(content: bytes) -> bool:
    return content.startswith(_AUDIO_SIGNATURES) or content[4:8] == b"ftyp"


@dataclass
class Canned:
    text: str
    language: str = "english"
    duration: float = 0.0


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[name] = {"filename": part.get_filename(), "content_type": part.get_content_type(), "content": payload}
        else:
            fields[name] = payload.decode()
    return fields


class FakeOpenAITranscription:
    def __init__(self, api_key: str = "sk-fake-key", default_text: str = "hello from the fake transcriber"):
        self.api_key = api_key
        self.default_text = default_text
        self.requests: list[dict[str, Any]] = []
        self._canned: dict[str, Canned] = {}
        self._failures: list[tuple[int, int]] = []  # (status, remaining)
        self._gates: dict[str, threading.Event] = {}
        self.holding = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def respond(self, audio: bytes, text: str, language: str = "english", duration: float = 0.0) -> None:
        self._canned[hashlib.sha256(audio).hexdigest()] = Canned(text, language, duration)

    def hold(self, audio: bytes, gate: threading.Event) -> None:
        self._gates[hashlib.sha256(audio).hexdigest()] = gate

    def fail_next(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._failures.append((status, count))

    def _next_failure(self) -> int | None:
        with self._lock:
            while self._failures and self._failures[0][1] <= 0:
                self._failures.pop(0)
            if not self._failures:
                return None
            status, remaining = self._failures[0]
            self._failures[0] = (status, remaining - 1)
            return status

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        if path.rstrip("/") != "/v1/audio/transcriptions":
            return _error(404, "invalid_request_error", f"Unknown path {path}", "unknown_url")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Incorrect API key provided.", "invalid_api_key")
        fields = _parse_multipart(headers.get("content-type", ""), body)
        upload = fields.get("file") or {}
        content: bytes = upload.get("content", b"")
        record = {
            "model": fields.get("model"), "response_format": fields.get("response_format", "json"),
            "filename": upload.get("filename"), "content_type": upload.get("content_type"),
            "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
        }
        with self._lock:
            self.requests.append(record)
        failure = self._next_failure()
        if failure is not None:
            return _error(failure, "server_error", "The server had an error processing your request.", None)
        if not fields.get("model"):
            return _error(400, "invalid_request_error", "you must provide a model parameter", None)
        if not _looks_like_audio(content):
            return _error(400, "invalid_request_error", "Audio file might be corrupted or unsupported", "invalid_value")
        gate = self._gates.get(record["sha256"])
        if gate is not None:
            self.holding.set()
            gate.wait(180)
        canned = self._canned.get(record["sha256"], Canned(self.default_text))
        fmt = record["response_format"]
        if fmt == "text":
            return 200, "text/plain", canned.text.encode()
        answer: dict[str, Any] = {"text": canned.text}
        if fmt == "verbose_json":
            answer.update(task="transcribe", language=canned.language, duration=canned.duration, segments=[])
        return 200, "application/json", json.dumps(answer).encode()

    def start(self) -> FakeOpenAITranscription:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status, content_type, payload = fake.handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeOpenAITranscription:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _error(status: int, kind: str, message: str, code: str | None) -> tuple[int, str, bytes]:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, "application/json", json.dumps(body).encode()
