"""`python -m services.audit`: composition root of the audit worker."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.audit.config import AuditSettings
from shared.settings import load_settings

if TYPE_CHECKING:
    from shared.bus import Bus


async def main(settings: AuditSettings) -> None:
    # SQLAlchemy and the projection only once the configuration is good (a bad one exits 78 at once).
    from services.audit.database import DatabaseHealth
    from services.audit.service import run_audit
    from shared.runtime import run_worker

    health = DatabaseHealth()

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        await run_audit(bus, settings.dsn, stop, settings.batch_policy(), health, settings.db_pool_size,
                        settings.environment)

    await run_worker("audit", settings, work, checks={"database": health.is_ok})


if __name__ == "__main__":
    config = load_settings(AuditSettings, "audit")
    asyncio.run(main(config))
