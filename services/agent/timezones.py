"""Each user's time zone: a default from their phone number, changes stored in Postgres.

The default is `shared.phones.zone_of_number`, the rule the calendar uses too; the
configured default is used when the number says nothing at all.
"""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import available_timezones

import pytz
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from services.agent.memory import outage_guard
from shared.health import DependencyHealth
from shared.phones import MOST_POPULOUS_ZONE, is_zone, zone_of_number

COUNTRY_ALIASES = {"uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "britain": "GB",
                   "usa": "US", "us": "US", "america": "US", "the states": "US", "holland": "NL"}


@lru_cache(maxsize=1)
def _place_index() -> dict[str, str]:
    """Lower-case names people use for places -> IANA zone."""
    index: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if "/" in zone or zone == "UTC":  # not the legacy one-word links ("Japan", "Cuba")
            index.setdefault(zone.lower(), zone)
    for zone in pytz.common_timezones:  # canonical zones win city names
        if "/" in zone:
            city = zone.rsplit("/", 1)[1].replace("_", " ").lower()
            index.setdefault(city, zone)
    for code, country in pytz.country_names.items():
        zones = pytz.country_timezones.get(code) or []
        main = MOST_POPULOUS_ZONE.get(code) or (zones[0] if zones else None)
        if main:
            index.setdefault(country.lower(), main)
    for alias, code in COUNTRY_ALIASES.items():
        index.setdefault(alias, MOST_POPULOUS_ZONE.get(code) or pytz.country_timezones[code][0])
    return index


def resolve_place(text: str) -> str | None:
    """An IANA zone for "Madrid", "Europe/Madrid", "New York, USA" or "Japan"; None if unknown."""
    index = _place_index()
    cleaned = re.sub(r"[^\w/+\-, ]", " ", text.strip().lower())
    candidates = [cleaned.strip()] + [part.strip() for part in cleaned.split(",")]
    words = cleaned.replace(",", " ").split()
    # Longest runs of words first: "new york city" finds "new york" before "york".
    for size in range(len(words), 0, -1):
        candidates += [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    for candidate in candidates:
        candidate = candidate.removeprefix("the ").strip()
        if candidate in index:
            return index[candidate]
        if candidate.replace(" ", "_") in index:
            return index[candidate.replace(" ", "_")]
    return None


class TimeZoneStore:
    """The time zones users chose, one row per conversation, in the agent's schema."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[DictRow]], default_zone: str, health: DependencyHealth | None = None):
        self.pool = pool
        self.default_zone = default_zone
        self.health = health

    async def chosen(self, conversation: str) -> str | None:
        with outage_guard(self.health):  # an outage: DependencyUnavailable, not a failed input
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT time_zone FROM agent.user_time_zones WHERE conversation = %s", (conversation,)
                )
                row = await cur.fetchone()
        return row["time_zone"] if row else None

    async def zone_for(self, conversation: str, user: str) -> str:
        """The user's zone: the one they chose, else their number's, else the default."""
        return await self.chosen(conversation) or zone_of_number(user) or self.default_zone

    async def choose(self, conversation: str, time_zone: str) -> None:
        if not is_zone(time_zone):
            raise ValueError(f"not an IANA time zone: {time_zone!r}")
        with outage_guard(self.health):
            async with self.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO agent.user_time_zones (conversation, time_zone, updated_at) VALUES (%s, %s, now()) "
                    "ON CONFLICT (conversation) DO UPDATE SET time_zone = EXCLUDED.time_zone, updated_at = now()",
                    (conversation, time_zone),
                )
