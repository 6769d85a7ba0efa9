"""A worker process that dies on a poison event, every time: `python -m tests.crash_worker`.

It consumes `received` events with the real `PartitionedConsumer`. Before handling an
event it appends `<seq> <deliveries> <body>` to RECORD_FILE; on a body of `poison` it
then exits at once (`os._exit(1)`: no ack, no nak, no clean-up), as a process killed by a
bad input would. Any other event is handled. It stops cleanly on SIGTERM.

Environment: NATS_URL, STREAM_NAME, RECORD_FILE, MAX_DELIVER, ACK_WAIT_S.
"""

from __future__ import annotations

import asyncio
import os
import signal

from shared.bus import Bus, connect
from shared.consumer import AckPolicy, Delivery, PartitionedConsumer
from shared.events import Event

POISON = "poison"


def remember(line: str) -> None:
    with open(os.environ["RECORD_FILE"], "a") as out:  # closed (flushed) before a crash
        out.write(line + "\n")


async def main() -> None:
    policy = AckPolicy(max_deliver=int(os.environ["MAX_DELIVER"]), backoff_s=(0.05,),
                       ack_wait_s=float(os.environ["ACK_WAIT_S"]), fetch_timeout_s=0.5)

    async def handle(event: Event, delivery: Delivery) -> None:
        body = getattr(event.data, "body", "")
        remember(f"{delivery.stream_sequence} {delivery.deliveries} {body}")
        if body == POISON:
            os._exit(1)

    nc = await connect(os.environ["NATS_URL"], "crash-worker", wait=False)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await PartitionedConsumer(Bus(nc, stream=os.environ["STREAM_NAME"]), "crashy", "received", handle, policy).run(stop)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
