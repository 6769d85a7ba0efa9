"""Running a worker process: signals, the NATS connection, health, a clean stop.

On SIGTERM or SIGINT the worker stops fetching, finishes the message in hand, drains
its NATS connection (bounded by NATS_DRAIN_TIMEOUT_S) and closes its pools.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Awaitable, Callable

from shared.bus import Bus, Stopped, connect
from shared.health import HealthServer, ReadinessCheck
from shared.logging import configure_logging, get_logger
from shared.settings import WorkerSettings

log = get_logger(__name__)

WorkerMain = Callable[[Bus, asyncio.Event], Awaitable[None]]


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
        nc = await connect(settings.nats_url, service, stop=stop)
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
        await main(bus, stop)
    finally:
        await bus.close(settings.drain_timeout_s)
        await health.stop()
        log.info("worker_stopped")
