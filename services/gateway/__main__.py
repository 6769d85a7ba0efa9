"""`python -m services.gateway`: the webhook server."""

from __future__ import annotations


import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from shared.settings import load_settings
from shared.logging import configure_logging


def main() -> None:
    settings = load_settings(GatewaySettings, "gateway")
    configure_logging("gateway", settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
