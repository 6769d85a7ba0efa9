"""`python -m services.agent`: composition root of the agent worker."""

from __future__ import annotations

import asyncio

from services.agent.bootstrap import consumer, open_agent
from services.agent.config import AgentSettings
from shared.bus import Bus
from shared.runtime import run_worker
from shared.settings import load_settings


async def main(settings: AgentSettings) -> None:
    ready = {"postgres": False}

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        async with open_agent(settings, bus) as agent:
            ready["postgres"] = True
            try:
                await consumer(bus, agent, settings).run(stop)
            finally:
                ready["postgres"] = False

    await run_worker("agent", settings, work, checks={"postgres": lambda: ready["postgres"]})


if __name__ == "__main__":
    config = load_settings(AgentSettings, "agent")
    asyncio.run(main(config))
