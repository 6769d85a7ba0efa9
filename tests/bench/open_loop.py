"""An open-loop load generator: requests leave on a fixed schedule, whatever the server does.

Request i is due at `start + i / rate`. Its latency is measured from that intended
time, not from when it actually left, so a server stall shows up as latency of every
request that should have gone out during it, instead of silently slowing the generator
down (coordinated omission). Requests are pre-built bytes written on raw keep-alive
connections (asyncio protocols on uvloop); a request due while every connection is busy
opens another one, up to `max_connections`, and otherwise waits for the first free one.
The timer wakes up with millisecond resolution, so latencies carry up to ~1 ms of the
generator's own scheduling lag; running it against a do-nothing server shows that floor.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from dataclasses import dataclass, field
from typing import Callable

_HEAD_END = b"\r\n\r\n"


@dataclass
class OpenLoopResult:
    rate: float  # offered requests per second
    duration_s: float  # from the first intended send to the last answer
    statuses: list[int]  # per request, in schedule order; 0 = no answer (error or timeout)
    from_intended_ms: list[float]  # per answered request (after warm-up), from intended send time
    from_sent_ms: list[float]  # the same requests, from when the bytes were actually written
    warmup: int
    max_in_flight: int
    connections: int
    late_sends: int  # requests written more than 5 ms after their intended time
    cpu_s: float = 0.0

    @property
    def answered(self) -> int:
        return sum(1 for status in self.statuses if status)

    @property
    def ok_indices(self) -> list[int]:
        return [index for index, status in enumerate(self.statuses) if status == 200]


@dataclass
class _Pending:
    index: int
    intended: float
    sent: float = 0.0


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, on_done: Callable[[_Connection, _Pending, int], None]):
        self.on_done = on_done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: _Pending | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, raw: bytes, pending: _Pending) -> None:
        self.pending = pending
        pending.sent = time.perf_counter()
        self.transport.write(raw)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(_HEAD_END)
        if end < 0 or self.pending is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            stop = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : stop if stop >= 0 else None])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        pending, self.pending = self.pending, None
        if b"\r\nconnection: close" in head:
            self.closed = True
        self.on_done(self, pending, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.on_done(self, pending, 0)


@dataclass
class _Run:
    requests: list[bytes]
    host: str
    port: int
    max_connections: int
    statuses: list[int] = field(default_factory=list)
    intended_ms: list[float] = field(default_factory=list)
    sent_ms: list[float] = field(default_factory=list)
    idle: collections.deque = field(default_factory=collections.deque)
    backlog: collections.deque = field(default_factory=collections.deque)
    opened: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    late_sends: int = 0
    last_answer: float = 0.0
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)
    outstanding: int = 0
    connecting: set = field(default_factory=set)  # keeps connect tasks referenced until they finish

    def __post_init__(self) -> None:
        self.statuses = [0] * len(self.requests)
        self.intended_ms = [0.0] * len(self.requests)
        self.sent_ms = [0.0] * len(self.requests)

    async def open(self) -> _Connection:
        self.opened += 1
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Connection(self.done), self.host, self.port)
        return conn

    def dispatch(self, pending: _Pending) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                self.write(conn, pending)
                return
            self.opened -= 1  # the server closed it while idle
        if self.opened < self.max_connections:
            self.connect_then_send(pending)
        else:
            self.backlog.append(pending)

    def connect_then_send(self, pending: _Pending) -> None:
        task = asyncio.ensure_future(self.open_and_send(pending))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def open_and_send(self, pending: _Pending) -> None:
        try:
            conn = await self.open()
        except OSError:
            self.opened -= 1
            self.finish(pending, 0, time.perf_counter())
            return
        self.write(conn, pending)

    def write(self, conn: _Connection, pending: _Pending) -> None:
        if time.perf_counter() - pending.intended > 0.005:
            self.late_sends += 1
        conn.send(self.requests[pending.index], pending)

    def done(self, conn: _Connection, pending: _Pending, status: int) -> None:
        now = time.perf_counter()
        self.finish(pending, status, now)
        if conn.closed:
            self.opened -= 1
            if self.backlog and self.opened < self.max_connections:
                self.connect_then_send(self.backlog.popleft())
        elif self.backlog:
            self.write(conn, self.backlog.popleft())
        else:
            self.idle.append(conn)

    def finish(self, pending: _Pending, status: int, now: float) -> None:
        self.in_flight -= 1
        self.statuses[pending.index] = status
        self.intended_ms[pending.index] = (now - pending.intended) * 1000
        self.sent_ms[pending.index] = (now - pending.sent) * 1000 if pending.sent else 0.0
        self.last_answer = now
        self.outstanding -= 1
        if self.outstanding == 0:
            self.all_answered.set()


async def run_open_loop(requests: list[bytes], host: str, port: int, *, rate: float, warmup: int = 0,
                        max_connections: int = 256, warm_connections: int = 8, drain_s: float = 10.0) -> OpenLoopResult:
    """Send every request in `requests` at `rate` per second; the first `warmup` are not timed."""
    run = _Run(requests, host, port, max_connections)
    run.outstanding = len(requests)
    for conn in await asyncio.gather(*(run.open() for _ in range(warm_connections))):
        run.idle.append(conn)
    cpu_before = time.process_time()
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    for index in range(len(requests)):
        intended = start + index * interval
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        run.dispatch(_Pending(index, intended))
    try:
        await asyncio.wait_for(run.all_answered.wait(), drain_s)
    except TimeoutError:
        pass  # unanswered requests keep status 0
    cpu_s = time.process_time() - cpu_before
    for conn in list(run.idle):
        conn.transport.close()
    answered = [i for i in range(warmup, len(requests)) if run.statuses[i]]
    return OpenLoopResult(
        rate=rate,
        duration_s=(time.perf_counter() if run.outstanding else run.last_answer) - start,
        statuses=run.statuses,
        from_intended_ms=[run.intended_ms[i] for i in answered],
        from_sent_ms=[run.sent_ms[i] for i in answered],
        warmup=warmup,
        max_in_flight=run.max_in_flight,
        connections=run.opened,
        late_sends=run.late_sends,
        cpu_s=cpu_s,
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
