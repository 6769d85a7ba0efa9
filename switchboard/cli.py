"""`switchboard`: the operator CLI.

Commands import what they need when they run, so `switchboard --help` works with only
the core dependencies installed, and a missing extra is reported by the command that
needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence


def _up(args: argparse.Namespace) -> int:
    from switchboard.servers import CLUSTER_VARIABLE
    from switchboard.stack import run_up

    env = dict(os.environ)
    if args.cluster:
        env[CLUSTER_VARIABLE] = "true"
    return run_up(env, colour=_wants_colour(args.colour))


def _provision(args: argparse.Namespace) -> int:
    """The stream; with DATABASE_ADMIN_URL, the services' roles (as `db-roles`); then every
    installed service's schema whose database URL is set, each migrated as that service's
    role (<SERVICE>_DATABASE_URL, else DATABASE_URL): the migrations Job."""
    from switchboard.database_roles import provision_roles, roles_from_env
    from switchboard.provisioning import (
        ProvisionError,
        provision_stream,
        run_migrations,
        service_database_url,
        settings_from,
    )
    from switchboard.registry import SERVICES

    try:
        report = asyncio.run(provision_stream(settings_from(os.environ)))
        print(f"{report} (ready)")
        if os.environ.get("DATABASE_ADMIN_URL"):
            roles = roles_from_env(os.environ, SERVICES)
            asyncio.run(provision_roles(os.environ["DATABASE_ADMIN_URL"], roles))
            print(f"database roles ready: {', '.join(role.role for role in roles)}")
        migrations = [(e.name, e.migrate, url) for e in SERVICES
                      if e.migrate and _importable(e.migrate) and (url := service_database_url(os.environ, e.name))]
        if migrations:
            asyncio.run(run_migrations(migrations))
            print(f"schemas migrated: {', '.join(name for name, _, _ in migrations)}")
    except ProvisionError as exc:
        return _fail(f"provision: {exc}")
    return 0


def _db_roles(args: argparse.Namespace) -> int:
    """One login role per database-using service, owning its schemas (the `db-roles` Job)."""
    from switchboard.database_roles import provision_roles, roles_from_env
    from switchboard.provisioning import ProvisionError
    from switchboard.registry import SERVICES

    admin_url = os.environ.get("DATABASE_ADMIN_URL")
    if not admin_url:
        return _fail("db-roles: DATABASE_ADMIN_URL is not set (a role that may create roles: docs/deploy.md)")
    try:
        roles = roles_from_env(os.environ, SERVICES)
        asyncio.run(provision_roles(admin_url, roles))
    except ProvisionError as exc:
        return _fail(f"db-roles: {exc}")
    for role in roles:
        print(f"{role.service}: role {role.role} owns schema {', '.join(role.schemas)} (password from its URL)")
    return 0


def _importable(reference: str) -> bool:
    """A migration is run only where its service is installed (each image has its own extras)."""
    import importlib.util

    module = reference.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _environment() -> dict[str, str]:
    """The environment, with NATS_URL, STREAM_NAME, the operator's NATS identity and the
    services' database URLs taken from a running `switchboard up` when they are not set
    (so operator commands work beside `make up`)."""
    from switchboard.home import StackHome

    env = dict(os.environ)
    try:
        facts = json.loads(StackHome.locate(os.environ, Path.cwd()).stack_file.read_text())
    except (OSError, ValueError):
        return env
    for variable, fact in (("NATS_URL", "nats_url"), ("STREAM_NAME", "stream")):
        if not env.get(variable) and facts.get(fact):
            env[variable] = str(facts[fact])
    # The operator's NATS identity of this run, for the stack's own server only.
    if not env.get("NATS_USER") and facts.get("nats_user") and env.get("NATS_URL") == facts.get("nats_url"):
        env["NATS_USER"], env["NATS_PASSWORD"] = str(facts["nats_user"]), str(facts.get("nats_password", ""))
    # Each service's own role (this run's password): `replay` works as audit, nothing more.
    for service, url in dict(facts.get("database_urls") or {}).items():
        env.setdefault(f"{service.upper()}_DATABASE_URL", str(url))
    return env


def _dead_letters(args: argparse.Namespace) -> int:
    from switchboard.dead_letters import DeadLetterError, dead_letters, describe, discard, operator, retry
    from switchboard.provisioning import ProvisionError, connect_once, settings_from

    async def run() -> int:
        from shared.bus import Bus

        settings = settings_from(_environment())
        nc = await connect_once(settings.nats_url, "switchboard-dead-letters", settings.nats_access())
        try:
            bus = Bus(nc, stream=settings.stream_name)
            found = await dead_letters(bus)
            if args.action == "list":
                shown = [d for d in found if args.every or d.state == "open"]
                for dead in shown:
                    print(describe(dead))
                print(f"{len(shown)} dead letter(s){'' if args.every else ' open'}; {len(found)} in all")
                return 0
            by_seq = {d.seq: d for d in found}
            chosen = [d for d in found if d.state == "open"] if args.every else []
            for seq in args.seq:
                if seq not in by_seq:
                    return _fail(f"dead-letters: {seq} is not the stream sequence of a dead letter "
                                 "(`switchboard dead-letters` lists them)")
                chosen.append(by_seq[seq])
            if not chosen:
                return _fail("dead-letters: name the dead letters by sequence, or pass --all")
            who = args.by or operator()
            failed = 0
            for dead in chosen:
                try:
                    if args.action == "retry":
                        new_seq = await retry(bus, dead, who)
                        print(f"{dead.seq}: event {dead.original_seq} stored again as {new_seq}")
                    else:
                        await discard(bus, dead, who, args.reason or "")
                        print(f"{dead.seq}: discarded")
                except DeadLetterError as exc:
                    failed += 1
                    print(f"{dead.seq}: {exc}", file=sys.stderr)
            return 1 if failed else 0
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except ProvisionError as exc:
        return _fail(f"dead-letters: {exc}")


def _replay(args: argparse.Namespace) -> int:
    from switchboard.provisioning import service_database_url

    database_url = service_database_url(_environment(), "audit")
    if not database_url:
        return _fail("replay: DATABASE_URL is not set (AUDIT_DATABASE_URL or DATABASE_URL: the Postgres the audit "
                     "service writes to, as its role)")
    try:
        from services.audit.replay import replay
    except ImportError as exc:
        return _fail(f"replay: the audit service is not installed ({exc}); run `make install`")
    from switchboard.provisioning import ProvisionError, connect_once, settings_from

    async def run() -> Any:
        from shared.bus import Bus
        from shared.eventlog_jetstream import JetStreamEventLog

        settings = settings_from(_environment())
        nc = await connect_once(settings.nats_url, "switchboard-replay", settings.nats_access())
        try:
            return await replay(JetStreamEventLog(Bus(nc, stream=settings.stream_name)), database_url)
        finally:
            await nc.close()

    try:
        report = asyncio.run(run())
    except ProvisionError as exc:
        return _fail(f"replay: {exc}")
    except Exception as exc:
        return _fail(f"replay failed: {type(exc).__name__}: {exc}")
    print(format_report(report))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from switchboard.chat import DEFAULT_BUSINESS, DEFAULT_USER, ChatTarget, run_chat
    from switchboard.home import StackHome

    home = StackHome.locate(os.environ, Path.cwd())
    try:
        facts = json.loads(home.stack_file.read_text())
    except (OSError, ValueError):
        return _fail(f"chat: no running stack in {home.root}; start one with `make up` (or set SWITCHBOARD_HOME)")
    if not facts.get("sandbox") or not facts.get("twilio_api_base_url"):
        return _fail("chat: the stack runs with real Twilio credentials; chat talks through the local emulator, "
                     "which `up` runs only in sandbox mode (TWILIO_AUTH_TOKEN unset)")
    credentials = home.sandbox_credentials()
    target = ChatTarget(
        facts["twilio_api_base_url"], credentials.account_sid, credentials.auth_token, args.business or DEFAULT_BUSINESS
    )
    return asyncio.run(run_chat(target, args.user or DEFAULT_USER, args.voice, args.timeout))


def _privacy(args: argparse.Namespace) -> int:
    from switchboard.privacy.commands import run

    return run(args, _environment(), _fail)


def _calendar_auth(args: argparse.Namespace) -> int:
    from switchboard.calendar_auth import CalendarAuthError, run_calendar_auth

    try:
        token_file = run_calendar_auth(
            args.client_secrets, args.token_file, port=args.port, open_browser=not args.no_browser,
            timeout_s=args.timeout,
        )
    except CalendarAuthError as exc:
        return _fail(f"calendar auth: {exc}")
    print(f"calendar token written to {token_file}; point CALENDAR_GOOGLE_CREDENTIALS at it")
    return 0


def format_report(report: Any) -> str:
    """A replay report as `key: value` lines, whatever shape the audit service returns."""
    if hasattr(report, "model_dump"):
        fields = report.model_dump()
    elif dataclasses.is_dataclass(report) and not isinstance(report, type):
        fields = dataclasses.asdict(report)
    elif isinstance(report, dict):
        fields = report
    else:
        return str(report)
    return "\n".join(f"{key}: {value}" for key, value in fields.items())


def _fail(message: str) -> int:
    print(f"switchboard {message}", file=sys.stderr)
    return 1


def _wants_colour(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Operate Switchboard, the WhatsApp assistant. Configuration comes from environment "
        "variables (NATS_URL, DATABASE_URL or <SERVICE>_DATABASE_URL, ...; see the README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = _command(commands, "up", _up, "run the whole system locally, in the foreground (what `make up` runs)")
    up.add_argument(
        "--colour", "--color", choices=("auto", "always", "never"), default="auto",
        help="colour the service names in the logs (default: when writing to a terminal)",
    )
    up.add_argument(
        "--cluster", action="store_true",
        help="run a local three-node JetStream cluster instead of one nats-server (stream and buckets with 3 "
        "replicas; data in .switchboard/nats-cluster); the same as SWITCHBOARD_NATS_CLUSTER=true",
    )

    chat = _command(commands, "chat", _chat, "talk to the local stack as a WhatsApp user (sandbox mode)")
    chat.add_argument("--user", help="your phone number (default: +15550001111)")
    chat.add_argument("--business", help="the business number (default: +14155238886, the Twilio sandbox's)")
    chat.add_argument("--voice", type=Path, help="send this audio file as a voice note first")
    chat.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each reply when piped")

    _command(commands, "provision", _provision, "create or update the JetStream stream from the environment (idempotent)")
    _command(commands, "replay", _replay,
             "rebuild the audit read models from the stream (needs AUDIT_DATABASE_URL or DATABASE_URL)")
    _command(commands, "db-roles", _db_roles,
             "create or correct each service's Postgres role and schema (DATABASE_ADMIN_URL, <SERVICE>_DATABASE_URL)")

    dead = _command(commands, "dead-letters", _dead_letters,
                    "list dead letters, retry them (store the event again) or discard them; every action is recorded")
    dead.add_argument("action", nargs="?", choices=("list", "retry", "discard"), default="list")
    dead.add_argument("seq", nargs="*", type=int, help="stream sequences of dead letters (as listed)")
    dead.add_argument("--all", dest="every", action="store_true",
                      help="with retry/discard: every open dead letter; with list: also those already handled")
    dead.add_argument("--reason", help="why, for discard (recorded)")
    dead.add_argument("--by", help="who asks (recorded; default: the OS user)")

    from switchboard.privacy.commands import add_commands

    add_commands(commands, _command, _privacy)

    calendar = commands.add_parser("calendar", help="calendar administration", description="calendar administration")
    calendar_commands = calendar.add_subparsers(dest="calendar_command", metavar="COMMAND", required=True)
    auth = _command(calendar_commands, "auth", _calendar_auth,
                    "authorise Switchboard on a Google account once (OAuth consent in a browser)")
    auth.add_argument("client_secrets", type=Path, help='the "Desktop app" OAuth client JSON from Google Cloud')
    auth.add_argument("--token-file", type=Path, help="where to write the token (default: CALENDAR_GOOGLE_CREDENTIALS "
                      "or .switchboard/google-calendar-token.json)")
    auth.add_argument("--port", type=int, default=0, help="local port for Google's redirect (default: any free one)")
    auth.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    auth.add_argument("--timeout", type=int, default=300, help="seconds to wait for the consent (default: %(default)s)")
    return parser


def _command(
    commands: Any, name: str, handler: Callable[[argparse.Namespace], int], help_text: str
) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C in chat or replay: no traceback
        return 130


if __name__ == "__main__":
    sys.exit(main())
