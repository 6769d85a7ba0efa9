"""The console's pages: conversations, a conversation's live timeline, dead letters, system."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from services.console.deps import ConsoleDeps
from services.console.system import nats_replicas, probe_health, service_counters, stream_report
from services.console.timeline import entries
from shared.ids import is_conversation_id
from shared.logging import mask_phone_numbers
from switchboard.dead_letters import DeadLetter, DeadLetterError, dead_letters, discard, retry


async def conversations(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    search = request.query_params.get("q", "")[:64]
    privacy = deps.privacy(operator)
    found = await deps.reader.conversations(search, exact_only=not privacy.reveal)
    rows = [{"summary": c, "user": privacy.number(c.user_number), "business": privacy.number(c.business_number)}
            for c in found]
    # A masked operator's search is not echoed back: the page shows no number at all.
    shown = search if privacy.reveal else ""
    return deps.render(request, "conversations.html", operator, rows=rows, search=shown, searched=bool(search))


async def conversation(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    conversation_id = request.path_params["conversation"]
    if not is_conversation_id(conversation_id):
        return deps.render(request, "missing.html", operator, status_code=404, what="conversation")
    summary = await deps.reader.conversation(conversation_id)
    if summary is None:
        return deps.render(request, "missing.html", operator, status_code=404, what="conversation")
    privacy = deps.privacy(operator)
    rows = await deps.reader.events(conversation_id)
    found = entries(rows, privacy)
    return deps.render(
        request, "conversation.html", operator, summary=summary, entries=found,
        user=privacy.number(summary.user_number), business=privacy.number(summary.business_number),
        last_seq=rows[-1]["stream_seq"] if rows else 0,
    )


async def conversation_stream(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    """Server-sent events: each new timeline entry as rendered HTML (`event: entry`)."""
    conversation_id = request.path_params["conversation"]
    if not is_conversation_id(conversation_id):
        return Response("no such conversation\n", status_code=404)
    try:  # a reconnecting EventSource says where it got to
        after = max(0, int(request.query_params.get("after", "0")), int(request.headers.get("last-event-id", "0")))
    except ValueError:
        after = 0
    privacy = deps.privacy(operator)
    template = deps.templates.get_template("_entry.html")

    async def stream() -> AsyncIterator[str]:
        nonlocal after
        times: dict[str, Any] = {}
        if after:  # the times of what the page already shows, for the latency of what comes next
            entries(await deps.reader.events(conversation_id, 0, limit=5000), privacy, times)
        yield "retry: 2000\n\n"
        while not deps.stop.is_set() and not await request.is_disconnected():
            rows = await deps.reader.events(conversation_id, after)
            for entry in entries(rows, privacy, times):
                html = template.render(entry=entry)
                yield f"id: {entry.seq}\nevent: entry\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            if rows:
                after = rows[-1]["stream_seq"]
            else:
                yield ": idle\n\n"
            await asyncio.sleep(deps.settings.poll_s)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _dead_row(dead: DeadLetter, reveal: bool) -> dict[str, Any]:
    data = dead.event.data
    error = data.error[:500] if reveal else mask_phone_numbers(data.error[:500])
    return {"dead": dead, "data": data, "error": error}


async def dead_letter_list(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    if deps.bus is None or not deps.bus.connected:
        return deps.render(request, "dead_letters.html", operator, rows=[], problem="not connected to NATS yet",
                           message=request.query_params.get("message", ""))
    found = await dead_letters(deps.bus)
    show_all = request.query_params.get("all") == "1"
    reveal = deps.privacy(operator).reveal
    rows = [_dead_row(d, reveal) for d in reversed(found) if show_all or d.state == "open"]
    return deps.render(request, "dead_letters.html", operator, rows=rows, problem="", show_all=show_all,
                       total=len(found), message=request.query_params.get("message", "")[:300])


async def dead_letter_action(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    form = await request.form()
    deps.auth.check_csrf(request, operator, str(form.get("csrf_token", "")))
    action, seq = request.path_params["action"], request.path_params["seq"]
    if action not in ("retry", "discard"):
        return Response("no such action\n", status_code=404)
    if deps.bus is None or not deps.bus.connected:
        return _back(f"{action} {seq}: not connected to NATS; try again")
    chosen = next((d for d in await dead_letters(deps.bus) if d.seq == seq), None)
    if chosen is None:
        return _back(f"{seq} is not the stream sequence of a dead letter")
    try:
        if action == "retry":
            new_seq = await retry(deps.bus, chosen, operator)
            message = f"dead letter {seq}: event {chosen.original_seq} stored again as {new_seq}"
        else:
            await discard(deps.bus, chosen, operator, str(form.get("reason", ""))[:500])
            message = f"dead letter {seq}: discarded"
    except DeadLetterError as exc:
        message = f"dead letter {seq}: {exc}"
    return _back(message)


def _back(message: str) -> Response:
    return RedirectResponse("/dead-letters?" + urlencode({"message": message}), status_code=303)


async def system(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    settings = deps.settings
    health, replicas, counters = await asyncio.gather(
        probe_health(deps.http, settings.health_targets()), nats_replicas(deps.http, settings.nats_monitor_url),
        service_counters(deps.http, settings.health_targets()),
    )
    report = None
    open_dead = None
    if deps.bus is not None and deps.bus.connected:
        report = await stream_report(deps.bus)
        open_dead = sum(1 for d in await dead_letters(deps.bus) if d.state == "open")
    try:
        await deps.reader.ping()
        database = "ready"
    except Exception as exc:
        database = f"unreachable ({type(exc).__name__})"
    return deps.render(request, "system.html", operator, report=report, health=health, replicas=replicas,
                       open_dead=open_dead, database=database, nats=bool(deps.bus and deps.bus.connected),
                       counters=counters)


ROUTES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("/", conversations, ("GET",)),
    ("/conversations/{conversation}", conversation, ("GET",)),
    ("/conversations/{conversation}/stream", conversation_stream, ("GET",)),
    ("/dead-letters", dead_letter_list, ("GET",)),
    ("/dead-letters/{seq:int}/{action:str}", dead_letter_action, ("POST",)),
    ("/system", system, ("GET",)),
]
