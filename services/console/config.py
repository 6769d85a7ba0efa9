"""The console's settings: where it listens, who may use it, and what it may reveal."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.settings import ServiceSettings, database_url_field


class ConsoleSettings(ServiceSettings):
    host: str = Field("0.0.0.0", alias="CONSOLE_HOST")
    port: int = Field(8090, alias="CONSOLE_PORT", ge=0, le=65535)
    # CONSOLE_DATABASE_URL (a role that may only read the audit schema), else DATABASE_URL.
    database_url: str = database_url_field("console")
    db_pool_size: int = Field(4, alias="CONSOLE_DB_POOL_SIZE", ge=1, le=100)
    # Authentication: a bearer token, or the identity header of a trusted OIDC proxy.
    auth_token: str | None = Field(None, alias="CONSOLE_AUTH_TOKEN")
    auth_header: str | None = Field(None, alias="CONSOLE_AUTH_HEADER")
    trusted_proxies: str = Field("127.0.0.1/32,::1/128", alias="CONSOLE_TRUSTED_PROXIES")
    # Who sees phone numbers and message bodies: `all`, `none`, or operators by name.
    reveal: str | None = Field(None, alias="CONSOLE_REVEAL")
    # Signs CSRF tokens; a random one per process when unset (set it when running replicas).
    secret: str | None = Field(None, alias="CONSOLE_SECRET")
    poll_s: float = Field(1.0, alias="CONSOLE_POLL_S", gt=0, le=60)
    # name=url pairs probed on the system page, e.g. `gateway=http://gateway:8000/readyz`.
    health_urls: str = Field("", alias="CONSOLE_HEALTH_URLS")
    nats_monitor_url: str | None = Field(None, alias="NATS_MONITOR_URL")
    # The web chat talks to the Twilio emulator; only in sandbox mode, never in production.
    twilio_api_base_url: str | None = Field(None, alias="TWILIO_API_BASE_URL")
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    chat: Literal["auto", "off"] = Field("auto", alias="CONSOLE_CHAT")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"CONSOLE_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("health_urls")
    @classmethod
    def _health_urls(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, url = item.partition("=")
            if not sep or not name or not url.startswith(("http://", "https://")):
                raise ValueError(f"CONSOLE_HEALTH_URLS: {item!r} is not name=http(s)://url")
        return value

    @model_validator(mode="after")
    def _check(self) -> ConsoleSettings:
        if not self.database_url.startswith(("postgres://", "postgresql://")):
            raise ValueError("CONSOLE_DATABASE_URL must start with postgresql:// (the audit read models)")
        if self.auth_token is not None:
            self.require_secret("CONSOLE_AUTH_TOKEN", self.auth_token)
            if self.environment == "production" and len(self.auth_token) < 24:
                raise ValueError("CONSOLE_AUTH_TOKEN must be at least 24 characters when SWITCHBOARD_ENV=production")
        if self.environment == "production" and not (self.auth_token or self.auth_header):
            raise ValueError(
                "the console needs authentication when SWITCHBOARD_ENV=production: set CONSOLE_AUTH_TOKEN "
                "(a bearer token) or CONSOLE_AUTH_HEADER (the identity header of a trusted OIDC proxy)"
            )
        return self

    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    def health_targets(self) -> dict[str, str]:
        pairs = (item.strip().partition("=") for item in self.health_urls.split(",") if item.strip())
        return {name.strip(): url.strip() for name, _, url in pairs}

    def reveals_to(self, operator: str) -> bool:
        """Whether this operator may see phone numbers and message bodies."""
        choice = (self.reveal or ("none" if self.environment == "production" else "all")).strip()
        if choice == "all":
            return True
        if choice == "none":
            return False
        return operator in {name.strip() for name in choice.split(",") if name.strip()}

    @property
    def chat_enabled(self) -> bool:
        """The web chat: sandbox mode only (the emulator, never Twilio itself), never in production."""
        base = self.twilio_api_base_url or ""
        return (
            self.chat == "auto" and self.environment != "production" and bool(base)
            and "twilio.com" not in base and bool(self.twilio_account_sid and self.twilio_auth_token)
        )
