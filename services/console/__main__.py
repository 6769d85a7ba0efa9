"""`python -m services.console`: the operator console's web server."""

from __future__ import annotations

import uvicorn

from services.console.config import ConsoleSettings
from shared.logging import configure_logging
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ConsoleSettings, "console")
    configure_logging("console", settings.log_level, settings.log_format)
    from services.console.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False,
        proxy_headers=False, timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
