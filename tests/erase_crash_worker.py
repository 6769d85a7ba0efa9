"""An erasure that stops half-way and waits to be killed: `python -m tests.erase_crash_worker`.

It runs the real erasure (`switchboard.privacy.erasure.erase_user`) with every store, and
after the store named by HOLD_AFTER prints `held <store>` and waits forever, so the test
can kill it (-9) at exactly that point.

Environment: NATS_URL, STREAM_NAME, DATABASE_URL, NUMBER, HOLD_AFTER.
"""

from __future__ import annotations

import asyncio
import os
import sys

from shared.bus import Bus, connect
from switchboard.privacy.erasure import ErasureRecord, erase_user
from switchboard.privacy.session import privacy_deps


async def main() -> None:
    nc = await connect(os.environ["NATS_URL"], "erase-crash-worker", wait=False)
    bus = Bus(nc, stream=os.environ["STREAM_NAME"])
    hold_after = os.environ["HOLD_AFTER"]

    async def hold(store: str, record: ErasureRecord) -> None:
        if store == hold_after:
            print(f"held {store}", flush=True)
            await asyncio.Event().wait()

    async with privacy_deps(bus, os.environ["DATABASE_URL"], dict(os.environ)) as deps:
        deps = deps.__class__(**{**deps.__dict__, "after_store": hold})
        await erase_user(deps, os.environ["NUMBER"], "crash-test")
    print("completed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    asyncio.run(main())
