"""Running the emulator: in-process for tests, or as `python -m switchboard.sandbox`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, Sequence

import httpx
import uvicorn

from shared.listen import inherited_listener
from switchboard.sandbox.app import Emulator, create_emulator_app
from switchboard.sandbox.state import SandboxState
from switchboard.sandbox.webhooks import WebhookSender


class TwilioEmulator:
    """A real HTTP server on loopback speaking Twilio's Messages API."""

    def __init__(
        self, account_sid: str, auth_token: str, *, host: str = "127.0.0.1", port: int = 0,
        webhook_url: str | None = None, status_delay_s: float = 0.05, public_url: str | None = None,
    ):
        self.state = SandboxState(account_sid=account_sid, auth_token=auth_token)
        self.host = host
        self.port = port
        self.webhook_url = webhook_url
        self.status_delay_s = status_delay_s
        self.public_url = public_url  # where others reach it, when not its bind address
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self.emulator: Emulator | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> TwilioEmulator:
        sock = inherited_listener(self.host, self.port) if self.port else None  # under `up`: shared/listen.py
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._client = httpx.AsyncClient(timeout=10)
        sender = WebhookSender(self.state, self._client, self.status_delay_s)
        self.emulator = Emulator(self.state, sender, self.webhook_url, self.public_url or self.url)
        config = uvicorn.Config(
            create_emulator_app(self.emulator), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.release()
        if self.emulator:
            for task in list(self.emulator.tasks):
                task.cancel()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> TwilioEmulator:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # What tests and the chat client use in-process.

    def inject(self, kind: str, count: int = 1, latency_ms: float = 0.0) -> None:
        self.state.inject(kind, count, latency_ms)

    def hold_after(self, accepted: int) -> None:
        """A test's hook to stop a sender between two messages: every Messages API request after
        the first `accepted` waits unanswered until `release()`, then fails (500) unrecorded."""
        self.state.hold_after = accepted

    def release(self) -> None:
        self.state.hold_after = None
        self.state.released.set()

    async def send_inbound(
        self, user: str, business: str, body: str = "", media: Sequence[tuple[bytes, str]] = (),
    ) -> tuple[int, str]:
        """A user writes to the business number: the signed webhook goes to the gateway."""
        if not self.webhook_url or self.emulator is None:
            raise RuntimeError("the emulator has no webhook URL to post to")
        self.state.rules.user_wrote(user)
        return await self.emulator.sender.inbound(
            self.webhook_url, self.emulator.public_url, user, business, body, list(media)
        )

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        return self.state.sent_to(to if to.startswith("whatsapp:") else f"whatsapp:{to}")
