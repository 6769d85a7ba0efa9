"""What the console's handlers need, built once by the composition root (`app.create_app`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from services.console.auth import Authenticator
from services.console.config import ConsoleSettings
from services.console.masking import Privacy
from services.console.readmodels import AuditReader
from shared.bus import Bus, connect
from shared.logging import get_logger

log = get_logger(__name__)
HERE = Path(__file__).parent


@dataclass
class ConsoleDeps:
    settings: ConsoleSettings
    auth: Authenticator
    reader: AuditReader
    http: httpx.AsyncClient
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(HERE / "templates")))
    bus: Bus | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _connecting: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connect to NATS in the background: pages that read Postgres work meanwhile."""
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        with contextlib.suppress(Exception):
            nc = await connect(self.settings.nats_url, "console", stop=self.stop, access=self.settings.nats_access())
            self.bus = Bus(nc, stream=self.settings.stream_name, publish_timeout_s=self.settings.publish_timeout_s)
            log.info("console_nats_connected")

    async def close(self) -> None:
        self.stop.set()
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if self.bus is not None:
            await self.bus.close(self.settings.drain_timeout_s)
        await self.http.aclose()
        await self.reader.engine.dispose()

    def privacy(self, operator: str) -> Privacy:
        return Privacy(self.settings.reveals_to(operator))

    def render(self, request: Request, template: str, operator: str, status_code: int = 200, **context: Any) -> Any:
        context.update(
            operator=operator, csrf=self.auth.csrf_token(operator), reveal=self.settings.reveals_to(operator),
            chat_enabled=self.settings.chat_enabled, environment=self.settings.environment,
            login_possible=bool(self.settings.auth_token),
        )
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)
