"""The gateway's HTTP app: signed Twilio webhooks become events, acknowledged on PubAck.

Twilio gets 200 only once JetStream has stored the event. A store that fails for a
passing reason (no PubAck in time, NATS reconnecting, a stream electing a new leader) is
tried again while the request still has time (`GATEWAY_STORE_BUDGET_S`, under Twilio's
15 s read timeout): by default Twilio retries a webhook only when it cannot connect, not
after a 503, so a failover of a few seconds must be ridden out here. Past the budget the
answer is 503; a retry by Twilio (configured with connection overrides) carries the same
MessageSid, which is the `Nats-Msg-Id`, so the stream keeps one copy whatever happened.
A MessageSid already stored (a replay after the stream's duplicate window) is answered
200 and stores nothing (`services.gateway.seen`).

The webhooks are plain Starlette routes: a request in, a response out, no dependency
solving on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Callable, TypedDict

from nats.errors import Error as NatsError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER

from services.gateway.config import GatewaySettings
from services.gateway.seen import SeenMessages, SeenUnavailable
from services.gateway.signature import FormParams, MalformedForm, SignatureCheck, SignedUrl, parse_form
from services.gateway.tally import REQUESTS_DROPPED
from services.gateway.webhooks import BadWebhook, delivery_status_changed, message_received
from shared.bus import Bus, PublishFailed, connect
from shared.events import Event
from shared.logging import get_logger
from shared.retry import Backoff, retry
from shared.tracing import span

log = get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

WEBHOOKS = Counter("switchboard_webhooks_total", "Twilio webhooks by outcome", ["endpoint", "outcome"])
ACK_SECONDS = Histogram(
    "switchboard_webhook_ack_seconds",
    "Time from request to answer for accepted webhooks",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
STORING = Gauge("switchboard_webhooks_storing", "Webhooks read and checked, waiting on JetStream now")
STORE_RETRIES = Counter("switchboard_webhook_store_retries_total", "Stores tried again after a passing failure",
                        ["endpoint"])
# Between tries of one webhook's store: 0.1 s doubling to 1 s, the upper half jittered.
STORE_RETRY = Backoff(attempts=1_000, base_s=0.1, cap_s=1.0, jitter=0.5)
OUTCOMES = (
    "stored", "duplicate", "replayed", "too_large", "timeout", "disconnected", "bad_request", "forbidden",
    "unavailable", "busy",
)


class EndpointMetrics:
    """The metric children of one endpoint, bound once: `.labels()` per request costs CPU."""

    def __init__(self, endpoint: str):
        self.outcome = {outcome: WEBHOOKS.labels(endpoint, outcome) for outcome in OUTCOMES}
        self.ack_seconds = ACK_SECONDS.labels(endpoint)


METRICS = {endpoint: EndpointMetrics(endpoint) for endpoint in ("messages", "status")}


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


@dataclass(frozen=True)
class Webhook:
    """One endpoint: how its form becomes an event and which `Nats-Msg-Id` it gets."""

    endpoint: str
    to_event: Callable[[FormParams, tuple[str, ...]], Event]
    msg_id: Callable[[Event], str]
    remember: bool  # keep the MessageSid in the seen-messages bucket

    @property
    def metrics(self) -> EndpointMetrics:
        return METRICS[self.endpoint]


MESSAGES = Webhook("messages", message_received, lambda e: e.data.message_sid, remember=True)
STATUS = Webhook("status", delivery_status_changed, lambda e: f"status:{e.data.twilio_sid}:{e.data.status}", remember=False)


def _text(status: int, message: str, **headers: str) -> Response:
    return PlainTextResponse(f"{message}\n", status_code=status, headers=headers or None)


class _State(TypedDict):
    """What the app shares between requests: the bus (connected in the background) and the bucket."""

    bus: Bus | None
    seen: SeenMessages | None


def create_app(settings: GatewaySettings, bus: Bus | None = None) -> Starlette:
    """Build the gateway. With no `bus`, it connects to NATS_URL in the background."""
    check = SignatureCheck(settings.twilio_auth_token or "")
    signed_url = SignedUrl(settings.public_base_url, settings.trust_proxy, settings.proxy_networks())
    channels = settings.channels()
    state: _State = {"bus": bus, "seen": None}
    in_flight = {"storing": 0}  # webhooks past their body, waiting on JetStream
    opening = asyncio.Lock()

    async def seen_messages(current: Bus) -> SeenMessages:
        seen = state["seen"]
        if seen is None:
            async with opening:
                if state["seen"] is None:
                    try:
                        state["seen"] = await SeenMessages.open(
                            current.nc, current.js, settings.seen_ttl_days, replicas=settings.stream_replicas
                        )
                    except (TimeoutError, NatsError, OSError) as exc:
                        raise SeenUnavailable(f"seen-messages bucket: {exc or type(exc).__name__}") from exc
                seen = state["seen"]
        return seen  # type: ignore[return-value]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):
        connecting = None
        if state["bus"] is None:
            async def connect_in_background() -> None:
                nc = await connect(settings.nats_url, "gateway", access=settings.nats_access())
                state["bus"] = current = Bus(nc, stream=settings.stream_name, publish_timeout_s=settings.publish_timeout_s)
                log.info("gateway_connected")
                with contextlib.suppress(SeenUnavailable):  # retried on the first webhook otherwise
                    await seen_messages(current)

            connecting = asyncio.create_task(connect_in_background())
        yield
        if connecting is not None:
            connecting.cancel()
        if state["bus"] is not None and bus is None:
            await state["bus"].close(settings.drain_timeout_s)

    async def accept(request: Request, hook: Webhook) -> Response:
        """Read, check and store one webhook; slow bodies and hang-ups end here quietly."""
        started = time.perf_counter()
        outcome = hook.metrics.outcome
        try:
            async with asyncio.timeout(settings.body_timeout_s):
                body = await read_body(request, settings.max_body_bytes)
        except TooLarge:
            outcome["too_large"].inc()
            return _text(413, f"request body over {settings.max_body_bytes} bytes")
        except TimeoutError:
            outcome["timeout"].inc()
            REQUESTS_DROPPED.note("body_timeout", endpoint=hook.endpoint, timeout_s=settings.body_timeout_s)
            return _text(408, f"request body not received within {settings.body_timeout_s:g}s", Connection="close")
        except ClientDisconnect:
            outcome["disconnected"].inc()
            REQUESTS_DROPPED.note("hung_up", endpoint=hook.endpoint)
            return Response(status_code=400)  # nobody is listening; uvicorn drops it
        try:
            params = parse_form(body)
        except MalformedForm as exc:
            outcome["bad_request"].inc()
            return _text(400, str(exc))
        url = signed_url(request)
        headers = request.headers
        if not check.valid(url, params, headers.get(SIGNATURE_HEADER), headers.get(SIGNATURE_SETTINGS_HEADER)):
            outcome["forbidden"].inc()
            log.warning("webhook_signature_invalid", endpoint=hook.endpoint, url=url)
            return _text(403, "invalid or missing X-Twilio-Signature")
        repeated = params.repeated()
        if repeated:
            outcome["bad_request"].inc()
            return _text(400, f"repeated field(s): {', '.join(repeated)[:200]}")
        if settings.twilio_account_sid and params.first("AccountSid") != settings.twilio_account_sid:
            outcome["forbidden"].inc()
            log.warning("webhook_other_account", endpoint=hook.endpoint)
            return _text(403, "AccountSid is not this gateway's Twilio account")
        try:
            event = hook.to_event(params, channels)
        except BadWebhook as exc:
            outcome["bad_request"].inc()
            return _text(400, str(exc))
        if in_flight["storing"] >= settings.limit_concurrency:
            outcome["busy"].inc()
            return _text(503, "gateway busy, retry later", **{"Retry-After": "1"})
        in_flight["storing"] += 1
        STORING.inc()
        try:
            return await store(hook, event, started)
        finally:
            in_flight["storing"] -= 1
            STORING.dec()

    async def store(hook: Webhook, event: Event, started: float) -> Response:
        """`store_once`, tried again after passing failures while the budget allows one more try."""
        tries = [1]

        def retried(exc: BaseException, attempt: int) -> None:
            tries[0] = attempt + 1
            STORE_RETRIES.labels(hook.endpoint).inc()
            log.info("webhook_store_retried", endpoint=hook.endpoint, error=str(exc), attempt=attempt)

        try:
            return await retry(
                lambda: store_once(hook, event, started), STORE_RETRY,
                lambda exc: isinstance(exc, (PublishFailed, SeenUnavailable)), on_retry=retried,
                # the last try must be able to take its whole publish timeout within the budget
                deadline=started + settings.store_budget_s - settings.publish_timeout_s, clock=time.perf_counter,
            )
        except (PublishFailed, SeenUnavailable) as exc:
            hook.metrics.outcome["unavailable"].inc()
            log.warning("webhook_not_stored", endpoint=hook.endpoint, error=str(exc), attempts=tries[0])
            return _text(503, "event store unavailable, retry later", **{"Retry-After": "1"})

    async def store_once(hook: Webhook, event: Event, started: float) -> Response:
        """Store `event` once: a 200 response, or PublishFailed/SeenUnavailable."""
        outcome = hook.metrics.outcome
        current: Bus | None = state["bus"]
        msg_id = hook.msg_id(event)
        if current is None or not current.connected:
            raise PublishFailed("not connected to NATS")
        seen = await seen_messages(current) if hook.remember else None
        if seen is not None and await seen.seen(msg_id):
            outcome["replayed"].inc()
            log.info("webhook_replayed", endpoint=hook.endpoint, conversation=event.conversation)
            hook.metrics.ack_seconds.observe(time.perf_counter() - started)
            return Response(EMPTY_TWIML, media_type="text/xml")
        with span(f"gateway {hook.endpoint}", kind="server", conversation=event.conversation):
            ack = await current.publish(event, msg_id=msg_id)
        if seen is not None:
            try:
                await seen.remember(msg_id, ack.seq)
            except Exception as exc:  # the event is stored; only late-replay detection is lost
                log.warning("webhook_not_remembered", endpoint=hook.endpoint, error=str(exc) or type(exc).__name__)
        outcome["duplicate" if ack.duplicate else "stored"].inc()
        hook.metrics.ack_seconds.observe(time.perf_counter() - started)
        log.debug("webhook_stored", endpoint=hook.endpoint, type=event.type, conversation=event.conversation, seq=ack.seq, duplicate=bool(ack.duplicate))
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def inbound_message(request: Request) -> Response:
        return await accept(request, MESSAGES)

    async def status_callback(request: Request) -> Response:
        return await accept(request, STATUS)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        current: Bus | None = state["bus"]
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

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/twilio/messages", inbound_message, methods=["POST"]),
        Route("/twilio/status", status_callback, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
