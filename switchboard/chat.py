"""`switchboard chat`: talk to Switchboard as a WhatsApp user, through the emulator.

Each line typed is posted to the Twilio emulator, which signs it and sends it to the
gateway exactly as Twilio would; replies are printed as the emulator receives them.
With piped input, it waits for the replies to the last line before exiting.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_USER = "+15550001111"
DEFAULT_BUSINESS = "+14155238886"


@dataclass
class ChatTarget:
    emulator_url: str
    account_sid: str
    auth_token: str
    business: str = DEFAULT_BUSINESS


class Chat:
    def __init__(self, target: ChatTarget, user: str, out=sys.stdout):
        self.target = target
        self.user = user
        self.out = out
        self.client = httpx.AsyncClient(
            base_url=target.emulator_url, auth=(target.account_sid, target.auth_token), timeout=40
        )
        self.last_seen = 0
        self.replies = 0

    async def send(self, body: str = "", voice: Path | None = None) -> None:
        media = []
        if voice is not None:
            content_type = mimetypes.guess_type(voice.name)[0] or "audio/ogg"
            media.append({"content_type": content_type, "data": base64.b64encode(await asyncio.to_thread(voice.read_bytes)).decode()})
        response = await self.client.post(
            "/_sandbox/inbound",
            json={"from": self.user, "to": self.target.business, "body": body, "media": media, "profile_name": "You"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"the gateway did not take the message: {response.text.strip()}")

    async def poll(self, wait: float) -> int:
        """Print replies that arrived after the last one seen; returns how many."""
        response = await self.client.get(
            "/_sandbox/messages", params={"to": f"whatsapp:{self.user}", "after": self.last_seen, "wait": wait}
        )
        response.raise_for_status()
        messages = response.json()["messages"]
        for message in messages:
            self.last_seen = max(self.last_seen, message["index"])
            print(f"switchboard> {message['body']}", file=self.out, flush=True)
        self.replies += len(messages)
        return len(messages)

    async def close(self) -> None:
        await self.client.aclose()


async def run_chat(target: ChatTarget, user: str, voice: Path | None = None, reply_timeout: float = 30.0) -> int:
    """Interactive or piped chat. Returns an exit code."""
    chat = Chat(target, user)
    interactive = sys.stdin.isatty()
    try:
        await chat.poll(0)  # skip what this user was sent before
        listener = asyncio.create_task(_listen(chat)) if interactive else None
        if voice is not None:
            await chat.send("", voice)
            if not interactive:
                await _await_reply(chat, reply_timeout)
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                print("you> ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip():
                await chat.send(line.strip())
                if not interactive:
                    await _await_reply(chat, reply_timeout)
        if listener is not None:
            listener.cancel()
    except (httpx.HTTPError, RuntimeError) as exc:
        print(f"chat: {exc}", file=sys.stderr)
        return 1
    finally:
        await chat.close()
    return 0


async def _listen(chat: Chat) -> None:
    while True:
        try:
            await chat.poll(25)
        except httpx.HTTPError:
            await asyncio.sleep(1)


async def _await_reply(chat: Chat, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    got = 0
    while asyncio.get_running_loop().time() < deadline:
        got += await chat.poll(min(5.0, max(0.1, deadline - asyncio.get_running_loop().time())))
        if got:
            # Give a split reply's remaining parts a moment to arrive.
            while await chat.poll(1.0):
                pass
            return
    print("chat: no reply within the timeout", file=sys.stderr)
