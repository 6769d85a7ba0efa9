"""The privacy worker: carries out what users asked for over WhatsApp, and enforces retention.

It consumes `wa.privacy.>` with one durable consumer (`privacy`): an `ErasureRequested`
runs the same erasure as `switchboard erase` (resumable: a redelivery after a crash
goes on where it stopped), an `ExportRequested` writes the export file and tells the
operator (a warning in the log naming the file, and a `UserDataExported` event).
Every `RETENTION_SWEEP_S` it sweeps every store with a retention limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig

from shared.bus import Bus
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import ErasureRequested, ExportRequested, UnknownEvent, decode
from shared.logging import get_logger
from shared.privacy import RetentionSweeper
from switchboard.privacy.erasure import PrivacyDeps, erase_user
from switchboard.privacy.export import export_user
from switchboard.privacy.retention import RetentionLimits, sweep_all

log = get_logger(__name__)

DURABLE = "privacy"
REQUESTS = "wa.privacy.>"
MAX_DELIVER = 20


async def handle_request(msg: Msg, deps: PrivacyDeps, export_dir: Path) -> None:
    try:
        event = decode(msg.data)
    except (UnknownEvent, ValueError):
        return  # not ours to read; audit keeps it
    if isinstance(event, ErasureRequested):
        await erase_user(deps, event.data.from_, "user", [event.data.to])
    elif isinstance(event, ExportRequested):
        path = await export_user(deps, event.data.from_, "user", export_dir, [event.data.to])
        log.warning("export_ready_for_operator", file=str(path),
                    action="hand it to the user through a channel where you can check who they are")


async def _heartbeat(msg: Msg, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def serve_requests(bus: Bus, deps: PrivacyDeps, export_dir: Path, stop: asyncio.Event, ack_wait_s: float) -> None:
    await bus.js.add_consumer(bus.stream, ConsumerConfig(
        durable_name=DURABLE, filter_subject=REQUESTS, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s,
        max_deliver=MAX_DELIVER, description="privacy: erasure and export requests",
    ))
    sub = await bus.js.pull_subscribe_bind(DURABLE, stream=bus.stream)
    while not stop.is_set():
        try:
            [msg] = await sub.fetch(1, timeout=1.0)
        except (TimeoutError, NatsTimeoutError):
            continue
        beat = asyncio.create_task(_heartbeat(msg, ack_wait_s / 3))
        try:
            await handle_request(msg, deps, export_dir)
        except Exception as exc:  # an outage or a bug: try again later; the erasure resumes where it stopped
            log.warning("privacy_request_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
            await msg.nak(delay=min(60.0, 2.0 * msg.metadata.num_delivered))
            continue
        finally:
            beat.cancel()
        await msg.ack()


async def enforce_retention(deps: PrivacyDeps, limits: RetentionLimits, every_s: float, stop: asyncio.Event,
                            clock: Clock = SYSTEM_CLOCK) -> None:
    """Sweep now and every `every_s` on `clock` until `stop`."""
    sweepers: list[RetentionSweeper] = [s for s in deps.stores if hasattr(s, "sweep")]  # type: ignore[misc]
    while not stop.is_set():
        try:
            await sweep_all(sweepers, limits, clock, deps.events)
        except Exception as exc:  # the next sweep tries again
            log.warning("retention_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        pause = asyncio.ensure_future(clock.sleep(every_s))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({pause, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pause.cancel()
            stopping.cancel()
