"""The web chat (sandbox mode): talk to the local stack as a WhatsApp user in a browser.

Sending goes through the Twilio emulator (`/_sandbox/inbound`), which signs the webhook
exactly as Twilio would; what comes back is read from audit's `messages` (so the ticks
are the delivery statuses the emulator's status callbacks reported to the gateway).
Each browser tab can be a different user (`/chat?user=+15550002222`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any, AsyncIterator

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from services.console.deps import ConsoleDeps
from shared.ids import conversation_id

DEFAULT_USER = "+15550001111"
DEFAULT_BUSINESS = "+14155238886"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")
_ALLOWED_MEDIA = ("audio/", "image/", "video/", "application/pdf")


def _number(value: str | None, default: str) -> str | None:
    value = (value or default).strip().replace(" ", "")
    return value if _NUMBER.match(value) else None


async def chat_page(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    if not deps.settings.chat_enabled:
        return deps.render(request, "missing.html", operator, status_code=404,
                           what="web chat (it runs only in sandbox mode, with the local Twilio emulator)")
    user = _number(request.query_params.get("user"), DEFAULT_USER) or DEFAULT_USER
    return deps.render(request, "chat.html", operator, user=user, business=DEFAULT_BUSINESS)


async def chat_send(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    if not deps.settings.chat_enabled:
        return JSONResponse({"error": "the web chat runs only in sandbox mode"}, status_code=404)
    form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    deps.auth.check_csrf(request, operator, str(form.get("csrf_token", "")))
    user = _number(str(form.get("user", "")), DEFAULT_USER)
    if user is None:
        return JSONResponse({"error": "the user must be a number like +15550001111"}, status_code=400)
    body = str(form.get("body", ""))[:4096]
    media = []
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_UPLOAD_BYTES + 1)
        content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
        if len(content) > MAX_UPLOAD_BYTES:
            return JSONResponse({"error": "the file is larger than 16 MB (WhatsApp's limit)"}, status_code=413)
        if not content_type.startswith(_ALLOWED_MEDIA):
            return JSONResponse({"error": f"{content_type} is not a voice note, image, video or PDF"}, status_code=415)
        media.append({"content_type": content_type, "data": base64.b64encode(content).decode()})
    if not body.strip() and not media:
        return JSONResponse({"error": "write something or attach a file"}, status_code=400)
    settings = deps.settings
    try:
        response = await deps.http.post(
            f"{str(settings.twilio_api_base_url).rstrip('/')}/_sandbox/inbound",
            auth=(str(settings.twilio_account_sid), str(settings.twilio_auth_token)),
            json={"from": user, "to": DEFAULT_BUSINESS, "body": body, "media": media, "profile_name": "Web chat"},
            timeout=30.0,
        )
        answer = response.json()
    except Exception as exc:
        return JSONResponse({"error": f"the emulator did not answer ({type(exc).__name__})"}, status_code=502)
    return JSONResponse(answer, status_code=200 if response.status_code == 200 else 502)


async def chat_stream(request: Request, deps: ConsoleDeps, operator: str) -> Response:
    """Server-sent events: `event: messages`, a JSON list of the messages that are new or
    changed (status) since the last one sent, inbound and outbound."""
    if not deps.settings.chat_enabled:
        return Response("the web chat runs only in sandbox mode\n", status_code=404)
    user = _number(request.query_params.get("user"), DEFAULT_USER) or DEFAULT_USER
    conversation = conversation_id(DEFAULT_BUSINESS, user)

    async def stream() -> AsyncIterator[str]:
        seen: dict[str, tuple[Any, ...]] = {}
        yield "retry: 2000\n\n"
        while not deps.stop.is_set() and not await request.is_disconnected():
            changed = []
            for message in await deps.reader.messages(conversation):
                key = (message["status"], message["body"], message["error_code"])
                if seen.get(message["message_sid"]) != key:
                    seen[message["message_sid"]] = key
                    changed.append(_public(message))
            if changed:
                yield f"event: messages\ndata: {json.dumps(changed)}\n\n"
            else:
                yield ": idle\n\n"
            await asyncio.sleep(min(deps.settings.poll_s, 0.5))

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _public(message: dict[str, Any]) -> dict[str, Any]:
    at = message["created_at"] or message["updated_at"]
    return {
        "sid": message["message_sid"], "direction": message["direction"], "body": message["body"] or "",
        "media_count": message["media_count"] or 0, "status": message["status"], "error_code": message["error_code"],
        "part": message["part"], "parts": message["parts"], "at": at.isoformat() if at else None,
    }


ROUTES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("/chat", chat_page, ("GET",)),
    ("/chat/send", chat_send, ("POST",)),
    ("/chat/stream", chat_stream, ("GET",)),
]
