"""Slow and hung-up HTTP clients against one loopback port, bounded in count and time.

Four kinds, an equal share of `--clients` each, every client keeping its slot busy until
the run ends (a client the server cuts off connects again, as an attacker would):

  slow_head  sends a request line and then one header byte every `--drip-s`, never ending the head
  slow_body  sends a whole head (Content-Length: 1000) and then one body byte every `--drip-s`
  hang_up    sends a head and half a body and hangs up (FIN or, every other time, RST),
             then does it again after `--hang-up-every-s`
  idle       connects and sends nothing

Run as a child process by `tests.bench.gateway_slow`: it prints `ready <open>` once
every client has connected once, then one JSON line with what each kind saw (connects,
answers by status, cut-offs and how long the server let a connection be held) and
exits (SIGTERM ends it early, still reporting). It only connects to 127.0.0.1 and stops at `--duration-s` or after
`--max-connects` connections, whichever comes first.

  .venv/bin/python -m tests.bench.slow_clients --port 8000 --clients 1500 --duration-s 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import resource
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

import uvloop

KINDS = ("slow_head", "slow_body", "hang_up", "idle")
HOST = "127.0.0.1"
PATH = "/twilio/messages"


@dataclass
class KindStats:
    connects: int = 0
    connect_errors: int = 0
    answers: collections.Counter = field(default_factory=collections.Counter)  # status code -> count
    closed_silently: int = 0  # the server closed without an answer
    resets: int = 0
    hang_ups: int = 0
    held_s: list[float] = field(default_factory=list)  # connect to cut-off, per cut-off
    open_now: int = 0
    max_open: int = 0

    def summary(self) -> dict[str, object]:
        held = sorted(self.held_s)
        return {
            "connects": self.connects, "connect_errors": self.connect_errors, "hang_ups": self.hang_ups,
            "answers": {str(code): n for code, n in sorted(self.answers.items())},
            "closed_silently": self.closed_silently, "resets": self.resets, "max_open": self.max_open,
            "cut_offs": len(held),
            "held_s_median": held[len(held) // 2] if held else None,
            "held_s_max": held[-1] if held else None,
        }


class Attack:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.stats = {kind: KindStats() for kind in KINDS}
        self.stop_at = time.monotonic() + args.duration_s
        self.total_connects = 0
        self.first_connected = 0
        self.ready = asyncio.Event()

    def stop(self) -> None:
        self.stop_at = 0.0

    @property
    def running(self) -> bool:
        return time.monotonic() < self.stop_at and self.total_connects < self.args.max_connects

    def head(self, content_length: int | None) -> bytes:
        lines = [f"POST {PATH} HTTP/1.1", f"Host: {HOST}:{self.args.port}", "User-Agent: slow-client"]
        if content_length is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", "X-Twilio-Signature: x",
                      f"Content-Length: {content_length}"]
            return ("\r\n".join(lines) + "\r\n\r\n").encode()
        return ("\r\n".join(lines) + "\r\nX-Slow: ").encode()

    async def connect(self, kind: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        stats = self.stats[kind]
        self.total_connects += 1
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.args.port), 10)
        except (OSError, TimeoutError):
            stats.connect_errors += 1
            await asyncio.sleep(self.args.retry_s)
            return None
        stats.connects += 1
        stats.open_now += 1
        stats.max_open = max(stats.max_open, stats.open_now)
        return reader, writer

    def close(self, kind: str, writer: asyncio.StreamWriter, *, reset: bool = False) -> None:
        self.stats[kind].open_now -= 1
        if reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async def client(self, kind: str, index: int) -> None:
        await asyncio.sleep(index / self.args.clients * self.args.ramp_s)
        first = True
        while self.running:
            pair = await self.connect(kind)
            if pair is None:
                continue
            if first:
                first = False
                self.first_connected += 1
                if self.first_connected == self.args.clients:
                    self.ready.set()
            reader, writer = pair
            if kind == "hang_up":
                await self.hang_up(writer, index)
                continue
            await self.hold(kind, reader, writer)

    async def hang_up(self, writer: asyncio.StreamWriter, index: int) -> None:
        stats = self.stats["hang_up"]
        try:
            writer.write(self.head(1000) + b"MessageSid=SM1&Body=" + b"a" * 480)
            await writer.drain()
        except OSError:
            stats.resets += 1
        stats.hang_ups += 1
        self.close("hang_up", writer, reset=stats.hang_ups % 2 == 0)
        await asyncio.sleep(self.args.hang_up_every_s)

    async def hold(self, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep the connection busy until the server ends it or the run does."""
        stats = self.stats[kind]
        opened = time.monotonic()
        try:
            if kind == "slow_head":
                writer.write(self.head(None))
            elif kind == "slow_body":
                writer.write(self.head(1000) + b"MessageSid=")
            while self.running:
                try:
                    data = await asyncio.wait_for(reader.read(4096), self.args.drip_s)
                except TimeoutError:
                    if kind != "idle":
                        writer.write(b"a")
                    continue
                if data.startswith(b"HTTP/1.1 ") and data[9:12].isdigit():
                    stats.answers[int(data[9:12])] += 1
                elif not data:
                    stats.closed_silently += 1
                stats.held_s.append(time.monotonic() - opened)
                await asyncio.sleep(self.args.retry_s)
                return
        except OSError:
            stats.resets += 1
            stats.held_s.append(time.monotonic() - opened)
        finally:
            self.close(kind, writer)

    async def run(self) -> dict[str, object]:
        per_kind = self.args.clients // len(KINDS)
        tasks = [
            asyncio.create_task(self.client(kind, i * len(KINDS) + k))
            for i in range(per_kind) for k, kind in enumerate(KINDS)
        ]
        self.args.clients = len(tasks)

        async def announce() -> None:
            await self.ready.wait()
            print(f"ready {sum(s.open_now for s in self.stats.values())}", flush=True)

        announcer = asyncio.create_task(announce())
        # SIGTERM ends the run early but still reports: every client checks `running` within a drip.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stop)
        await asyncio.gather(*tasks)
        announcer.cancel()
        return {"clients": len(tasks), "connects": self.total_connects,
                "kinds": {kind: stats.summary() for kind, stats in self.stats.items()}}


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise this process's soft open-file limit toward `needed` (never past the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1500, help="split equally over the four kinds")
    parser.add_argument("--duration-s", type=float, default=30)
    parser.add_argument("--ramp-s", type=float, default=3, help="clients start evenly spread over this")
    parser.add_argument("--drip-s", type=float, default=1.0)
    parser.add_argument("--hang-up-every-s", type=float, default=1.0)
    parser.add_argument("--retry-s", type=float, default=0.05, help="pause before connecting again")
    parser.add_argument("--max-connects", type=int, default=200_000)
    args = parser.parse_args()
    soft, _ = raise_fd_limit(args.clients + 256)
    if soft < args.clients + 64:
        sys.exit(f"slow_clients: open-file limit {soft} is too low for {args.clients} clients")
    summary = uvloop.run(Attack(args).run())
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
