"""How the gateway serves HTTP: uvicorn, with bounds on what slow clients can hold.

uvicorn times out idle keep-alive connections, but it waits forever for a request's head
(request line and headers) and has no size limit on it with the httptools parser, it
starts the app before the body has arrived, and its own `limit_concurrency` counts every
open connection, so hung clients past the limit turn real webhooks away with 503s.
`GuardedHttpToolsProtocol` adds:

- a deadline and a size cap on the head (GATEWAY_HEADER_TIMEOUT_S, GATEWAY_MAX_HEADER_BYTES);
- the app starts only once the whole body is here (when Content-Length says it fits in
  GATEWAY_MAX_BODY_BYTES), under a deadline (GATEWAY_BODY_TIMEOUT_S): a slow body or a
  client that hangs up mid-request never reaches the app, and costs no task;
- a cap on open connections per process that gives the slot of the client that has kept
  the gateway waiting longest to the new one (`services.gateway.connections`).

Other bodies (no length, too large) go to the app as they come, which bounds them the same
way; the app also bounds webhooks being stored at once (GATEWAY_LIMIT_CONCURRENCY).
"""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from services.gateway.config import GatewaySettings
from services.gateway.connections import BUSY, ConnectionGuard, connection_cap
from services.gateway.tally import REQUESTS_DROPPED

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
LARGE_HEAD = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines on each request's head and body.

    The head deadline starts when the connection opens, and again at the first byte of each
    further request on it (between requests uvicorn's keep-alive timeout applies); the body
    deadline starts when the head is complete.
    """

    header_timeout_s: float = 10.0
    max_header_bytes: int = 16 * 1024
    body_timeout_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    guard: ConnectionGuard = ConnectionGuard(1_000_000)  # server_config gives each server its own

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._head_bytes = 0
        self._request_begun = False
        self._held: tuple[RequestResponseCycle, ASGIApp] | None = None  # waiting for its body
        super().connection_made(transport)
        self._admitted = self.guard.admit(self)
        if not self._admitted:
            transport.write(BUSY)
            transport.close()
            return
        self._start_head()

    def _start_head(self) -> None:
        self._reading_head, self._head_bytes = True, 0
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout_s, self._too_slow, "head_timeout")

    def _cancel_deadline(self) -> None:
        self._reading_head = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def data_received(self, data: bytes) -> None:
        if not self._request_begun and self._admitted:
            self._request_begun = True
            self.guard.started(self)
        super().data_received(data)
        # Still in the head after parsing this chunk: all of it was head.
        if self._reading_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(LARGE_HEAD, "head_too_large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head()

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        super().on_headers_complete()  # makes the cycle and calls _start_asgi_task

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGIApp) -> None:  # type: ignore[override]
        if cycle.more_body and self._body_fits(cycle):
            self._held = (cycle, app)
            self._deadline = self.loop.call_later(self.body_timeout_s, self._too_slow, "body_timeout")
            return
        super()._start_asgi_task(cycle, app)  # type: ignore[arg-type]

    def _body_fits(self, cycle: RequestResponseCycle) -> bool:
        """A body we can wait for whole: a declared length within bounds, nobody expecting 100."""
        if cycle.waiting_for_100_continue:
            return False
        for name, value in cycle.scope["headers"]:
            if name == b"content-length":
                return value.isdigit() and int(value) <= min(self.max_body_bytes, HIGH_WATER_LIMIT)
        return False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._held is not None:
            self._cancel_deadline()
            held, self._held = self._held, None
            super()._start_asgi_task(*held)  # type: ignore[arg-type]
        if self._admitted and not self.cycle.response_complete:
            self.guard.busy(self)  # the whole request is here; the app answers it

    def on_response_complete(self) -> None:
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body was all here (413, 408): the rest is never read, and a
            # client still sending it would otherwise keep the connection past every deadline.
            self.transport.close()
        super().on_response_complete()
        if self._admitted and not self.transport.is_closing() and not self.pipeline:
            self._request_begun = False
            self.guard.wait(self, started=False)  # idle keep-alive until the next request

    def shutdown(self) -> None:
        if self._held is not None:  # the app never saw it: 503, and the client retries
            self._held = None
            self._refuse_quietly(BUSY)
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held is not None or (self._reading_head and self._request_begun and self._admitted):
            REQUESTS_DROPPED.note("hung_up")
        self._held = None
        self._cancel_deadline()
        if self._admitted:
            self._admitted = False
            self.guard.closed(self)
        super().connection_lost(exc)

    def drop(self, response: bytes | None) -> None:
        """Make room for a new connection (the guard has already counted this one out)."""
        self._admitted = False
        self._held = None
        self._cancel_deadline()
        if not self.transport.is_closing():
            if response:
                self.transport.write(response)
            self.transport.close()

    def _too_slow(self, reason: str) -> None:
        self._deadline = None
        self._refuse(TIMED_OUT, reason)

    def _refuse(self, response: bytes, reason: str) -> None:
        REQUESTS_DROPPED.note(reason, header_timeout_s=self.header_timeout_s, body_timeout_s=self.body_timeout_s)
        self._refuse_quietly(response)

    def _refuse_quietly(self, response: bytes) -> None:
        self._held = None
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


def server_config(app: ASGIApp, settings: GatewaySettings) -> uvicorn.Config:
    """The uvicorn configuration the gateway runs with (tests use it too)."""
    protocol = type(
        "GatewayHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "max_header_bytes": settings.max_header_bytes,
            "body_timeout_s": settings.body_timeout_s,
            "max_body_bytes": settings.max_body_bytes,
            "guard": ConnectionGuard(connection_cap(settings.max_connections)),
        },
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
        limit_concurrency=None,  # see the module docstring: the guard and the app bound load instead
        proxy_headers=False,  # forwarded headers are judged by SignedUrl, per TRUSTED_PROXIES
    )
