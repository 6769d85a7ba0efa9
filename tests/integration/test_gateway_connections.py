"""Slow and broken clients against the gateway served as in production (uvicorn, loopback).

A client that sends its head or body slowly, or not at all, is answered 408 and dropped
while real webhooks keep being answered; one that hangs up mid-body is one debug line.
Many such clients at once: test_gateway_slow_clients.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.gateway.app import create_app
from services.gateway.seen import BUCKET
from services.gateway.server import server_config
from switchboard.infra import free_port
from tests.integration.test_gateway import TOKEN, settings
from tests.twilio_forms import inbound_form, signed

SAFETY_S = 30  # only so a broken build fails instead of hanging; never what a test asserts


@contextlib.asynccontextmanager
async def serving(bus, **overrides: object):
    """The gateway app under `server_config`, on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    gateway_settings = settings(PUBLIC_BASE_URL=base, GATEWAY_HOST="127.0.0.1", GATEWAY_PORT=str(port), **overrides)
    config = server_config(create_app(gateway_settings, bus=bus), gateway_settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port, base
    finally:
        server.should_exit = True
        await task


async def a_valid_webhook_is_answered(base: str) -> None:
    form = inbound_form("still here")
    body, headers = signed(TOKEN, f"{base}/twilio/messages", form)
    async with httpx.AsyncClient(timeout=SAFETY_S) as client:
        response = await client.post(f"{base}/twilio/messages", content=body, headers=headers)
    assert response.status_code == 200


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), SAFETY_S)  # read() returns at EOF


def head(content_length: int) -> bytes:
    return (
        "POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: abc\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


async def test_a_slow_body_is_answered_408_and_dropped_while_webhooks_go_on(bus):
    async with serving(bus, GATEWAY_BODY_TIMEOUT_S=0.5) as (port, base):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(1000) + b"MessageSid=SM1&Bo")  # and the rest never comes
        await writer.drain()
        await a_valid_webhook_is_answered(base)
        answer = await read_until_closed(reader)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()


async def test_a_slow_head_is_answered_408_and_dropped_while_webhooks_go_on(bus):
    async with serving(bus, GATEWAY_HEADER_TIMEOUT_S=0.5) as (port, base):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)  # sends nothing
        await a_valid_webhook_is_answered(base)
        answer = await read_until_closed(reader)
        idle_answer = await read_until_closed(idle_reader)
        writer.close()
        idle_writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert idle_answer.startswith(b"HTTP/1.1 408 ")


async def test_a_webhook_whose_body_comes_after_its_head_is_stored(bus):
    """The app starts once the body is whole; a body in a later packet must still get there."""
    async with serving(bus) as (port, base):
        body, headers = signed(TOKEN, f"{base}/twilio/messages", inbound_form("in two parts"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (f"POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
             f"Content-Type: {headers['Content-Type']}\r\nX-Twilio-Signature: {headers['X-Twilio-Signature']}\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode()
        )
        await writer.drain()
        writer.write(body[:10])
        await writer.drain()
        writer.write(body[10:])
        answer = await read_until_closed(reader)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_declared_body_over_the_limit_is_413_at_once_and_the_connection_closed(bus):
    async with serving(bus, GATEWAY_MAX_BODY_BYTES="2048") as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(4096) + b"MessageSid=SM1")  # the rest comes byte by byte, or never
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), SAFETY_S)
        writer.write(b"&Body=")  # still sending: the gateway closes anyway, it will not read it
        closed = await read_until_closed(reader)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert closed.endswith(b"\n")  # the rest of the answer, then EOF


async def test_an_oversized_head_is_431(bus):
    async with serving(bus, GATEWAY_MAX_HEADER_BYTES=2048) as (port, base):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 4096)
        await writer.drain()
        answer = await read_until_closed(reader)
        writer.close()
        await a_valid_webhook_is_answered(base)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_client_that_hangs_up_mid_body_is_one_debug_line_not_a_traceback(bus, caplog):
    counter = {"reason": "hung_up"}
    before = REGISTRY.get_sample_value("switchboard_gateway_requests_dropped_total", counter) or 0
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        async with serving(bus) as (port, base):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head(1000) + b"MessageSid=SM1")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(SAFETY_S * 100):
                if (REGISTRY.get_sample_value("switchboard_gateway_requests_dropped_total", counter) or 0) > before:
                    break
                await asyncio.sleep(0.01)
            await a_valid_webhook_is_answered(base)
    hang_ups = [entry for entry in logs if entry["event"] == "request_dropped"]
    assert [(e["reason"], e["log_level"]) for e in hang_ups] == [("hung_up", "debug")]
    assert "exc_info" not in hang_ups[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_uvicorn_limits_come_from_the_settings(bus):
    gateway_settings = settings(GATEWAY_KEEP_ALIVE_S="2.5", GATEWAY_MAX_CONNECTIONS="50")
    config = server_config(create_app(gateway_settings, bus=bus), gateway_settings)
    # uvicorn's own limit counts hung connections against real requests; the guard replaces it.
    assert config.timeout_keep_alive == 2.5 and config.limit_concurrency is None
    config.load()
    assert config.http_protocol_class.header_timeout_s == 10.0
    assert config.http_protocol_class.guard.max_connections == 50


@pytest.mark.parametrize("name", ["GATEWAY_BODY_TIMEOUT_S", "GATEWAY_HEADER_TIMEOUT_S", "GATEWAY_KEEP_ALIVE_S"])
def test_timeouts_must_be_positive(name):
    with pytest.raises(ValueError, match=name):
        settings(**{name: "0"})


async def test_the_gateway_process_creates_the_seen_bucket_and_serves_webhooks(bus, nats_server, tmp_path):
    """`python -m services.gateway` as deployed: bucket made at start-up, a webhook stored."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "NATS_URL": nats_server.url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "LOG_LEVEL": "warning", "SWITCHBOARD_ENV": "local",
        "STREAM_NAME": bus.stream,
    }
    env.pop("TWILIO_ACCOUNT_SID", None)
    with open(tmp_path / "gateway.log", "wb") as log:  # noqa: ASYNC230 - once, before the process starts
        proc = subprocess.Popen([sys.executable, "-m", "services.gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(timeout=SAFETY_S) as client:
            for _ in range(SAFETY_S * 20):
                assert proc.poll() is None, (tmp_path / "gateway.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{base}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        await a_valid_webhook_is_answered(base)
        for _ in range(SAFETY_S * 20):  # the bucket is made right after connecting, beside readiness
            with contextlib.suppress(Exception):
                await bus.js.key_value(BUCKET)
                break
            await asyncio.sleep(0.05)
        status = await (await bus.js.key_value(BUCKET)).status()
        assert status.ttl == 7 * 86400
        assert (await bus.js.stream_info(bus.stream)).state.messages == 1
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: exit -15.
        assert proc.wait(SAFETY_S) in (0, -15)
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()
