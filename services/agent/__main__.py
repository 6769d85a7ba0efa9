"""`python -m services.agent`: composition root of the agent worker."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from services.agent.bootstrap import consumer, open_agent
from services.agent.config import AgentSettings
from shared.bus import Bus
from shared.runtime import run_worker


async def main(settings: AgentSettings) -> None:
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
    try:
        config = AgentSettings()
    except ValidationError as exc:
        sys.exit(f"agent: bad configuration:\n{exc}")
    asyncio.run(main(config))
