"""Keeping `up`'s own nats-server and Postgres running: restart on death, same port and data.

The services reconnect by themselves (NATS clients forever, the Postgres pools on
their next checkout), so restarting the server in place is the whole repair. A server
that will not come back (its port taken, its data damaged) is retried with a capped
backoff and each failure is printed with the tail of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from typing import Callable, Protocol, Sequence

from switchboard.infra import InfraError, kill_process_group
from switchboard.supervisor import RestartPolicy, describe_exit

POLL_S = 0.2
SERVER_BACKOFF = RestartPolicy(first_delay_s=0.5, max_delay_s=15.0, stable_after_s=30.0)


class Restartable(Protocol):
    """A server `up` started: `NatsServer` or `LocalPostgres`."""

    port: int
    proc: subprocess.Popen | None

    @property
    def describe(self) -> str: ...

    def start(self) -> object: ...


class InfraKeeper:
    """Watches servers `up` started and restarts each one that dies, until cancelled.

    A server whose `proc` is None was stopped on purpose and is left alone.
    """

    def __init__(self, servers: Sequence[Restartable], note: Callable[[str], None], policy: RestartPolicy = SERVER_BACKOFF):
        self.servers = list(servers)
        self.note = note
        self.policy = policy
        self.restarts: dict[str, int] = {server.describe: 0 for server in self.servers}

    async def run(self) -> None:
        await asyncio.gather(*(self._keep(server) for server in self.servers))

    async def _keep(self, server: Restartable) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        up_since = loop.time()
        while True:
            proc = server.proc
            code = proc.poll() if proc is not None else None
            if proc is None or code is None:
                await asyncio.sleep(POLL_S)
                continue
            failures = failures + 1 if loop.time() - up_since < self.policy.stable_after_s else 1
            delay = self.policy.delay(failures)
            self.note(
                f"{server.describe} (pid {proc.pid}, port {server.port}) died: {describe_exit(code)}; "
                f"restarting it on port {server.port} with the same data in {delay:.1f}s"
            )
            await asyncio.sleep(delay)
            await asyncio.to_thread(kill_process_group, proc.pid)  # Postgres backends outliving the postmaster
            try:
                await asyncio.to_thread(server.start)
            except (InfraError, OSError) as exc:
                self.note(f"{server.describe} did not restart: {exc}")
                continue  # `proc` is now the failed attempt, which has exited: the loop retries, backing off
            up_since = loop.time()
            self.restarts[server.describe] += 1
            pid = server.proc.pid if server.proc is not None else "?"
            self.note(f"{server.describe} is back on port {server.port} (pid {pid})")


async def keep_running(keeper: InfraKeeper) -> None:
    """`keeper.run()` that ends quietly when cancelled (as `up` does at shutdown)."""
    with contextlib.suppress(asyncio.CancelledError):
        await keeper.run()
