"""A stage's set-up (consumers, buckets) meets a stalled NATS server: it waits, then starts.

Before, one JetStream answer slower than the API timeout ended `PartitionedConsumer.run`,
so an in-process stage stopped for good and a service process exited for its supervisor
to restart (seen under two test suites at once: the agent's `stream_info` timed out).
"""

from __future__ import annotations

import asyncio
import os
import signal

from structlog.testing import capture_logs

from shared.batch import BatchConsumer
from shared.bus import Bus, connect
from shared.consumer import PartitionedConsumer
from tests.integration.test_agent_memory import wait_until
from tests.integration.test_audit import FAST as BATCH_FAST
from tests.integration.test_lanes import FAST


async def nothing(*_: object) -> None:
    return None


def events(logs: list[dict], name: str) -> list[dict]:
    return [entry for entry in logs if entry.get("event") == name]


async def test_set_up_waits_out_a_stalled_server_then_both_kinds_of_consumer_start(bus: Bus, nats_server):
    nc = await connect(nats_server.url, "stalled", wait=False)
    impatient = Bus(nc, stream=bus.stream, publish_timeout_s=0.3)
    stages = [PartitionedConsumer(impatient, "stalled", "received", nothing, FAST),
              BatchConsumer(impatient, "stalled-batch", "wa.received.>", nothing, BATCH_FAST)]
    stop = asyncio.Event()
    assert nats_server.proc is not None
    with capture_logs() as logs:
        os.kill(nats_server.proc.pid, signal.SIGSTOP)
        try:
            tasks = [asyncio.create_task(stage.run(stop)) for stage in stages]
            # the fault fired: each set-up timed out at least once while the server was stopped
            await wait_until(lambda: {e["what"].split()[0] for e in events(logs, "set_up_retried")}
                             >= {"stalled-received", "stalled-batch"})
            assert not any(task.done() for task in tasks)
        finally:
            os.kill(nats_server.proc.pid, signal.SIGCONT)
        await wait_until(lambda: events(logs, "consumer_started") and events(logs, "batch_consumer_started"))
    stop.set()
    await asyncio.gather(*tasks)
    await nc.close()
