"""Delivering one ReplyComposed: check, split, pace, send with bounded retries, record, publish.

Per part, the ledger holds what is known (services/outbound/ledger.py):

1. `sending:<epoch>` is written before the request goes to Twilio (the intent);
2. `sent:<sid>` as soon as Twilio accepts it; if NATS is away at that moment the put is
   retried in place until NATS is back, and the SID is kept in memory meanwhile, so a
   NATS outage no longer sends the part again;
3. `published:<sid>` once MessageSent is stored.

A part found at `sending:<epoch>` was handed to Twilio by an attempt that died before the
answer was recorded (the process was killed in that window, or Twilio's answer was lost).
Twilio takes no idempotency key, so outbound asks its Messages list (this pair of numbers,
newest first) for a message with exactly this body created since the attempt began: if
there is one, its SID is recorded and the part is not sent again
(`switchboard_outbound_sends_total{outcome="reconciled"}`); if not, Twilio never took it
and it is sent again (`outcome="resent_unknown"`). A list that does not answer is a
dependency outage: the reply waits. What is left: the same body sent to the same user by
another reply within the same seconds reads as this part (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Histogram

from services.outbound.ledger import SentLedger
from services.outbound.pacing import SenderPacer
from services.outbound.splitter import split_message
from services.outbound.twilio_api import MessageSender, SendError
from shared.clock import SYSTEM_CLOCK, Clock
from shared.consumer import Delivery
from shared.errors import DependencyUnavailable, PermanentFailure
from shared.eventlog import EventLog
from shared.events import MessageSent, MessageSentData, ReplyComposed, SendFailed, SendFailedData
from shared.ids import conversation_id
from shared.logging import get_logger
from shared.retry import Backoff, retry
from shared.text import clean_text

log = get_logger(__name__)

SENDS = Counter("switchboard_outbound_sends_total", "Message parts by outcome", ["outcome"])
RETRIES = Counter("switchboard_outbound_retries_total", "Retried Twilio requests by cause", ["cause"])
SEND_SECONDS = Histogram(
    "switchboard_outbound_send_seconds", "Twilio Messages API request time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PACED_SECONDS = Counter("switchboard_outbound_paced_seconds_total", "Time spent waiting for a sender's rate")
RECONCILE_SLACK = timedelta(seconds=2)
LEDGER_RETRIES = Counter(
    "switchboard_outbound_ledger_retries_total",
    "Failed attempts to record a part Twilio had accepted (NATS away), each retried until it is stored",
)


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
    ledger_retry_cap_s: float = 2.0
    # Parts Twilio accepted that are not in the ledger yet: (reply id, part) -> "sent:<sid>".
    accepted: dict[tuple[str, int], str] = field(default_factory=dict)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SendError) and not exc.permanent and not exc.credentials


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


def check_destination(event: ReplyComposed) -> None:
    """A reply goes only to the user of its own conversation (a forged or buggy ReplyComposed
    could name any number); refused at once, and logged without the numbers."""
    data = event.data
    if conversation_id(data.from_, data.to) != event.conversation:
        log.warning("reply_refused", reason="numbers_do_not_match_conversation", reply_id=data.reply_id[:64])
        raise PermanentFailure("ReplyComposed from/to do not match its conversation id: not sent")


async def deliver_reply(event: ReplyComposed, delivery: Delivery, deps: Outbound) -> None:
    """Send every part not yet sent, in order. Safe to run again on redelivery."""
    check_destination(event)
    data = event.data
    parts = split_message(clean_text(data.text))
    for number, body in enumerate(parts, start=1):
        key = (data.reply_id, number)
        outcome = deps.accepted.get(key) or await deps.ledger.get(data.reply_id, number)
        if outcome is not None and outcome.startswith("sending"):
            outcome = await _reconcile(deps, event, number, body, outcome)
        if outcome is None or outcome.startswith(("sending", "unsent")):
            await deps.ledger.record(data.reply_id, number, f"sending:{time.time():.3f}")
            try:
                sid = await send_with_retries(deps, data.from_, data.to, body)
            except SendError as exc:
                if not exc.accepted_maybe:  # Twilio surely did not take it: not a "maybe sent"
                    await deps.ledger.record(data.reply_id, number, f"unsent:{exc.code or exc.status}")
                if exc.credentials:
                    SENDS.labels("credentials_rejected").inc()
                    log.error("twilio_credentials_rejected", status=exc.status, code=exc.code)
                    raise DependencyUnavailable(
                        f"Twilio rejected our credentials (HTTP {exc.status}, code {exc.code}): "
                        "the reply waits until TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are fixed"
                    ) from exc
                if exc.permanent:
                    await deps.ledger.record(data.reply_id, number, f"failed:{exc.code}")
                    await _failed(deps, event, number, len(parts), exc)
                    return  # the parts after it would fail the same way
                if delivery.deliveries >= deps.max_deliver:
                    await _failed(deps, event, number, len(parts), exc)
                SENDS.labels("retry_later").inc()
                raise
            outcome = f"sent:{sid}"
            deps.accepted[key] = outcome
            await _record_until_stored(deps, data.reply_id, number, outcome)
            deps.accepted.pop(key, None)
            SENDS.labels("sent").inc()
        state, _, value = outcome.partition(":")
        if state == "sent":
            await _sent(deps, event, number, len(parts), value, body)
            await deps.ledger.record(data.reply_id, number, f"published:{value}")
        elif state == "failed":
            return


async def _reconcile(deps: Outbound, event: ReplyComposed, part: int, body: str, sending: str) -> str:
    """A part left at `sending:<epoch>`: an attempt handed it to Twilio and died before the
    answer was recorded. Twilio's Messages list says whether it was accepted: then its SID
    is recorded (`sent:<sid>`) and nothing is sent again; else the part is sent again."""
    data = event.data
    try:
        started = datetime.fromtimestamp(float(sending.partition(":")[2]), UTC)
    except ValueError:
        started = datetime.now(UTC) - timedelta(days=1)
    try:
        # Twilio dates have whole seconds; the slack also covers a little clock skew.
        sid = await deps.twilio.find_sent(data.from_, data.to, body, started - RECONCILE_SLACK)
    except SendError as exc:
        if exc.credentials:
            raise DependencyUnavailable(f"Twilio rejected our credentials (HTTP {exc.status}, code {exc.code})") from exc
        raise DependencyUnavailable(f"Twilio's Messages list did not answer: {exc}") from exc
    if sid is None:
        SENDS.labels("resent_unknown").inc()
        log.warning("send_outcome_unknown_resending", part=part, reply_id=data.reply_id[:64])
        return sending
    SENDS.labels("reconciled").inc()
    log.info("send_reconciled", part=part, reply_id=data.reply_id[:64])
    outcome = f"sent:{sid}"
    await _record_until_stored(deps, data.reply_id, part, outcome)
    return outcome


async def _record_until_stored(deps: Outbound, reply_id: str, part: int, outcome: str) -> None:
    """Record a part Twilio accepted, however long NATS is away: giving up here would send
    it again on the next delivery."""
    delay = 0.05
    while True:
        try:
            await deps.ledger.record(reply_id, part, outcome)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            LEDGER_RETRIES.inc()
            log.warning("sent_part_not_recorded_yet", part=part, error=repr(exc)[:200], retry_in_s=delay)
            await deps.clock.sleep(delay)
            delay = min(delay * 2, deps.ledger_retry_cap_s)


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
