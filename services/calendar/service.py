"""The `calendar` NATS micro service: decode, call the handler, answer or fail with a code.

nats-py runs one subscription's callbacks one after another, so each request is handed
to its own task (at most `concurrency` at once; beyond that the endpoint waits, which is
back-pressure on the caller). Every request gets an answer within `request_timeout_s`.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any, Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from prometheus_client import Histogram
from pydantic import BaseModel, ValidationError

from services.calendar import handlers
from services.calendar.handlers import Calendar
from shared.calendar import (
    ENDPOINTS,
    SERVICE_NAME,
    SERVICE_VERSION,
    SUBJECT_PREFIX,
    CalendarError,
    ErrorCode,
)
from shared.logging import get_logger
from shared.tracing import span

log = get_logger(__name__)

Handler = Callable[[Any, Calendar], Awaitable[BaseModel]]
HANDLERS: dict[str, Handler] = {
    "create": handlers.create_event,
    "list": handlers.list_events,
    "get": handlers.get_event,
    "update": handlers.update_event,
    "delete": handlers.delete_event,
    "free_slots": handlers.find_free_slots,
}

REQUEST_SECONDS = Histogram(
    "calendar_request_seconds", "Calendar RPC handling time", ["endpoint", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class CalendarService:
    def __init__(self, nc: NATS, deps: Calendar, *, concurrency: int = 64, request_timeout_s: float = 15.0):
        self.nc = nc
        self.deps = deps
        self.request_timeout_s = request_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._service: Service | None = None

    @property
    def running(self) -> bool:
        return self._service is not None and not self._service.stopped.is_set()

    async def start(self) -> None:
        self._service = await add_service(
            self.nc, name=SERVICE_NAME, version=SERVICE_VERSION,
            description="Each user's calendar: create, list, get, update, delete, free slots",
        )
        group = self._service.add_group(name=SUBJECT_PREFIX)
        for name, (request_type, _) in ENDPOINTS.items():
            await group.add_endpoint(name=name, handler=partial(self._accept, name, request_type, HANDLERS[name]))

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking requests, then let the ones in hand finish (bounded)."""
        if self._service is not None:
            await self._service.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def _accept(self, name: str, request_type: type[BaseModel], handle: Handler, request: Request) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._serve(name, request_type, handle, request))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _serve(self, name: str, request_type: type[BaseModel], handle: Handler, request: Request) -> None:
        started, outcome = time.perf_counter(), "cancelled"
        try:
            with span(f"calendar {name}", request.headers, kind="server"):
                outcome = await self._answer(name, request_type, handle, request)
        finally:
            REQUEST_SECONDS.labels(name, outcome).observe(time.perf_counter() - started)

    async def _answer(self, name: str, request_type: type[BaseModel], handle: Handler, request: Request) -> str:
        try:
            command = request_type.model_validate_json(request.data)
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()})
            return await self._fail(request, CalendarError(
                ErrorCode.INVALID_REQUEST, f"I couldn't understand that calendar request ({', '.join(fields)})."))
        try:
            reply = await asyncio.wait_for(handle(command, self.deps), self.request_timeout_s)
        except CalendarError as exc:
            return await self._fail(request, exc)
        except TimeoutError:
            return await self._fail(request, CalendarError(ErrorCode.BACKEND_UNAVAILABLE))
        except Exception:
            log.exception("calendar_request_crashed", endpoint=name)
            return await self._fail(request, CalendarError(
                ErrorCode.BACKEND_UNAVAILABLE, "Something went wrong with the calendar; please try again."))
        try:
            await request.respond(reply.model_dump_json().encode())
        except Exception as exc:  # the connection is closing; the caller will time out
            log.warning("calendar_reply_failed", endpoint=name, error=str(exc))
            return "reply_failed"
        return "ok"

    @staticmethod
    async def _fail(request: Request, error: CalendarError) -> str:
        try:
            await request.respond_error(error.code.value, error.message)
        except Exception as exc:  # the caller is gone; nothing left to tell
            log.warning("calendar_reply_failed", error=str(exc))
        return error.code.value
