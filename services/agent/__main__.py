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
    from shared.runtime import run_worker

    ready = {"postgres": False}

    async def work(bus: Bus, stop: asyncio.Event) -> None:
        async with open_agent(settings, bus) as agent:
            ready["postgres"] = True
            try:
                await consumer(agent, settings).run(stop)
            finally:
                ready["postgres"] = False

    await run_worker("agent", settings, work, checks={"postgres": lambda: ready["postgres"]})


if __name__ == "__main__":
    config = load_settings(AgentSettings, "agent")
    asyncio.run(main(config))
