"""The emulator's HTTP API: Twilio's Messages API subset, media, and sandbox controls.

Twilio routes (`/2010-04-01/...`) speak Twilio's shapes and error codes so the official
`twilio` library works against them unchanged. Routes under `/_sandbox/` are the
emulator's own: inject faults, post an inbound message, read what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchboard.sandbox.errors import TwilioError
from switchboard.sandbox.state import SandboxState, new_sid, rfc2822
from switchboard.sandbox.webhooks import WebhookSender

MAX_BODY = 1600
_ADDRESS = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")


def twilio_length(text: str) -> int:
    """Twilio counts UTF-16 code units: an emoji outside the BMP counts as two."""
    return len(text.encode("utf-16-le")) // 2


class Emulator:
    """The routes, bound to one account's state and a webhook sender."""

    def __init__(self, state: SandboxState, sender: WebhookSender, webhook_url: str | None, public_url: str):
        self.state = state
        self.sender = sender
        self.webhook_url = webhook_url
        self.public_url = public_url
        self.tasks: set[asyncio.Task] = set()

    def check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        valid = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, self.state.account_sid)
            and secrets.compare_digest(password, self.state.auth_token)
        )
        if not valid:
            raise TwilioError(401, 20003)

    def check_account(self, request: Request) -> None:
        self.check_auth(request)
        if request.path_params["account"] != self.state.account_sid:
            raise TwilioError(404, 20404)

    async def create_message(self, request: Request) -> Response:
        self.check_account(request)
        self.state.requests_seen += 1
        if self.state.hold_after is not None and self.state.requests_seen > self.state.hold_after:
            self.state.held += 1
            await self.state.released.wait()
            raise TwilioError(500, 20500)  # answered only once released, and never accepted
        fault = self.state.next_fault()
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_ms / 1000)
            elif fault.kind == "429":
                raise TwilioError(429, 20429)
            elif fault.kind == "500":
                raise TwilioError(500, 20500)
            elif fault.kind == "63016":
                raise TwilioError(400, 63016)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        message = self._validated(form)
        await self.state.record(message)
        callback = form.get("StatusCallback")
        if callback:
            task = asyncio.create_task(self.sender.status_callbacks(message, callback))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if fault is not None and fault.kind == "slow_answer":
            await asyncio.sleep(fault.latency_ms / 1000)
        return JSONResponse(self._resource(message), status_code=201)

    async def list_messages(self, request: Request) -> Response:
        """Twilio's Messages list, newest first, filtered by `To` and `From`; one page of
        `PageSize` (50 by default, at most 1000), as the `twilio` library reads it."""
        self.check_account(request)
        query = request.query_params
        try:
            size = min(max(int(query.get("PageSize", "50")), 1), 1000)
        except ValueError:
            raise TwilioError(400, 20001, "PageSize must be a number") from None
        found = [m for m in reversed(self.state.messages)
                 if query.get("To", m["to"]) == m["to"] and query.get("From", m["from"]) == m["from"]]
        uri = f"/2010-04-01/Accounts/{self.state.account_sid}/Messages.json?PageSize={size}&Page=0"
        return JSONResponse({
            "messages": [self._resource(m) for m in found[:size]], "page": 0, "page_size": size, "start": 0,
            "end": max(0, min(size, len(found)) - 1), "uri": uri, "first_page_uri": uri,
            "next_page_uri": None, "previous_page_uri": None,
        })

    def _validated(self, form: dict[str, str]) -> dict[str, Any]:
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            raise TwilioError(400, 21604)
        if not from_:
            raise TwilioError(400, 21603)
        if not _ADDRESS.match(to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not _ADDRESS.match(from_):
            raise TwilioError(400, 21606)
        content_sid = form.get("ContentSid", "")
        if content_sid:
            body = self.state.rules.render(content_sid, form.get("ContentVariables", ""))
        elif not body and not form.get("MediaUrl"):
            raise TwilioError(400, 21602)
        else:
            self.state.rules.check_window(to)
        if twilio_length(body) > MAX_BODY:
            raise TwilioError(400, 21617)
        callback = form.get("StatusCallback")
        if callback and not callback.startswith(("http://", "https://")):
            raise TwilioError(400, 21609)
        now = rfc2822(datetime.now(UTC))
        return {
            "sid": new_sid("SM"), "from": from_, "to": to, "body": body, "status": "queued",
            "content_sid": content_sid or None,
            "status_callback": callback, "date_created": now, "date_updated": now,
            "received_at": time.time(),  # the emulator's own precise clock, for benchmarks
        }

    def _resource(self, message: dict[str, Any]) -> dict[str, Any]:
        sid = message["sid"]
        return {
            "account_sid": self.state.account_sid, "api_version": "2010-04-01", "body": message["body"],
            "date_created": message["date_created"], "date_updated": message["date_updated"],
            "date_sent": None, "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": message["from"], "messaging_service_sid": None, "num_media": "0",
            "num_segments": str(max(1, -(-twilio_length(message["body"]) // 153))), "price": None,
            "price_unit": "USD", "sid": sid, "status": message["status"], "to": message["to"],
            "uri": f"/2010-04-01/Accounts/{self.state.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.state.account_sid}/Messages/{sid}/Media.json"},
        }

    async def fetch_message(self, request: Request) -> Response:
        self.check_account(request)
        message = self.state.by_sid.get(request.path_params["sid"])
        if message is None:
            raise TwilioError(404, 20404)
        return JSONResponse(self._resource(message))

    async def media(self, request: Request) -> Response:
        self.check_auth(request)
        item = self.state.media.get(request.url.path)
        if item is None:
            raise TwilioError(404, 20404)
        return Response(item.content, media_type=item.content_type)

    async def control_faults(self, request: Request) -> Response:
        self.check_auth(request)
        spec = await request.json()
        try:
            self.state.inject(str(spec.get("kind")), int(spec.get("count", 1)), float(spec.get("latency_ms", 0)))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def control_inbound(self, request: Request) -> Response:
        """Post a user's message to the gateway: JSON {from, to, body, media: [{content_type, data}]}."""
        self.check_auth(request)
        if not self.webhook_url:
            return JSONResponse({"error": "no webhook URL configured"}, status_code=409)
        spec = await request.json()
        if isinstance(spec, dict) and isinstance(spec.get("from"), str):
            self.state.rules.user_wrote(spec["from"])
        try:
            media = [(base64.b64decode(m["data"]), m["content_type"]) for m in spec.get("media", [])]
            status, sid = await self.sender.inbound(
                self.webhook_url, self.public_url, spec["from"], spec["to"], spec.get("body", ""), media,
                spec.get("profile_name", "Sandbox User"),
            )
        except (KeyError, binascii.Error, TypeError) as exc:
            return JSONResponse({"error": f"bad inbound message: {exc}"}, status_code=400)
        return JSONResponse({"message_sid": sid, "gateway_status": status}, status_code=200 if status == 200 else 502)

    async def control_clock(self, request: Request) -> Response:
        """Move the emulator's clock: JSON {"offset_s": seconds} (absolute, from real time)."""
        self.check_auth(request)
        spec = await request.json()
        try:
            self.state.rules.offset_s = float(spec["offset_s"])
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"error": "send {\"offset_s\": <seconds>}"}, status_code=400)
        return JSONResponse({"offset_s": self.state.rules.offset_s})

    async def control_window(self, request: Request) -> Response:
        """The window mode: JSON {"mode": "known" | "strict" | "off"}."""
        self.check_auth(request)
        spec = await request.json()
        mode = spec.get("mode") if isinstance(spec, dict) else None
        if mode not in ("known", "strict", "off"):
            return JSONResponse({"error": "mode is one of known, strict, off"}, status_code=400)
        self.state.rules.mode = mode
        return JSONResponse({"mode": mode})

    async def control_content(self, request: Request) -> Response:
        """Add a template (JSON {friendly_name, language, body}) or list them (GET)."""
        self.check_auth(request)
        rules = self.state.rules
        if request.method == "POST":
            spec = await request.json()
            try:
                template = rules.add_template(str(spec.get("friendly_name", "")), str(spec.get("language", "en")),
                                              str(spec.get("body", "")), spec.get("sid"))
            except (ValueError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(vars(template), status_code=201)
        return JSONResponse({"contents": [vars(t) for t in rules.templates.values()]})

    async def control_messages(self, request: Request) -> Response:
        """Messages accepted for `to`, after index `after`; waits up to `wait` seconds for one."""
        self.check_auth(request)
        to = request.query_params.get("to", "")
        after = int(request.query_params.get("after", "0"))
        wait = min(float(request.query_params.get("wait", "0")), 30.0)
        found = await self.state.wait_for(to, after, wait) if wait else self.state.sent_to(to, after)
        return JSONResponse({"messages": found})


def create_emulator_app(emulator: Emulator) -> Starlette:
    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except TwilioError as error:
                return error.response()
        return endpoint

    base = "/2010-04-01/Accounts/{account}"
    routes = [
        Route(f"{base}/Messages.json", guarded(emulator.create_message), methods=["POST"]),
        Route(f"{base}/Messages.json", guarded(emulator.list_messages), methods=["GET"]),
        Route(f"{base}/Messages/{{sid}}.json", guarded(emulator.fetch_message), methods=["GET"]),
        Route(f"{base}/Messages/{{message}}/Media/{{media}}", guarded(emulator.media), methods=["GET"]),
        Route("/_sandbox/faults", guarded(emulator.control_faults), methods=["POST"]),
        Route("/_sandbox/inbound", guarded(emulator.control_inbound), methods=["POST"]),
        Route("/_sandbox/messages", guarded(emulator.control_messages), methods=["GET"]),
        Route("/_sandbox/clock", guarded(emulator.control_clock), methods=["POST"]),
        Route("/_sandbox/window", guarded(emulator.control_window), methods=["POST"]),
        Route("/_sandbox/content", guarded(emulator.control_content), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)
