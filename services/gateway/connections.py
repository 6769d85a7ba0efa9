"""How many connections one gateway process holds, and which one gives way when it is full.

A connection is *waiting* while the gateway waits on its client: for the request head,
for the rest of the body, or for the next request on an idle keep-alive connection. It is
*busy* from the moment its whole request has arrived until the answer is written. At
`max_connections` a new connection takes the place of the one that has been waiting the
longest (the slowest client; a webhook sent in one go waits milliseconds), which is closed
with a 503. Only when every connection is busy is the new one refused, at once, with a 503.
So slow or hung clients can fill the gateway but never keep a real webhook out, and what
they cost is bounded: one slot each, for at most the header or body timeout.
"""

from __future__ import annotations

import resource
import time
from collections import OrderedDict
from typing import Protocol

from prometheus_client import Counter, Gauge

from shared.logging import get_logger

log = get_logger(__name__)

DROPPED = Counter(
    "switchboard_gateway_connections_dropped_total",
    "Connections closed because the gateway was at GATEWAY_MAX_CONNECTIONS",
    ["reason"],  # evicted: the longest-waiting one made room; refused: every connection was busy
)
OPEN = Gauge("switchboard_gateway_open_connections", "Connections the gateway holds now")
FULL_WARNING_EVERY_S = 10.0
FD_RESERVE = 128  # descriptors kept free for NATS, logs and the listening socket

BUSY = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class Connection(Protocol):
    def drop(self, response: bytes | None) -> None: ...


class ConnectionGuard:
    """The open connections of one server, the waiting ones in the order they began to wait."""

    def __init__(self, max_connections: int):
        self.max_connections = max_connections
        self.open = 0
        self.waiting: OrderedDict[Connection, bool] = OrderedDict()  # value: a request has begun
        self._dropped = {"evicted": 0, "refused": 0}
        self._warned_at = -FULL_WARNING_EVERY_S
        OPEN.set_function(lambda: self.open)

    def admit(self, conn: Connection) -> bool:
        """Count a new connection in, making room if needed; False means refuse it."""
        if self.open >= self.max_connections:
            if not self.waiting:
                self._note("refused")
                return False
            oldest, started = self.waiting.popitem(last=False)
            self.open -= 1  # counted out now: its connection_lost comes later, and must not count
            self._note("evicted")
            oldest.drop(BUSY if started else None)  # an idle connection is just closed
        self.open += 1
        self.waiting[conn] = False
        return True

    def wait(self, conn: Connection, *, started: bool) -> None:
        """`conn` now waits on its client (again): it goes to the back of the queue."""
        self.waiting.pop(conn, None)
        self.waiting[conn] = started

    def started(self, conn: Connection) -> None:
        """The first bytes of a request arrived; its place in the queue is kept."""
        if conn in self.waiting:
            self.waiting[conn] = True

    def busy(self, conn: Connection) -> None:
        self.waiting.pop(conn, None)

    def closed(self, conn: Connection) -> None:
        self.waiting.pop(conn, None)
        self.open -= 1

    def _note(self, reason: str) -> None:
        DROPPED.labels(reason).inc()
        self._dropped[reason] += 1
        now = time.monotonic()
        if now - self._warned_at >= FULL_WARNING_EVERY_S:  # one line per interval, however many
            self._warned_at = now
            log.warning("gateway_connections_full", max_connections=self.max_connections, **self._dropped)
            self._dropped = {"evicted": 0, "refused": 0}


def open_file_limit(wanted: int) -> int:
    """Raise the soft open-file limit toward `wanted` (up to the hard limit); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft


def connection_cap(max_connections: int) -> int:
    """`max_connections`, lowered (with a warning) if the process may not open that many files."""
    limit = open_file_limit(max_connections + FD_RESERVE)
    if limit == resource.RLIM_INFINITY or limit >= max_connections + FD_RESERVE:
        return max_connections
    cap = max(1, limit - FD_RESERVE)
    log.warning("gateway_connections_capped_by_file_limit", max_connections=max_connections, open_file_limit=limit, cap=cap)
    return cap
