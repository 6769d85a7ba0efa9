"""`python -m services.audit`: composition root of the audit worker."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from services.audit.config import AuditSettings
from services.audit.database import DatabaseHealth
from services.audit.service import run_audit
from shared.bus import Bus
from shared.runtime import run_worker


async def main(settings: AuditSettings) -> None:
    health = DatabaseHealth()

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        await run_audit(bus, settings.dsn, stop, settings.batch_policy(), health, settings.db_pool_size)

    await run_worker("audit", settings, work, checks={"database": health.is_ok})


if __name__ == "__main__":
    try:
        config = AuditSettings()
    except ValidationError as exc:
        sys.exit(f"audit: bad configuration:\n{exc}")
    asyncio.run(main(config))
