"""Running the console in-process on a real port, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from typing import AsyncIterator

import httpx
import uvicorn

from services.console.app import create_app
from services.console.config import ConsoleSettings


@contextlib.asynccontextmanager
async def running_console(**env: str) -> AsyncIterator[httpx.AsyncClient]:
    """The console with these settings (by variable name), and a client for its URL."""
    settings = ConsoleSettings(**env)  # type: ignore[call-arg]  # aliases are the variable names
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
