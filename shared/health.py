"""A small HTTP server for worker services: liveness, readiness and Prometheus metrics.

`GET /healthz` answers 200 while the event loop runs; `GET /readyz` answers 200 when
every readiness check passes (503 and the failing names otherwise); `GET /metrics`
serves the Prometheus registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.listen import inherited_listener

ReadinessCheck = Callable[[], bool]

class DependencyHealth:
    """Whether a dependency (Postgres, …) answered the last time it was used or probed.

    The code that uses it calls `report()` on every success and outage, so readiness
    follows the dependency continuously; `watch()` probes it only when nothing has
    reported for `interval_s`, so an idle worker notices an outage (and the recovery) too.
    `is_ok` is the readiness check.
    """

    def __init__(self, name: str):
        self.name = name
        self.ok = False
        self._last_report = 0.0

    def report(self, ok: bool) -> None:
        self.ok = ok
        self._last_report = time.monotonic()

    def is_ok(self) -> bool:
        return self.ok

    async def watch(self, probe: Callable[[], Awaitable[object]], stop: asyncio.Event, interval_s: float = 5.0,
                    timeout_s: float = 5.0) -> None:
        while not stop.is_set():
            if time.monotonic() - self._last_report >= interval_s:
                try:
                    await asyncio.wait_for(probe(), timeout_s)
                except Exception:
                    self.report(False)
                else:
                    self.report(True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    def __init__(self, host: str, port: int, checks: dict[str, ReadinessCheck]):
        self.host = host
        self.port = port
        self.checks = checks
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        inherited = inherited_listener(self.host, self.port)  # under `up`: shared/listen.py
        if inherited is not None:
            self._server = await asyncio.start_server(self._serve, sock=inherited)
        else:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def readiness(self) -> tuple[bool, list[str]]:
        failing = []
        for name, check in self.checks.items():
            try:
                ok = check()
            except Exception:
                ok = False
            if not ok:
                failing.append(name)
        return not failing, failing

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?")[0]) if len(parts) >= 2 else ("", "")
            status, content_type, body = self._route(method, path)
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "text/plain", b"method not allowed\n"
        if path == "/healthz":
            return 200, "application/json", b'{"status":"ok"}'
        if path == "/readyz":
            ready, failing = self.readiness()
            body = json.dumps({"status": "ready" if ready else "not_ready", "failing": failing}).encode()
            return (200 if ready else 503), "application/json", body
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        return 404, "text/plain", b"not found\n"
