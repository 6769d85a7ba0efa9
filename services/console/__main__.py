"""`python -m services.console`: the operator console's web server."""

from __future__ import annotations

import uvicorn

from services.console.config import ConsoleSettings
from shared.listen import inherited_listener
from shared.logging import configure_logging
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ConsoleSettings, "console")
    configure_logging("console", settings.log_level, settings.log_format)
    from services.console.app import create_app

    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False,
        proxy_headers=False, timeout_graceful_shutdown=5,
    )
    inherited = inherited_listener(settings.host, settings.port)  # under `up`: shared/listen.py
    uvicorn.Server(config).run(sockets=[inherited] if inherited is not None else None)


if __name__ == "__main__":
    main()
