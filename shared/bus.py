"""The bus: one NATS connection per process, JetStream publishing with PubAck.

Every publish sets `Nats-Msg-Id` to a key derived from what the event is about, so a
retried webhook or a redelivered input never stores a second event.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError  # noqa: F401
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

from shared.eventlog import PublishFailed
from shared.events import Event
from shared.logging import get_logger
from shared.retry import Backoff, retry
from shared.tracing import inject

log = get_logger(__name__)
T = TypeVar("T")

# Setting up a stage's consumers, buckets and subscriptions: tried again for about 15 s.
SET_UP = Backoff(attempts=6, base_s=0.5, cap_s=8.0, jitter=0.5)


__all__ = ["Bus", "NatsAccess", "PublishFailed", "Stopped", "connect", "set_up", "transient_nats_error"]  # PublishFailed lives with the port, shared.eventlog


class Stopped(RuntimeError):
    """Asked to stop before NATS answered."""


@dataclass(frozen=True)
class NatsAccess:
    """Who a process is on NATS: its user and password (shared.nats_permissions) and the
    CA that signed the server's TLS certificate. Empty means an open local server."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca_file: str | None = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        from shared.nats_permissions import inbox_prefix

        options: dict[str, Any] = {}
        if self.user:
            # The identity may subscribe only below its own inbox prefix (shared.nats_permissions).
            options.update(user=self.user, password=self.password or "", inbox_prefix=inbox_prefix(self.user))
        if self.tls_ca_file:
            options["tls"] = ssl.create_default_context(cafile=self.tls_ca_file)
        return options


async def connect(
    url: str, name: str, *, wait: bool = True, connect_timeout: float = 2.0, stop: asyncio.Event | None = None,
    access: NatsAccess | None = None,
) -> NATS:
    """Connect to NATS, reconnecting forever once connected.

    With `wait`, keep trying until the server answers (services start before NATS in
    compose and Kubernetes), or until `stop` is set (then `Stopped` is raised);
    without it, raise `NoServersError` if the server does not answer at once.
    """
    attempt = asyncio.create_task(
        nats.connect(
            **(access or NatsAccess()).options(),
            servers=url.split(","),
            name=name,
            connect_timeout=connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # nats-py retries the first connect too, forever
            reconnect_time_wait=0.5,
            ping_interval=5,
            max_outstanding_pings=2,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
    )
    stopping = asyncio.create_task(stop.wait()) if stop is not None else None
    waiters = {attempt} | ({stopping} if stopping else set())
    done, _ = await asyncio.wait(
        waiters, timeout=None if wait else connect_timeout + 0.5, return_when=asyncio.FIRST_COMPLETED
    )
    if stopping is not None:
        stopping.cancel()
    if attempt in done:
        return attempt.result()
    attempt.cancel()
    with contextlib.suppress(BaseException):
        await attempt
    if stop is not None and stop.is_set():
        raise Stopped("stopped while waiting for NATS")
    raise NoServersError(f"NATS at {url} did not answer")


async def _log_error(exc: Exception) -> None:
    log.warning("nats_error", error=str(exc))


async def _log_disconnected() -> None:
    log.warning("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")


@dataclass
class Bus:
    """A NATS connection with its JetStream context, bound to the Switchboard stream.

    The consumers in `shared/` (lanes, batches) and the worker runtime use `.js` and
    `.nc` directly. Services do not: their handlers take the `shared.eventlog.EventLog`
    port, which `shared.eventlog_jetstream.JetStreamEventLog` implements over a Bus.
    """

    nc: NATS
    stream: str = "WHATSAPP"
    publish_timeout_s: float = 2.0
    js: JetStreamContext = field(init=False)

    def __post_init__(self) -> None:
        self.js = self.nc.jetstream(timeout=self.publish_timeout_s)

    @property
    def connected(self) -> bool:
        return self.nc.is_connected

    async def publish(self, event: Event[Any], msg_id: str) -> PubAck:
        """Store `event` and wait for the PubAck. Raises `PublishFailed` otherwise.

        A duplicate `msg_id` inside the stream's window is acknowledged without storing
        a second copy (`ack.duplicate` is true).
        """
        if not self.nc.is_connected:
            raise PublishFailed("not connected to NATS")
        try:
            return await self.js.publish(
                event.subject,
                event.to_bytes(),
                timeout=self.publish_timeout_s,
                stream=self.stream,
                headers=inject({"Nats-Msg-Id": msg_id, "Sb-Type": event.type}),
            )
        except (TimeoutError, NatsTimeoutError, NoStreamResponseError) as exc:
            raise PublishFailed(f"no PubAck within {self.publish_timeout_s}s") from exc
        except (APIError, ConnectionClosedError, OSError) as exc:
            raise PublishFailed(str(exc) or type(exc).__name__) from exc

    async def close(self, drain_timeout_s: float = 20.0) -> None:
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), drain_timeout_s)
        except Exception:  # a failed drain must not stop the shutdown
            with contextlib.suppress(Exception):
                await self.nc.close()


def transient_nats_error(exc: BaseException) -> bool:
    """A JetStream API call that may well succeed if made again: it timed out (a busy or
    restarting server), nobody answered, or the stream has no leader just now (503)."""
    return isinstance(exc, (NatsTimeoutError, TimeoutError, NoRespondersError, ServiceUnavailableError))


async def set_up(what: str, call: Callable[[], Awaitable[T]], *,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """`call()` (creating consumers, opening buckets), retried after transient NATS errors.

    A stage whose set-up meets one slow JetStream answer would otherwise exit and wait for
    its supervisor to restart it (or, run in-process, stop for good)."""
    def note(exc: BaseException, attempt: int) -> None:
        log.warning("set_up_retried", what=what, attempt=attempt, error=type(exc).__name__)

    return await retry(call, SET_UP, transient_nats_error, on_retry=note, sleep=sleep)
