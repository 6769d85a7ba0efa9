"""`switchboard chat`: talk to Switchboard as a WhatsApp user, through the emulator.

Each line typed is posted to the Twilio emulator, which signs it and sends it to the
gateway exactly as Twilio would; replies are printed as the emulator receives them,
above the prompt. Replies sent before the chat started are not printed again. With
piped input, it waits for the replies to each line before reading the next. When the
stack stops, the chat says so and exits 1.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import sys
import threading
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
    def __init__(self, target: ChatTarget, user: str, out=sys.stdout, interactive: bool = False):
        self.target = target
        self.user = user
        self.out = out
        self.interactive = interactive
        self.client = httpx.AsyncClient(
            base_url=target.emulator_url, auth=(target.account_sid, target.auth_token), timeout=40
        )
        self.last_seen = 0
        self.replies = 0

    async def send(self, body: str = "", attachment: Path | None = None) -> None:
        media = []
        if attachment is not None:
            content_type = mimetypes.guess_type(attachment.name)[0] or "audio/ogg"
            content = await asyncio.to_thread(attachment.read_bytes)
            media.append({"content_type": content_type, "data": base64.b64encode(content).decode()})
        response = await self.client.post(
            "/_sandbox/inbound",
            json={"from": self.user, "to": self.target.business, "body": body, "media": media, "profile_name": "You"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"the gateway did not take the message: {response.text.strip()}")

    async def _fetch(self, wait: float) -> list[dict]:
        response = await self.client.get(
            "/_sandbox/messages", params={"to": f"whatsapp:{self.user}", "after": self.last_seen, "wait": wait}
        )
        response.raise_for_status()
        return response.json()["messages"]

    async def skip_history(self) -> None:
        """Start after what this user was sent before: old replies are not printed again."""
        for message in await self._fetch(0):
            self.last_seen = max(self.last_seen, message["index"])

    async def poll(self, wait: float) -> int:
        """Print replies that arrived after the last one seen; returns how many."""
        messages = await self._fetch(wait)
        for message in messages:
            self.last_seen = max(self.last_seen, message["index"])
            if self.interactive:  # over the prompt, then the prompt again
                print(f"\r\x1b[Kswitchboard> {message['body']}", file=self.out)
                print(PROMPT, end="", file=self.out, flush=True)
            else:
                print(f"switchboard> {message['body']}", file=self.out, flush=True)
        self.replies += len(messages)
        return len(messages)

    async def close(self) -> None:
        await self.client.aclose()


PROMPT = "you> "
QUIT = {"/quit", "/exit"}


def _lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Standard input, line by line, from a daemon thread (so a stopped stack can end the chat
    while a read is pending); None at the end of input."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue


async def run_chat(
    target: ChatTarget, user: str, voice: Path | None = None, reply_timeout: float = 30.0,
    image: Path | None = None, stack_file: Path | None = None,
) -> int:
    """Interactive or piped chat. Returns an exit code."""
    interactive = sys.stdin.isatty()
    chat = Chat(target, user, interactive=interactive)
    gone = asyncio.Event()
    listener = None
    try:
        await chat.skip_history()
        if interactive:
            print(f"You are {user}, writing to {target.business} through the local emulator. "
                  "Type a message and press Enter; Ctrl-D or /quit leaves.", flush=True)
            listener = asyncio.create_task(_listen(chat, gone, stack_file))
        for attachment in (voice, image):
            if attachment is not None:
                await chat.send("", attachment)
                if not interactive:
                    await _await_reply(chat, reply_timeout)
        lines = _lines(asyncio.get_running_loop())
        while True:
            if interactive:
                print(PROMPT, end="", flush=True)
            line = await _next_line(lines, gone)
            if gone.is_set():
                print("\nchat: the stack stopped (its emulator no longer answers); start it again with `make up`",
                      file=sys.stderr)
                return 1
            if line is None or line.strip() in QUIT:
                break
            if line.strip():
                await chat.send(line.strip())
                if not interactive:
                    await _await_reply(chat, reply_timeout)
    except (httpx.HTTPError, RuntimeError, OSError) as exc:
        print(f"chat: {exc}", file=sys.stderr)
        return 1
    finally:
        if listener is not None:
            listener.cancel()
        await chat.close()
    if interactive:
        print()
    return 0


async def _next_line(lines: asyncio.Queue[str | None], gone: asyncio.Event) -> str | None:
    getting = asyncio.create_task(lines.get())
    stopping = asyncio.create_task(gone.wait())
    done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if getting in done:
        return getting.result()
    getting.cancel()
    return None


async def _listen(chat: Chat, gone: asyncio.Event, stack_file: Path | None) -> None:
    failures = 0
    while True:
        try:
            await chat.poll(25)
            failures = 0
        except httpx.HTTPError:
            failures += 1
            if failures >= 3 or (stack_file is not None and not await asyncio.to_thread(stack_file.exists)):
                gone.set()
                return
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
