"""`python -m switchboard.privacy`: the privacy worker (user requests and retention)."""

from __future__ import annotations

import asyncio

from shared.settings import load_settings
from switchboard.privacy.config import PrivacySettings


async def main(settings: PrivacySettings) -> None:
    import os

    from shared.bus import Bus
    from shared.runtime import run_worker
    from switchboard.privacy.session import privacy_deps
    from switchboard.privacy.worker import enforce_retention, serve_requests

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        async with privacy_deps(bus, settings.database_url, dict(os.environ)) as deps:
            await asyncio.gather(
                serve_requests(bus, deps, settings.export_dir, stop, settings.ack_wait_s),
                enforce_retention(deps, settings.limits(), settings.sweep_every_s, stop),
            )

    await run_worker("privacy", settings, work)


if __name__ == "__main__":
    asyncio.run(main(load_settings(PrivacySettings, "privacy")))
