"""The user's rights over their data: asking for it to be erased or exported.

Neither tool touches a store: each publishes a request (`ErasureRequested`,
`ExportRequested`) on the user's conversation, once per call (the call key is the
`Nats-Msg-Id`), and the privacy worker carries it out. Erasure needs the user's explicit
confirmation in a later message: without `confirmed` the tool only says what to ask.
The export is never sent over WhatsApp: the operator is told and hands it over.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from services.agent.tools.base import AgentTool, ToolArgs, ToolContext, ToolFailed
from shared.eventlog import EventLog
from shared.events import ErasureRequested, ExportRequested, PrivacyRequestData

ERASE = "erase_my_data"
EXPORT = "export_my_data"


class EraseArgs(ToolArgs):
    confirmed: bool = Field(False, description="true only when the user, in a message after being asked, "
                                               "explicitly confirmed they want everything erased")


class ExportArgs(ToolArgs):
    pass


def _request(ctx: ToolContext) -> PrivacyRequestData:
    if not ctx.business:
        raise ToolFailed("I can't file that request from here; please ask the operator.")
    return PrivacyRequestData(from_=ctx.owner, to=ctx.business, requested_at=datetime.now(UTC))


def build_privacy_tools(events: EventLog) -> list[AgentTool]:
    async def erase(args: EraseArgs, ctx: ToolContext) -> str:
        if not args.confirmed:
            return ("not_done: ask the user to confirm. Tell them this erases every message, voice note, calendar "
                    "event and memory we hold about them, cannot be undone, and that they must reply to confirm.")
        await events.publish(ErasureRequested(conversation=ctx.conversation, correlation_id=ctx.correlation_id,
                                              causation_id=ctx.causation_id, data=_request(ctx)),
                             msg_id=f"privacy:{ctx.call_key}")
        return "requested: their data is being erased now; anything they write from now on starts a new conversation."

    async def export(_: ExportArgs, ctx: ToolContext) -> str:
        await events.publish(ExportRequested(conversation=ctx.conversation, correlation_id=ctx.correlation_id,
                                             causation_id=ctx.causation_id, data=_request(ctx)),
                             msg_id=f"privacy:{ctx.call_key}")
        return ("requested: the operator will prepare a file with everything we hold about them and contact them "
                "to hand it over; it is not sent over WhatsApp.")

    return [
        AgentTool(ERASE, "Erase everything held about the user (messages, voice notes, calendar events, memory). "
                  "Call without `confirmed` first, ask the user, and with `confirmed` only after they confirm.",
                  EraseArgs, erase),
        AgentTool(EXPORT, "Ask the operator to prepare a copy of everything held about the user.", ExportArgs, export),
    ]
