"""`switchboard erase`, `export` and `retention`: the operator's side of a user's rights."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

from switchboard.provisioning import ProvisionError, connect_once, settings_from

E164 = re.compile(r"\+[1-9]\d{6,14}")


def _check_number(number: str) -> str:
    from shared.ids import normalise_address

    value = normalise_address(number)
    if not E164.fullmatch(value):
        raise ValueError(f"{number!r} is not a phone number in E.164 form (+<country><number>)")
    return value


async def _with_deps(environ: dict[str, str], name: str, work: Callable[[Any], Awaitable[int]]) -> int:
    from shared.bus import Bus
    from switchboard.privacy.session import privacy_deps

    settings = settings_from(environ)
    nc = await connect_once(settings.nats_url, f"switchboard-{name}")
    try:
        async with privacy_deps(Bus(nc, stream=settings.stream_name), environ.get("DATABASE_URL"), environ) as deps:
            return await work(deps)
    finally:
        await nc.close()


def run(args: argparse.Namespace, environ: dict[str, str], fail: Callable[[str], int]) -> int:
    from shared.logging import configure_logging
    from switchboard.dead_letters import operator

    command = args.command
    level = environ.get("LOG_LEVEL", "info").lower()
    configure_logging(f"switchboard-{command}", level if level in ("debug", "info", "warning", "error") else "info",
                      "console")  # on stderr: stdout is the result
    try:
        number = _check_number(args.number) if command in ("erase", "export") else ""
    except ValueError as exc:
        return fail(f"{command}: {exc}")
    from switchboard.privacy.stores import database_services
    from switchboard.provisioning import service_database_url

    missing = [s for s in database_services() if not service_database_url(environ, s)]
    if missing:
        return fail(f"{command}: DATABASE_URL is not set (or {', '.join(s.upper() + '_DATABASE_URL' for s in missing)}:"
                    " every service's tables are visited, each with its own role)")
    who = getattr(args, "by", None) or operator()

    async def work(deps: Any) -> int:
        if command == "erase":
            from switchboard.privacy.erasure import erase_user

            record = await erase_user(deps, number, who, args.business or ())
            print(json.dumps({k: v for k, v in record.__dict__.items() if k != "conversations"}, indent=2))
            return 0
        if command == "export":
            from switchboard.privacy.export import export_user

            path = await export_user(deps, number, who, Path(args.out or environ.get("PRIVACY_EXPORT_DIR", "exports")),
                                     args.business or ())
            print(f"export written to {path} (hand it to the user through a channel where you can check who they are)")
            return 0
        from switchboard.privacy.retention import RetentionLimits, sweep_all

        removed = await sweep_all(list(deps.stores), RetentionLimits.from_env(environ), deps.clock, deps.events)
        print(json.dumps(removed))
        return 0

    try:
        return asyncio.run(_with_deps(environ, command, work))
    except (ProvisionError, ValueError) as exc:
        return fail(f"{command}: {exc}")


def add_commands(commands: Any, command: Callable[..., argparse.ArgumentParser], handler: Callable[..., int]) -> None:
    erase = command(commands, "erase", handler, "erase everything held about a user (resumable; leaves a record "
                    "with no personal data)")
    erase.add_argument("number", help="the user's phone number, +<country><number>")
    export = command(commands, "export", handler, "write a JSON file with everything held about a user")
    export.add_argument("number", help="the user's phone number, +<country><number>")
    export.add_argument("--out", help="directory for the file (default: PRIVACY_EXPORT_DIR or ./exports)")
    for sub in (erase, export):
        sub.add_argument("--business", action="append", help="a business number they wrote to (repeatable; "
                         "the ones audit knows are always included)")
        sub.add_argument("--by", help="who asks (recorded; default: the OS user)")
    command(commands, "retention", handler, "drop what is older than the RETENTION_* limits, once (the privacy "
            "worker does it continuously)")

