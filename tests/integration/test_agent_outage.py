"""Postgres going away under the agent: a dependency outage (DependencyUnavailable, fast),
readiness that follows it both ways, and the conversation carrying on afterwards."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import pytest

from services.agent.bootstrap import open_agent
from shared.errors import DependencyUnavailable
from shared.health import DependencyHealth
from shared.ids import conversation_id
from tests.fakes.tcp_proxy import CuttableProxy
from tests.integration.test_agent_memory import BUSINESS, OWNER_A, Turns, agent_settings


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}"))


async def eventually(check, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_postgres_down_is_a_dependency_outage_and_readiness_follows_it(database_url, bus):
    target = urlsplit(database_url)
    async with CuttableProxy(target.hostname, target.port or 5432) as proxy:
        settings = agent_settings(through(database_url, proxy.port), bus, AGENT_PG_TIMEOUT_S=1)
        health = DependencyHealth("postgres")
        conversation = conversation_id(BUSINESS, OWNER_A)
        async with open_agent(settings, bus, calendar=object(), health=health) as agent:
            turns = Turns(agent.graph, conversation)
            assert (await turns.say("hello"))["answered_seq"] == 1
            assert health.is_ok()

            proxy.cut()
            with pytest.raises(DependencyUnavailable):
                await agent.time_zones.zone_for(conversation, OWNER_A)
            with pytest.raises(DependencyUnavailable):
                await turns.say("are you there?")
            assert proxy.refused > 0  # the fault fired: connections were refused
            assert not health.is_ok()

            proxy.heal()
            await eventually(health.is_ok)  # the watcher saw Postgres come back, with no traffic
            turns.seq = 1  # the failed input comes again, as a redelivery would bring it
            final = await turns.say("are you there?")
            assert final["answered_seq"] == 2
            assert await agent.time_zones.zone_for(conversation, OWNER_A) == "Europe/Madrid"


async def test_an_agent_started_while_postgres_is_down_waits_for_it(database_url, bus):
    target = urlsplit(database_url)
    async with CuttableProxy(target.hostname, target.port or 5432) as proxy:
        proxy.cut()
        settings = agent_settings(through(database_url, proxy.port), bus, AGENT_PG_TIMEOUT_S=1)
        health = DependencyHealth("postgres")

        async def start() -> int:
            async with open_agent(settings, bus, calendar=object(), health=health) as agent:
                return (await Turns(agent.graph, conversation_id(BUSINESS, OWNER_A)).say("hello"))["answered_seq"]

        starting = asyncio.create_task(start())
        await eventually(lambda: proxy.refused > 0)  # the fault fired: it tried and was refused
        assert not starting.done() and not health.is_ok()  # waiting, not crashed
        proxy.heal()
        assert await asyncio.wait_for(starting, 60) == 1
        assert health.is_ok()
