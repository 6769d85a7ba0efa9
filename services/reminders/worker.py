"""The loops that run reminders inside the outbound worker: fired timers, and calendar changes.

Both are durable pull consumers shared by every replica, so each fired timer (and each
calendar change) is handled by one replica at a time, and one that dies mid-way hands it
to another after the ack wait. What a handler did is recorded first (`dispatch`, `book`),
so a second delivery does nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.reminders.calendar_sync import on_calendar_change
from services.reminders.dispatch import Dispatch, fire
from services.reminders.timers import DUE, STREAM, ensure_timer_stream, parse_due
from shared.events import UnknownEvent, decode
from shared.ids import SUBJECT_ROOT
from shared.logging import get_logger

log = get_logger(__name__)

DISPATCH_CONSUMER = "reminders-dispatch"
CALENDAR_CONSUMER = "reminders-calendar"


@dataclass(frozen=True)
class LoopOptions:
    concurrency: int = 64
    ack_wait_s: float = 30.0
    max_deliver: int = 8
    handler_timeout_s: float = 20.0  # under the ack wait: nobody else gets it while we still work on it


Handler = Callable[[Any], Awaitable[None]]


def _settings(options: LoopOptions) -> dict[str, Any]:
    return {"ack_policy": AckPolicy.EXPLICIT, "ack_wait": options.ack_wait_s, "max_deliver": options.max_deliver,
            "max_ack_pending": max(1000, options.concurrency * 4)}


async def _loop(js: JetStreamContext, stream: str, config: ConsumerConfig, handle: Handler,
                options: LoopOptions, stop: asyncio.Event) -> None:
    durable, subject = config.durable_name or "", config.filter_subject or ""
    sub = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
    running: set[asyncio.Task[None]] = set()
    room = asyncio.Event()

    async def one(msg: Any) -> None:
        try:
            await asyncio.wait_for(handle(msg), options.handler_timeout_s)
            await msg.ack()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = min(2.0 ** msg.metadata.num_delivered, 30.0)
            log.warning("reminder_loop_retry", consumer=durable, error=repr(exc)[:300], retry_in_s=delay)
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
        finally:
            room.set()

    def start(msgs: list[Any]) -> None:
        for msg in msgs:
            task = asyncio.create_task(one(msg))
            running.add(task)
            task.add_done_callback(running.discard)

    try:
        while not stop.is_set():
            want = options.concurrency - len(running)
            if want <= 0:
                room.clear()
                await room.wait()
                continue
            # One long poll returns as soon as a message is there (a batch would wait for the
            # whole batch or the timeout: up to a second late); then take what else is ready.
            msgs = await _fetch(sub, 1, 1.0, durable)
            start(msgs)
            if msgs and want > 1:
                start(await _fetch(sub, want - 1, 0.05, durable))
    finally:
        if running:
            await asyncio.wait(running, timeout=options.handler_timeout_s)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _fetch(sub: Any, batch: int, timeout: float, durable: str) -> list[Any]:
    try:
        return list(await sub.fetch(batch, timeout=timeout))
    except (TimeoutError, NatsTimeoutError):
        return []
    except Exception as exc:  # NATS away: keep trying, the consumer is durable
        log.warning("reminder_fetch_failed", consumer=durable, error=repr(exc)[:200])
        await asyncio.sleep(0.5)
        return []


async def run_dispatcher(js: JetStreamContext, deps: Dispatch, stop: asyncio.Event,
                         options: LoopOptions = LoopOptions(), replicas: int = 1) -> None:
    """Send every fired timer (`dispatch.fire`), until `stop`."""
    await ensure_timer_stream(js, replicas)

    async def handle(msg: Any) -> None:
        try:
            timer = parse_due(msg.subject, dict(msg.headers or {}))
        except ValueError as exc:
            log.warning("timer_unreadable", error=str(exc))
            return
        last = msg.metadata.num_delivered >= options.max_deliver
        outcome = await fire(timer, deps, last_attempt=last)
        log.info("reminder_fired", reminder_id=timer.reminder_id, outcome=outcome, deliveries=msg.metadata.num_delivered)
        with contextlib.suppress(Exception):  # keep the stream small; the fact is in the event log
            await js.delete_msg(STREAM, msg.metadata.sequence.stream)

    config = ConsumerConfig(durable_name=DISPATCH_CONSUMER, filter_subject=f"{DUE}.>", deliver_policy=DeliverPolicy.ALL,
                            **_settings(options))
    await _loop(js, STREAM, config, handle, options, stop)


async def run_calendar_sync(js: JetStreamContext, stream: str, deps: Dispatch, stop: asyncio.Event,
                            options: LoopOptions = LoopOptions()) -> None:
    """Move or cancel reminders when their calendar event moves or is cancelled, until `stop`."""

    async def handle(msg: Any) -> None:
        try:
            event = decode(msg.data)
        except (UnknownEvent, ValueError) as exc:
            log.warning("calendar_change_unreadable", error=str(exc)[:200])
            return
        await on_calendar_change(event, deps.book, deps.clock)

    config = ConsumerConfig(durable_name=CALENDAR_CONSUMER, filter_subject=f"{SUBJECT_ROOT}.calendar.>",
                            deliver_policy=DeliverPolicy.NEW, **_settings(options))
    await _loop(js, stream, config, handle, options, stop)
