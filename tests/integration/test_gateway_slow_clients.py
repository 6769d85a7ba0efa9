"""Many slow or hung clients at once (issue 11, item 10): real webhooks still get in.

The gateway runs as in production (uvicorn, `server_config`) on a free loopback port.
The measured latencies with 1,500 such clients are in docs/benchmarks.md
(`tests.bench.gateway_slow`); these tests only assert what must hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys

import httpx
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from switchboard.infra import free_port
from tests.integration.test_gateway import TOKEN
from tests.integration.test_gateway_connections import SAFETY_S, a_valid_webhook_is_answered, head, serving
from tests.twilio_forms import inbound_form, signed
from tests.waiting import eventually

HUNG = 200


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("switchboard_gateway_connections_dropped_total", {"reason": reason}) or 0


def requests_dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("switchboard_gateway_requests_dropped_total", {"reason": reason}) or 0


def async_true(condition):
    """`condition` as the coroutine function `eventually` polls."""
    async def check() -> object:
        return condition()

    return check


def outcomes(outcome: str) -> float:
    return REGISTRY.get_sample_value("switchboard_webhooks_total", {"endpoint": "messages", "outcome": outcome}) or 0


async def hang(port: int, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that connects and stops: silent, mid-head or mid-body, by turns."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if index % 3 == 1:
        writer.write(b"POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    elif index % 3 == 2:
        writer.write(head(1000) + b"MessageSid=SM1&Bo")
    await writer.drain()
    return reader, writer


@contextlib.asynccontextmanager
async def hung_clients(port: int, count: int):
    clients = [await hang(port, index) for index in range(count)]
    try:
        yield clients
    finally:
        for _, writer in clients:
            writer.close()


async def test_a_webhook_is_stored_while_hundreds_of_clients_hang(bus):
    # More hung clients than webhooks allowed in flight: only requests that have arrived count.
    async with serving(bus, GATEWAY_LIMIT_CONCURRENCY=str(HUNG // 2)) as (port, base), hung_clients(port, HUNG) as clients:
        await a_valid_webhook_is_answered(base)
        assert not any(reader.at_eof() for reader, _ in clients)  # they were all still held


async def test_at_the_connection_cap_the_longest_waiting_client_gives_way_to_a_webhook(bus):
    evicted_before = dropped("evicted")
    async with serving(bus, GATEWAY_MAX_CONNECTIONS="50") as (port, base), hung_clients(port, HUNG):
        await eventually(async_true(lambda: dropped("evicted") - evicted_before >= HUNG - 50), SAFETY_S,
                         "the gateway to make room for the newest hung clients")
        await a_valid_webhook_is_answered(base)
        open_now = REGISTRY.get_sample_value("switchboard_gateway_open_connections") or 0
    assert dropped("evicted") - evicted_before >= HUNG - 50 + 1  # the webhook's connection made room too
    assert open_now <= 50


async def test_the_oldest_hung_clients_are_closed_with_a_503_or_nothing(bus):
    async with serving(bus, GATEWAY_MAX_CONNECTIONS="4") as (port, base):
        silent, mid_head = await hang(port, 0), await hang(port, 1)
        async with hung_clients(port, 4):
            assert await asyncio.wait_for(silent[0].read(), SAFETY_S) == b""  # nothing asked, nothing answered
            answer = await asyncio.wait_for(mid_head[0].read(), SAFETY_S)
        for _, writer in (silent, mid_head):
            writer.close()
    assert answer.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in answer.lower()


async def test_webhooks_past_the_store_limit_get_a_fast_503(bus, nats_server):
    """With JetStream frozen, one webhook waits on it; the next one is turned away at once."""
    busy_before = outcomes("busy")
    async with serving(bus, GATEWAY_LIMIT_CONCURRENCY="1", PUBLISH_TIMEOUT_S="20") as (_, base):
        await a_valid_webhook_is_answered(base)  # connected, seen bucket open
        async with httpx.AsyncClient(timeout=SAFETY_S) as client:
            first, second = (signed(TOKEN, f"{base}/twilio/messages", inbound_form(text)) for text in ("a", "b"))
            os.kill(nats_server.proc.pid, signal.SIGSTOP)
            try:
                waiting = asyncio.create_task(client.post(f"{base}/twilio/messages", content=first[0], headers=first[1]))
                await eventually(async_true(lambda: REGISTRY.get_sample_value("switchboard_webhooks_storing")), SAFETY_S,
                                 "the first webhook to be read, checked and waiting on NATS")
                turned_away = await client.post(f"{base}/twilio/messages", content=second[0], headers=second[1])
                assert not waiting.done()
            finally:
                os.kill(nats_server.proc.pid, signal.SIGCONT)
            stored = await waiting
    assert turned_away.status_code == 503 and turned_away.headers["retry-after"] == "1"
    assert outcomes("busy") == busy_before + 1
    assert stored.status_code == 200


async def test_hang_ups_are_counted_and_logged_without_a_traceback(bus, caplog):
    before = requests_dropped("hung_up")
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        async with serving(bus) as (port, base):
            for _ in range(20):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(head(1000) + b"MessageSid=SM1")
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            await eventually(async_true(lambda: requests_dropped("hung_up") - before >= 20), SAFETY_S, "20 hang-ups")
            await a_valid_webhook_is_answered(base)
    loud = [entry for entry in logs if entry["log_level"] not in ("debug", "info") or "exc_info" in entry]
    assert not loud
    assert [e["log_level"] for e in logs if e["event"] == "request_dropped"] in ([], ["debug"] * 20)
    assert len([e for e in logs if e["log_level"] == "info"]) <= 1  # at most one summary line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@contextlib.asynccontextmanager
async def gateway_process(nats_server, stream: str, log_path, **env_overrides: str):
    """`python -m services.gateway` as deployed, on a free port; yields (port, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "NATS_URL": nats_server.url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "SWITCHBOARD_ENV": "local", "STREAM_NAME": stream,
        "LOG_FORMAT": "json", **env_overrides,
    }
    env.pop("TWILIO_ACCOUNT_SID", None)
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - once, before the process starts
        proc = subprocess.Popen([sys.executable, "-m", "services.gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async def ready() -> bool:
            assert proc.poll() is None, log_path.read_text()
            async with httpx.AsyncClient(timeout=SAFETY_S) as client:
                return (await client.get(f"{base}/readyz")).status_code == 200

        await eventually(ready, SAFETY_S, "the gateway to be ready")
        yield port, base
    finally:
        proc.terminate()
        assert proc.wait(SAFETY_S) in (0, -15)


async def process_requests_dropped(base: str, reason: str) -> float:
    async with httpx.AsyncClient(timeout=SAFETY_S) as client:
        text = (await client.get(f"{base}/metrics")).text
    found = re.search(rf'^switchboard_gateway_requests_dropped_total\{{reason="{reason}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_hang_ups_in_the_gateway_process_are_debug_lines_and_no_traceback(bus, nats_server, tmp_path):
    """Clients that hang up mid-head and mid-body, with FIN and with RST, at LOG_LEVEL=debug."""
    log_path = tmp_path / "gateway.log"
    async with gateway_process(nats_server, bus.stream, log_path, LOG_LEVEL="debug") as (port, base):
        for index in range(20):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head(1000) + b"MessageSid=SM1" if index % 2 else b"POST /twilio/messages HTTP/1.1\r\nHo")
            await writer.drain()
            if index % 4 >= 2:  # linger 0: the close is a reset
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        await eventually(lambda: _at_least(process_requests_dropped(base, "hung_up"), 20), SAFETY_S, "20 hang-ups")
        await a_valid_webhook_is_answered(base)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [(e["reason"], e["level"]) for e in lines if e["event"] == "request_dropped"] == [("hung_up", "debug")] * 20
    assert "Traceback" not in text
    assert not [e for e in lines if e["level"] in ("error", "critical") or "exception" in e or "exc_info" in e]


async def _at_least(value, threshold: float) -> bool:
    return await value >= threshold
