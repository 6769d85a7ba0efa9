"""The clock and the user's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from pydantic import Field

from services.agent.timezones import resolve_place
from services.agent.tools.base import AgentTool, ToolArgs, ToolContext, ToolFailed, ToolResult, as_json


class NoArgs(ToolArgs):
    pass


class SetTimeZoneArgs(ToolArgs):
    place: str = Field(description="where the user is: a city, a country or an IANA zone, e.g. 'Madrid'",
                       min_length=1, max_length=100)


def local_now(zone: str, now: datetime | None = None) -> dict[str, str]:
    current = (now or datetime.now(ZoneInfo(zone))).astimezone(ZoneInfo(zone))
    return {"date": f"{current:%A %d %B %Y}", "time": f"{current:%H:%M}", "time_zone": zone,
            "iso": current.isoformat(timespec="minutes")}


def build_clock_tools(choose_zone: Callable[[str, str], Awaitable[None]]) -> list[AgentTool]:
    """`choose_zone(conversation, zone)` stores the user's new zone."""

    async def current_time(_: NoArgs, ctx: ToolContext) -> str:
        return as_json(local_now(ctx.time_zone))

    async def set_time_zone(args: SetTimeZoneArgs, ctx: ToolContext) -> ToolResult:
        zone = resolve_place(args.place)
        if zone is None:
            raise ToolFailed(f"I don't know the time zone of {args.place!r}; a big city nearby or the country would help.")
        await choose_zone(ctx.conversation, zone)
        return ToolResult(as_json({"time_zone": zone, "now": local_now(zone)}), state={"time_zone": zone})

    return [
        AgentTool("current_time", "The current date and time in the user's time zone.", NoArgs, current_time),
        AgentTool("set_time_zone", "Change the user's time zone when they say where they are now.",
                  SetTimeZoneArgs, set_time_zone),
    ]
