"""`python -m services.agent`: composition root of the agent worker."""

from __future__ import annotations

import asyncio

from services.agent.bootstrap import consumer, open_agent
from services.agent.config import AgentSettings
from shared.bus import Bus
from shared.health import DependencyHealth
from shared.runtime import run_worker
from shared.settings import load_settings


async def main(settings: AgentSettings) -> None:
    # Readiness follows Postgres continuously: every checkpoint and time-zone query reports
    # to it, and an idle agent probes (services/agent/bootstrap.py).
    postgres = DependencyHealth("postgres")

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        async with open_agent(settings, bus, health=postgres) as agent:
            await consumer(bus, agent, settings).run(stop)

    await run_worker("agent", settings, work, checks={"postgres": postgres.is_ok})


if __name__ == "__main__":
    config = load_settings(AgentSettings, "agent")
    asyncio.run(main(config))
