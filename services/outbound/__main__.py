"""`python -m services.outbound`: composition root of the outbound worker."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

from services.outbound.config import OutboundSettings
from shared.settings import load_settings

if TYPE_CHECKING:
    from shared.bus import Bus


async def main(settings: OutboundSettings) -> None:
    # The handler, ledger and consumer only once the configuration is good (a bad one exits 78 at once).
    from services.outbound.handler import Outbound, RetryPolicy, deliver_reply
    from services.outbound.ledger import SentLedger
    from services.outbound.pacing import SenderPacer
    from services.outbound.twilio_api import TwilioMessages
    from services.reminders.wiring import run_reminders
    from shared.consumer import PartitionedConsumer
    from shared.eventlog_jetstream import JetStreamEventLog
    from shared.runtime import run_worker

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        twilio = TwilioMessages(
            settings.twilio_account_sid or "", settings.twilio_auth_token or "",
            settings.twilio_api_base_url, settings.request_timeout_s,
        )
        events = JetStreamEventLog(bus)
        deps = Outbound(
            events=events,
            twilio=twilio,
            ledger=await SentLedger.open(events, settings.stream_replicas),
            pacer=SenderPacer(settings.effective_rate),
            status_callback=settings.status_callback,
            retry=RetryPolicy(settings.send_attempts, settings.retry_base_s),
            max_deliver=settings.max_deliver,
        )
        consumer = PartitionedConsumer(
            bus, "outbound", "reply", functools.partial(deliver_reply, deps=deps), settings.ack_policy(),
            replicas=settings.stream_replicas,
        )
        reminders = asyncio.create_task(run_reminders(bus, events, twilio, deps.ledger, settings, stop, deps.pacer))
        # Reminders failing for good stops the worker (it exits non-zero and is restarted),
        # rather than leaving a replica that sends replies but silently no reminders.
        def stop_if_failed(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                stop.set()

        reminders.add_done_callback(stop_if_failed)
        try:
            await consumer.run(stop)
        finally:
            stop.set()
            await reminders
            await twilio.close()

    await run_worker("outbound", settings, work)


if __name__ == "__main__":
    config = load_settings(OutboundSettings, "outbound")
    asyncio.run(main(config))
