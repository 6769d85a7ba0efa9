"""Building the privacy tools' dependencies from a NATS connection and DATABASE_URL."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from shared.bus import Bus
from shared.clock import SYSTEM_CLOCK, Clock
from shared.eventlog_jetstream import JetStreamEventLog
from shared.privacy import privacy_salt
from shared.privacy_jetstream import StreamData
from switchboard.privacy.erasure import PrivacyDeps
from switchboard.privacy.stores import STORES, StoreContext, build_stores


@contextlib.asynccontextmanager
async def privacy_deps(bus: Bus, database_url: str | None, environ: dict[str, str],
                       clock: Clock = SYSTEM_CLOCK, entries: tuple = STORES) -> AsyncIterator[PrivacyDeps]:
    events = JetStreamEventLog(bus)
    ctx = StoreContext(events=events, js=bus.js, database_url=database_url, environ=environ)
    try:
        stores = build_stores(ctx, entries)
        audit = next((s for s in stores if s.name == "audit"), None)

        async def known(number: str) -> set[str]:
            if audit is None:
                return set()
            found: set[str] = await audit.conversations_of(number)  # type: ignore[attr-defined]
            from shared.ids import conversation_id

            found |= {conversation_id(b, number) for b in await audit.business_numbers()}  # type: ignore[attr-defined]
            return found

        yield PrivacyDeps(events=events, stores=stores, stream=StreamData(events, bus.js), salt=privacy_salt(environ),
                          known_conversations=known, clock=clock)
    finally:
        await ctx.close()
