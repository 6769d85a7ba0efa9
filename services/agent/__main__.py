"""`python -m services.agent`: composition root of the agent worker."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.agent.config import AgentSettings
from shared.settings import load_settings

if TYPE_CHECKING:
    from shared.bus import Bus


async def main(settings: AgentSettings) -> None:
    # LangGraph, LangChain, psycopg and SQLAlchemy take seconds to import: only once the
    # configuration is good, so a bad one exits 78 at once (tests/integration/test_startup.py).
    from services.agent.bootstrap import consumer, open_agent
    from shared.health import DependencyHealth
    from shared.runtime import run_worker

    # Readiness follows Postgres continuously: every checkpoint and time-zone query reports
    # to it, and an idle agent probes (services/agent/bootstrap.py).
    postgres = DependencyHealth("postgres")

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        async with open_agent(settings, bus, health=postgres) as agent:
            await consumer(bus, agent, settings, healthy=lambda: bus.connected and postgres.is_ok()).run(stop)

    await run_worker("agent", settings, work, checks={"postgres": postgres.is_ok})


if __name__ == "__main__":
    config = load_settings(AgentSettings, "agent")
    asyncio.run(main(config))
