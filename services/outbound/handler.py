"""Delivering one ReplyComposed: split, pace, send with bounded retries, record, publish."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.splitter import split_message
from services.outbound.twilio_api import MessageSender, SendError
from shared.clock import SYSTEM_CLOCK, Clock
from shared.consumer import Delivery
from shared.eventlog import EventLog
from shared.events import MessageSent, MessageSentData, ReplyComposed, SendFailed, SendFailedData
from shared.logging import get_logger
from shared.retry import Backoff, retry

log = get_logger(__name__)

SENDS = Counter("switchboard_outbound_sends_total", "Message parts by outcome", ["outcome"])
RETRIES = Counter("switchboard_outbound_retries_total", "Retried Twilio requests by cause", ["cause"])
SEND_SECONDS = Histogram(
    "switchboard_outbound_send_seconds", "Twilio Messages API request time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PACED_SECONDS = Counter("switchboard_outbound_paced_seconds_total", "Time spent waiting for a sender's rate")


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """Twilio sends: exponential backoff capped at 8 s, each wait between half and all of it."""

    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 8.0
    jitter: float = 0.5


@dataclass
class Outbound:
    """Everything the handler needs; built once in __main__."""

    events: EventLog
    twilio: MessageSender
    ledger: SentLedger
    pacer: SenderPacer
    status_callback: str | None
    retry: RetryPolicy
    max_deliver: int
    clock: Clock = SYSTEM_CLOCK  # the waits between retries


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SendError) and not exc.permanent


def _note_retry(exc: BaseException, attempt: int) -> None:
    status, code = getattr(exc, "status", None), getattr(exc, "code", None)
    RETRIES.labels(str(status or "connection")).inc()
    log.warning("twilio_retry", attempt=attempt, status=status, code=code)


async def send_with_retries(deps: Outbound, from_: str, to: str, body: str) -> str:
    async def send_once() -> str:
        PACED_SECONDS.inc(await deps.pacer.wait(from_))
        started = time.perf_counter()
        try:
            return await deps.twilio.send(from_, to, body, deps.status_callback)
        finally:
            SEND_SECONDS.observe(time.perf_counter() - started)

    return await retry(send_once, deps.retry, _retryable, on_retry=_note_retry, sleep=deps.clock.sleep)


async def deliver_reply(event: ReplyComposed, delivery: Delivery, deps: Outbound) -> None:
    """Send every part not yet sent, in order. Safe to run again on redelivery."""
    data = event.data
    parts = split_message(data.text)
    for number, body in enumerate(parts, start=1):
        outcome = await deps.ledger.get(data.reply_id, number)
        if outcome is None:
            try:
                sid = await send_with_retries(deps, data.from_, data.to, body)
            except SendError as exc:
                if exc.permanent:
                    await deps.ledger.record(data.reply_id, number, f"failed:{exc.code}")
                    await _failed(deps, event, number, len(parts), exc)
                    return  # the parts after it would fail the same way
                if delivery.deliveries >= deps.max_deliver:
                    await _failed(deps, event, number, len(parts), exc)
                SENDS.labels("retry_later").inc()
                raise
            outcome = f"sent:{sid}"
            await deps.ledger.record(data.reply_id, number, outcome)
            SENDS.labels("sent").inc()
        state, _, value = outcome.partition(":")
        if state == "sent":
            await _sent(deps, event, number, len(parts), value, body)
            await deps.ledger.record(data.reply_id, number, f"published:{value}")
        elif state == "failed":
            return


async def _sent(deps: Outbound, event: ReplyComposed, part: int, parts: int, sid: str, body: str) -> None:
    data = event.data
    sent = event.caused(
        MessageSent,
        MessageSentData(reply_id=data.reply_id, part=part, parts=parts, twilio_sid=sid, from_=data.from_, to=data.to, body=body),
    )
    await deps.events.publish(sent, msg_id=f"sent:{data.reply_id}:{part}")


async def _failed(deps: Outbound, event: ReplyComposed, part: int, parts: int, exc: SendError) -> None:
    SENDS.labels("failed_permanent" if exc.permanent else "failed_transient").inc()
    failed = event.caused(
        SendFailed,
        SendFailedData(
            reply_id=event.data.reply_id, part=part, parts=parts, error_code=exc.code,
            error_message=str(exc)[:500], permanent=exc.permanent,
        ),
    )
    await deps.events.publish(failed, msg_id=f"send_failed:{event.data.reply_id}:{part}")
    log.warning("send_failed", part=part, parts=parts, code=exc.code, permanent=exc.permanent)
