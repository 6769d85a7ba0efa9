"""The services `switchboard up` runs, and how each one is configured under it.

A new service plugs into the local stack by adding ONE `ServiceEntry` to `SERVICES`.
Entries whose module is not there yet are skipped with a note, so the list may run
ahead of the code.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from shared.listen import LISTEN_FD_ENV
from switchboard.home import StackHome
from switchboard.supervisor import ChildSpec


@dataclass(frozen=True)
class ServiceEntry:
    """One service, run as `python -m <module>`.

    - `port_env`/`port`: the variable that sets the port it listens on, and the port it
      prefers under `up` (kept if free, remembered in ports.json). A variable only this
      entry uses (GATEWAY_PORT) is honoured when already set; a shared one (HEALTH_PORT)
      always gets a distinct port per service.
    - `ready_path`: polled on that port until it answers 200; None means an open port is enough.
    - `env`: more variables for this service; `{NAME}` is replaced by the stack's NAME.
    - `exports`: variables every service gets unless already set; `{port}` is this
      entry's port (how the Twilio emulator tells outbound where the Twilio API is).
    - `migrate`: `"module:function"`, awaited with the service's database URL before
      anything starts, so a migration error shows once, clearly, instead of as a crash loop.
    - `schemas`: the Postgres schemas the service owns. A service with any gets its own
      login role (`switchboard_<name>`, switchboard/database_roles.py) owning them, and
      its own DATABASE_URL; a service without gets no database URL at all.
    - `reads`: schemas of other services it may only read (SELECT): it gets its own
      login role with no other privilege, and its own DATABASE_URL (the console).
    - `sandbox_only`: run only when no real Twilio credentials are configured.
    """

    name: str
    module: str
    port_env: str | None = None
    port: int | None = None
    ready_path: str | None = "/readyz"
    env: Mapping[str, str] = field(default_factory=dict)
    exports: Mapping[str, str] = field(default_factory=dict)
    migrate: str | None = None
    schemas: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    sandbox_only: bool = False


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        "sandbox", "switchboard.sandbox", port_env="SANDBOX_PORT", port=4010, ready_path=None,
        env={"SANDBOX_WEBHOOK_URL": "{PUBLIC_BASE_URL}/twilio/messages"},
        exports={"TWILIO_API_BASE_URL": "http://127.0.0.1:{port}"},
        sandbox_only=True,
    ),
    ServiceEntry(
        "gateway", "services.gateway", port_env="GATEWAY_PORT", port=8000,
        exports={"PUBLIC_BASE_URL": "http://127.0.0.1:{port}"},
    ),
    ServiceEntry(
        "audit", "services.audit", port_env="HEALTH_PORT", port=8082,
        migrate="services.audit.migrations:migrate", schemas=("audit",),
    ),
    ServiceEntry("transcriber", "services.transcriber", port_env="HEALTH_PORT", port=8086),
    ServiceEntry(
        "agent", "services.agent", port_env="HEALTH_PORT", port=8083,
        migrate="services.agent.migrations:migrate", schemas=("agent",),
    ),
    ServiceEntry(
        "calendar", "services.calendar", port_env="HEALTH_PORT", port=8085,
        migrate="services.calendar.migrations:migrate", schemas=("calendar",),
    ),
    ServiceEntry("outbound", "services.outbound", port_env="HEALTH_PORT", port=8084),
    # Users' erasure and export requests, and retention (docs/privacy.md). It visits every
    # service's tables, so it starts after their migrations.
    ServiceEntry("privacy", "switchboard.privacy", port_env="HEALTH_PORT", port=8087),
    # The operator console; `{SERVICE_HEALTH_URLS}` is every other entry's readiness URL.
    ServiceEntry(
        "console", "services.console", port_env="CONSOLE_PORT", port=8090,
        env={"CONSOLE_HOST": "127.0.0.1", "CONSOLE_HEALTH_URLS": "{SERVICE_HEALTH_URLS}"},
        reads=("audit",),
    ),
)


@dataclass(frozen=True)
class PlannedService:
    """An entry resolved for this run: its port and its whole environment."""

    entry: ServiceEntry
    port: int | None
    env: Mapping[str, str]
    pass_fds: tuple[int, ...] = ()  # the listening socket `up` holds for it (shared/listen.py)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def ready_url(self) -> str | None:
        if self.port is None or self.entry.ready_path is None:
            return None
        return f"http://127.0.0.1:{self.port}{self.entry.ready_path}"

    def child(self) -> ChildSpec:
        return ChildSpec(self.name, [sys.executable, "-m", self.entry.module], self.env, pass_fds=self.pass_fds)


def missing_reason(module: str) -> str | None:
    """Why `python -m module` cannot run here, or None when it can."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(f"{module}.__main__")
    except Exception as exc:  # a broken parent package: report it rather than crash `up`
        return f"{type(exc).__name__}: {exc}"
    return None if spec is not None else f"no module {module}"


def select(entries: Sequence[ServiceEntry], sandbox: bool) -> tuple[list[ServiceEntry], list[str]]:
    """The entries to run, and a note for each one skipped."""
    chosen, notes = [], []
    for entry in entries:
        if entry.sandbox_only and not sandbox:
            continue
        reason = missing_reason(entry.module)
        if reason:
            notes.append(f"{entry.name}: not started ({reason})")
            continue
        chosen.append(entry)
    return chosen, notes


@dataclass(frozen=True)
class StackPlan:
    services: list[PlannedService]
    env: Mapping[str, str]  # what every service shares, exports included


def plan(
    entries: Sequence[ServiceEntry], shared_env: Mapping[str, str], home: StackHome,
    own_env: Mapping[str, Mapping[str, str]] | None = None, listen: bool = True,
) -> StackPlan:
    """Choose every entry's port and build its environment from `shared_env`, plus
    `own_env[name]` for that entry alone (under `up`, its NATS identity and its database
    URL: no other service sees them). With `listen`, each chosen port is held listening and
    handed to its service (shared/listen.py)."""
    env = dict(shared_env)
    ports = {entry.name: _port_for(entry, entries, env, home, listen) for entry in entries}
    for entry in entries:
        for name, template in entry.exports.items():
            if not env.get(name):
                env[name] = template.format(port=ports[entry.name])
    planned = []
    health_urls = ",".join(
        f"{entry.name}=http://127.0.0.1:{ports[entry.name]}{entry.ready_path}"
        for entry in entries if entry.ready_path and ports[entry.name] and entry.name != "console"
    )
    for entry in entries:
        own = {name: _fill(template, {**env, "SERVICE_HEALTH_URLS": health_urls}, entry)
               for name, template in entry.env.items()}
        own.update((own_env or {}).get(entry.name, {}))
        if entry.port_env and ports[entry.name] is not None:
            own[entry.port_env] = str(ports[entry.name])
        listener = home.listener(entry.name)
        if listener is not None:
            own[LISTEN_FD_ENV] = str(listener.fileno())
        planned.append(PlannedService(entry, ports[entry.name], {**env, **own},
                                      (listener.fileno(),) if listener is not None else ()))
    return StackPlan(planned, env)


def _port_for(entry: ServiceEntry, entries: Sequence[ServiceEntry], env: Mapping[str, str], home: StackHome,
              listen: bool) -> int | None:
    if entry.port_env is None:
        return None
    shared = sum(1 for other in entries if other.port_env == entry.port_env) > 1
    configured = env.get(entry.port_env)
    if configured and not shared:
        try:
            return int(configured)
        except ValueError:
            raise ValueError(f"{entry.port_env} must be a port number, not {configured!r}") from None
    # `up` listens on the port itself and hands the socket down (shared/listen.py), on the
    # address the service would bind: its `<X>_HOST` beside `<X>_PORT`.
    host_env = entry.port_env.removesuffix("_PORT") + "_HOST"
    host = entry.env.get(host_env) or env.get(host_env) or "127.0.0.1"
    return home.choose_port(entry.name, entry.port or 0, host=host, listen=listen)


def _fill(template: str, env: Mapping[str, str], entry: ServiceEntry) -> str:
    try:
        return template.format_map(env)
    except KeyError as exc:
        raise ValueError(f"{entry.name}: its env refers to {exc} which nothing sets") from None
