"""`switchboard status` and `switchboard timeline`: the console's facts in a terminal.

Both find NATS and Postgres the way `chat` finds the emulator: from the running
`switchboard up` (its stack.json) unless NATS_URL / DATABASE_URL say otherwise.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any, Mapping, TextIO

from shared.bus import Bus
from switchboard.dead_letters import dead_letters
from switchboard.provisioning import connect_once, settings_from


def _probe(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return "ready" if response.status == 200 else f"not ready ({response.status})"
    except urllib.error.HTTPError as exc:
        return f"not ready ({exc.code})"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"unreachable ({type(exc).__name__})"


async def status(env: Mapping[str, str], facts: Mapping[str, Any] | None, out: TextIO) -> int:
    """Services, stream, lag per stage and partition, dead letters. 1 when something is down."""
    from services.console.system import stream_report

    unhealthy = False
    if facts:
        print(f"stack: running from {facts.get('home')}", file=out)
        if facts.get("console_url"):
            print(f"console: {facts['console_url']}/", file=out)
        print("services:", file=out)
        services: dict[str, Any] = dict(facts.get("services") or {})
        probes = await asyncio.gather(*(asyncio.to_thread(_probe, s["ready_url"]) for s in services.values()
                                        if s.get("ready_url")))
        for name, state in zip([n for n, s in services.items() if s.get("ready_url")], probes, strict=True):
            unhealthy = unhealthy or state != "ready"
            print(f"  {name:<12} {state}", file=out)
    else:
        print("stack: no `switchboard up` found here; using NATS_URL", file=out)
    settings = settings_from(env)
    nc = await connect_once(settings.nats_url, "switchboard-status", settings.nats_access())
    try:
        bus = Bus(nc, stream=settings.stream_name)
        report = await stream_report(bus)
        found = await dead_letters(bus)
    finally:
        await nc.close()
    for problem in report.errors:
        print(f"problem: {problem}", file=out)
        unhealthy = True
    print(f"stream {report.stream}: {report.messages} events, {report.bytes / 1048576:.1f} MiB, "
          f"last sequence {report.last_seq}", file=out)
    print("lag per stage (events pending + unacknowledged):", file=out)
    for stage, lag in report.lag_by_stage().items():
        behind = [c for c in report.consumers if c.stage == stage and (c.pending or c.ack_pending)]
        where = ", ".join(f"p{c.partition}: {c.pending + c.ack_pending}" for c in behind if c.partition is not None)
        print(f"  {stage:<24} {lag:>6}{'  (' + where + ')' if where else ''}", file=out)
    still_open = sum(1 for d in found if d.state == "open")
    print(f"dead letters: {still_open} open, {len(found)} in all"
          f"{' (switchboard deadletters list)' if still_open else ''}", file=out)
    return 1 if unhealthy else 0


async def timeline(database_url: str, who: str, out: TextIO, mask: bool = False, limit: int = 1000) -> int:
    """Every recorded event of the conversations with `who` (a number or a conversation id)."""
    from services.console.masking import Privacy
    from services.console.readmodels import AuditReader, create_engine
    from services.console.timeline import entries

    reader = AuditReader(create_engine(database_url, pool_size=1))
    try:
        found = await reader.conversations(who, exact_only=True, limit=20)
        if not found:
            print(f"no conversation with {who} in audit (a whole number like +15550001111, "
                  "or a conversation id)", file=out)
            return 1
        privacy = Privacy(reveal=not mask)
        for summary in found:
            print(f"conversation {summary.conversation}: {privacy.number(summary.user_number)} with "
                  f"{privacy.number(summary.business_number)}, {summary.state}, "
                  f"{summary.inbound_count} in / {summary.outbound_count} out", file=out)
            for entry in entries(await reader.events(summary.conversation, limit=limit), privacy):
                print(entry.as_text(), file=out)
    finally:
        await reader.engine.dispose()
    return 0


def stack_facts(text: str) -> dict[str, Any] | None:
    try:
        facts = json.loads(text)
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None
