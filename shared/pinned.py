"""A durable pull consumer in a priority group with the `pinned_client` policy.

JetStream (nats-server >= 2.11, ADR-42) hands such a consumer's messages to one client at
a time: the first pull request served gets a pin id (the `Nats-Pin-Id` header on its
messages); later requests must carry it as `id`, and other clients' requests wait. The pin
moves when the pinned client stops pulling for `priority_timeout`, or at once when it
asks (`unpin`). nats-py has no helper for this, so the consumer config and the pull
requests below are the plain JetStream API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Counter

GROUP = "owner"
PIN_HEADER = "Nats-Pin-Id"

PULLS = Counter("switchboard_consumer_pull_requests_total", "Pull requests sent (the idle cost of a stage)",
                ["consumer"])


class ConsumerApiError(RuntimeError):
    """The JetStream API refused a consumer request."""


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


async def _api(nc: NATS, subject: str, body: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    data: dict[str, Any] = json.loads(reply.data or b"{}")
    if "error" in data:
        raise ConsumerApiError(f"{subject}: {data['error'].get('description', data['error'])}")
    return data


@dataclass(frozen=True)
class PinnedConsumerSpec:
    """What a partition's durable consumer looks like on the server."""

    stream: str
    durable: str
    description: str
    filter_subject: str
    ack_wait_s: float
    max_ack_pending: int
    pin_timeout_s: float

    def config(self) -> dict[str, Any]:
        return {
            "durable_name": self.durable,
            "description": self.description,
            "filter_subject": self.filter_subject,
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "ack_wait": _ns(self.ack_wait_s),
            # No server-side limit: the stage counts deliveries before running its handler
            # and dead-letters with a record, so nothing is ever dropped silently.
            "max_deliver": -1,
            "max_ack_pending": self.max_ack_pending,
            "max_waiting": 512,
            "priority_groups": [GROUP],
            "priority_policy": "pinned_client",
            "priority_timeout": _ns(self.pin_timeout_s),
        }


async def ensure_pinned_consumer(nc: NATS, spec: PinnedConsumerSpec) -> None:
    """Create the consumer, or update it in place (an update keeps its position)."""
    await _api(nc, f"$JS.API.CONSUMER.CREATE.{spec.stream}.{spec.durable}",
               {"stream_name": spec.stream, "config": spec.config(), "action": ""})


async def consumer_state(nc: NATS, stream: str, durable: str) -> dict[str, Any]:
    """The consumer's info: `ack_floor`, `num_pending` (lag), `num_ack_pending`, …"""
    return await _api(nc, f"$JS.API.CONSUMER.INFO.{stream}.{durable}", {})


async def unpin(nc: NATS, stream: str, durable: str, pin_id: str) -> bool:
    """Release our pin so the next client's pull takes over at once.

    The UNPIN API removes whichever pin is current, so first check that it is still ours
    (it may have moved on after a long silence); returns whether we unpinned.
    """
    state = await consumer_state(nc, stream, durable)
    current = {g.get("group"): g.get("pinned_client_id") for g in state.get("priority_groups") or []}
    if current.get(GROUP) != pin_id:
        return False
    await _api(nc, f"$JS.API.CONSUMER.UNPIN.{stream}.{durable}", {"group": GROUP})
    return True


class PinLost(Exception):
    """The server pinned another client: stop handling this partition."""


class PinnedPuller:
    """Keeps one pull request outstanding on a pinned consumer and yields what arrives."""

    def __init__(self, nc: NATS, stream: str, durable: str, expires_s: float):
        self.nc = nc
        self.stream = stream
        self.durable = durable
        self.expires_s = expires_s
        self.pin_id: str | None = None
        self._pulls = PULLS.labels(durable.rsplit("-p", 1)[0])
        self._inbox = nc.new_inbox()
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        async def arrived(msg: Msg) -> None:
            self._queue.put_nowait(msg)

        self._sub = await self.nc.subscribe(self._inbox, cb=arrived)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def pull(self, batch: int) -> AsyncIterator[Msg]:
        """One pull request: yield its messages until it is fulfilled or ends.

        Raises `PinLost` when the server says another client holds the pin.
        """
        request: dict[str, Any] = {"batch": max(1, batch), "expires": _ns(self.expires_s), "group": GROUP}
        if self.pin_id:
            request["id"] = self.pin_id
        self._pulls.inc()
        await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}",
                              json.dumps(request).encode(), reply=self._inbox)
        received = 0
        loop = asyncio.get_running_loop()
        # The server ends the request by `expires`; the slack covers a lost status message.
        deadline = loop.time() + self.expires_s + 1.0
        while received < request["batch"]:
            try:
                msg = await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return
            status = msg.headers.get("Status") if msg.headers else None
            if status:
                if status == "423":
                    self.pin_id = None
                    raise PinLost((msg.headers or {}).get("Description", "pin id mismatch"))
                if status == "100":  # idle heartbeat
                    continue
                return  # 404, 408 (request expired), 409 (server-side end of request)
            pin = msg.headers.get(PIN_HEADER) if msg.headers else None
            if pin:
                self.pin_id = pin
            received += 1
            yield msg

    async def keep_pin(self) -> None:
        """Keep our pin without taking more messages (while finishing what we hold).

        A pull request carrying our pin id resets the server's pin timer; with `max_bytes`
        of 1 no message fits, so the server ends it (409) instead of delivering anything.
        """
        if not self.pin_id:
            return
        request = {"batch": 1, "max_bytes": 1, "expires": _ns(self.expires_s), "group": GROUP, "id": self.pin_id}
        self._pulls.inc()
        await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}",
                              json.dumps(request).encode(), reply=self.nc.new_inbox())

    def pending(self) -> list[Msg]:
        """Messages that arrived after the last request ended (they are ours to handle)."""
        found: list[Msg] = []
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if not (msg.headers and msg.headers.get("Status")):
                found.append(msg)
        return found
