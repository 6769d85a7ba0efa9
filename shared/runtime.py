"""Running a worker process: signals, the NATS connection, health, a clean stop.

A worker that starts while NATS (or JetStream, or the stream) is not there yet waits
for it, logging `waiting_for_jetstream`, instead of exiting: under `up`, compose or
Kubernetes the servers may come up after the services.

A `Misconfigured` error from `main` (found only once connected, such as a superuser's
database URL in production) stops the worker with exit code 78, which `up` does not restart.

On SIGTERM or SIGINT the worker stops fetching, finishes the message in hand, drains
its NATS connection (bounded by NATS_DRAIN_TIMEOUT_S) and closes its pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Awaitable, Callable

from shared.bus import Bus, Stopped, connect
from shared.errors import Misconfigured
from shared.health import HealthServer, ReadinessCheck
from shared.logging import configure_logging, get_logger
from shared.settings import EX_CONFIG, WorkerSettings

log = get_logger(__name__)

WorkerMain = Callable[[Bus, asyncio.Event], Awaitable[None]]
STREAM_WAIT_FIRST_S = 0.25
STREAM_WAIT_MAX_S = 5.0


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_worker(
    service: str,
    settings: WorkerSettings,
    main: WorkerMain,
    checks: dict[str, ReadinessCheck] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Connect, serve health, run `main(bus, stop)` until stopped, then drain."""
    configure_logging(service, settings.log_level, settings.log_format)
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    try:
        nc = await connect(settings.nats_url, service, stop=stop, access=settings.nats_access())
    except Stopped:
        log.info("worker_stopped_before_start")
        return
    bus = Bus(nc, stream=settings.stream_name, publish_timeout_s=settings.publish_timeout_s)
    health = HealthServer(
        settings.health_host, settings.health_port, {"nats": lambda: bus.connected, **(checks or {})}
    )
    port = await health.start()
    log.info("worker_started", health_port=port)
    try:
        if await wait_for_stream(bus, stop):
            await main(bus, stop)
    except Misconfigured as exc:  # e.g. a superuser's database URL in production
        log.error("refused_to_start", error=str(exc))
        raise SystemExit(EX_CONFIG) from None
    finally:
        await bus.close(settings.drain_timeout_s)
        await health.stop()
        log.info("worker_stopped")


async def wait_for_stream(bus: Bus, stop: asyncio.Event) -> bool:
    """Wait until JetStream answers for the bus's stream; False when stopped first.

    Connecting succeeds as soon as the server accepts clients, but JetStream may still be
    recovering its store (or the stream may not be provisioned yet); a worker that went
    straight on would fail its first stream call and exit.
    """
    delay = STREAM_WAIT_FIRST_S
    attempts = 0
    while not stop.is_set():
        try:
            await bus.js.stream_info(bus.stream)
            if attempts:
                log.info("jetstream_ready", stream=bus.stream, attempts=attempts + 1)
            return True
        except Exception as exc:  # any failure here means "not yet"; the loop is bounded by stop
            attempts += 1
            if attempts == 1 or attempts % 10 == 0:
                log.warning("waiting_for_jetstream", stream=bus.stream, error=str(exc) or type(exc).__name__)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, STREAM_WAIT_MAX_S)
    return False
