"""The gateway's HTTP app: signed Twilio webhooks become events, acknowledged on PubAck.

Twilio gets 200 only once JetStream has stored the event. If it cannot be stored the
answer is 503 and Twilio retries; the retry carries the same MessageSid, which is the
`Nats-Msg-Id`, so the stream keeps one copy whatever happened to the first attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from twilio.request_validator import RequestValidator

from services.gateway.config import GatewaySettings
from services.gateway.signature import FormParams, public_url, signature_valid
from services.gateway.webhooks import BadWebhook, delivery_status_changed, message_received
from shared.bus import Bus, PublishFailed, connect
from shared.events import Event
from shared.logging import get_logger

log = get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

WEBHOOKS = Counter("switchboard_webhooks_total", "Twilio webhooks by outcome", ["endpoint", "outcome"])
ACK_SECONDS = Histogram(
    "switchboard_webhook_ack_seconds",
    "Time from request to answer for accepted webhooks",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> FormParams:
    params = FormParams()
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        params.setdefault(key, []).append(value)
    return params


def create_app(settings: GatewaySettings, bus: Bus | None = None) -> FastAPI:
    """Build the gateway. With no `bus`, it connects to NATS_URL in the background."""
    validator = RequestValidator(settings.twilio_auth_token or "")
    state: dict[str, Bus | None] = {"bus": bus}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        connecting = None
        if state["bus"] is None:
            async def connect_in_background() -> None:
                nc = await connect(settings.nats_url, "gateway")
                state["bus"] = Bus(nc, stream=settings.stream_name, publish_timeout_s=settings.publish_timeout_s)
                log.info("gateway_connected")

            connecting = asyncio.create_task(connect_in_background())
        yield
        if connecting is not None:
            connecting.cancel()
        if state["bus"] is not None and bus is None:
            await state["bus"].close(settings.drain_timeout_s)

    app = FastAPI(title="Switchboard gateway", lifespan=lifespan, docs_url=None, redoc_url=None)

    async def accept(request: Request, endpoint: str, to_event: Callable[[FormParams], Event], msg_id: Callable[[Event], str]) -> Response:
        started = time.perf_counter()
        try:
            body = await read_body(request, settings.max_body_bytes)
        except TooLarge:
            WEBHOOKS.labels(endpoint, "too_large").inc()
            return PlainTextResponse(f"request body over {settings.max_body_bytes} bytes\n", status_code=413)
        params = parse_form(body)
        url = public_url(request, settings.public_base_url, settings.trust_proxy)
        if not signature_valid(validator, request, url, params):
            WEBHOOKS.labels(endpoint, "forbidden").inc()
            log.warning("webhook_signature_invalid", endpoint=endpoint, url=url)
            return PlainTextResponse("invalid or missing X-Twilio-Signature\n", status_code=403)
        try:
            event = to_event(params)
        except BadWebhook as exc:
            WEBHOOKS.labels(endpoint, "bad_request").inc()
            return PlainTextResponse(f"{exc}\n", status_code=400)
        current = state["bus"]
        try:
            if current is None:
                raise PublishFailed("not connected to NATS yet")
            ack = await current.publish(event, msg_id=msg_id(event))
        except PublishFailed as exc:
            WEBHOOKS.labels(endpoint, "unavailable").inc()
            log.warning("webhook_not_stored", endpoint=endpoint, error=str(exc))
            return PlainTextResponse("event store unavailable, retry later\n", status_code=503, headers={"Retry-After": "1"})
        WEBHOOKS.labels(endpoint, "duplicate" if ack.duplicate else "stored").inc()
        ACK_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
        log.debug("webhook_stored", endpoint=endpoint, type=event.type, conversation=event.conversation, seq=ack.seq, duplicate=bool(ack.duplicate))
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.post("/twilio/messages")
    async def inbound_message(request: Request) -> Response:
        return await accept(request, "messages", message_received, lambda e: e.data.message_sid)

    @app.post("/twilio/status")
    async def status_callback(request: Request) -> Response:
        return await accept(
            request, "status", delivery_status_changed, lambda e: f"status:{e.data.twilio_sid}:{e.data.status}"
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        current = state["bus"]
        failing = []
        if current is None or not current.connected:
            failing.append("nats")
        else:
            try:
                await current.js.stream_info(current.stream)
            except Exception:
                failing.append("stream")
        body = {"status": "not_ready" if failing else "ready", "failing": failing}
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
