"""The emulator's outgoing side: signed webhooks and status callbacks, as Twilio sends them."""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import httpx
from twilio.request_validator import RequestValidator

from switchboard.sandbox.state import SandboxState, new_sid

STATUS_SEQUENCE = ("sent", "delivered", "read")


def _channel(address: str) -> str:
    return address if address.startswith("whatsapp:") else f"whatsapp:{address}"


class WebhookSender:
    """Posts forms to our own endpoints, signed with the account's auth token."""

    def __init__(self, state: SandboxState, client: httpx.AsyncClient, status_delay_s: float = 0.05):
        self.state = state
        self.client = client
        self.validator = RequestValidator(state.auth_token)
        self.status_delay_s = status_delay_s
        self.callback_failures = 0

    async def post_signed(self, url: str, form: dict[str, str]) -> httpx.Response:
        signature = self.validator.compute_signature(url, form)
        return await self.client.post(url, data=form, headers={"X-Twilio-Signature": signature})

    async def status_callbacks(self, message: dict[str, Any], url: str) -> None:
        """sent → delivered → read, each a signed POST to the message's StatusCallback."""
        for status in STATUS_SEQUENCE:
            await asyncio.sleep(self.status_delay_s)
            await self.state.set_status(message["sid"], status)
            form = {
                "MessageSid": message["sid"], "SmsSid": message["sid"], "AccountSid": self.state.account_sid,
                "From": message["from"], "To": message["to"], "MessageStatus": status, "SmsStatus": status,
                "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp",
            }
            await self._deliver(url, form)

    async def _deliver(self, url: str, form: dict[str, str], attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                response = await self.post_signed(url, form)
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2 * 2**attempt)
        self.callback_failures += 1

    async def inbound(
        self, webhook_url: str, media_base_url: str, user: str, business: str, body: str = "",
        media: Sequence[tuple[bytes, str]] = (), profile_name: str = "Sandbox User",
    ) -> tuple[int, str]:
        """A user's WhatsApp message arriving: host its media, post the signed webhook."""
        sid = new_sid("MM" if media else "SM")
        user, business = _channel(user), _channel(business)
        form = {
            "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": self.state.account_sid,
            "From": user, "To": business, "Body": body, "NumMedia": str(len(media)), "NumSegments": "1",
            "ProfileName": profile_name, "WaId": user.split("+")[-1], "SmsStatus": "received",
            "ApiVersion": "2010-04-01", "MessageType": _message_type(media),
        }
        for index, (content, content_type) in enumerate(media):
            form[f"MediaUrl{index}"] = media_base_url.rstrip("/") + self.state.host_media(sid, content, content_type)
            form[f"MediaContentType{index}"] = content_type
        response = await self.post_signed(webhook_url, form)
        return response.status_code, sid


def _message_type(media: Sequence[tuple[bytes, str]]) -> str:
    if not media:
        return "text"
    kind = media[0][1].split("/")[0]
    return {"audio": "audio", "image": "image", "video": "video"}.get(kind, "document")
