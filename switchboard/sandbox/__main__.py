"""`python -m switchboard.sandbox`: the Twilio emulator as a process (what `up` runs)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from switchboard.sandbox.server import TwilioEmulator


async def serve() -> None:
    sid, token = os.environ.get("TWILIO_ACCOUNT_SID"), os.environ.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        print("sandbox: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set (switchboard up sets them)", file=sys.stderr)
        sys.exit(78)
    emulator = TwilioEmulator(
        sid, token,
        host=os.environ.get("SANDBOX_HOST", "127.0.0.1"),
        port=int(os.environ.get("SANDBOX_PORT", "4010")),
        webhook_url=os.environ.get("SANDBOX_WEBHOOK_URL"),
        status_delay_s=float(os.environ.get("SANDBOX_STATUS_DELAY_S", "0.5")),
        public_url=os.environ.get("SANDBOX_PUBLIC_URL") or None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    print(f"sandbox: Twilio emulator on {emulator.url}, webhooks to {emulator.webhook_url}", flush=True)
    await stop.wait()
    await emulator.stop()


if __name__ == "__main__":
    asyncio.run(serve())
