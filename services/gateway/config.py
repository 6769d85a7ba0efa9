from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from shared.settings import ServiceSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class GatewaySettings(ServiceSettings):
    host: str = Field("0.0.0.0", alias="GATEWAY_HOST")
    port: int = Field(8000, alias="GATEWAY_PORT", ge=0, le=65535)
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    # When set, a webhook for any other account is refused (403).
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    trust_proxy: bool = Field(False, alias="TRUST_PROXY")
    # Forwarded headers count only when the connection comes from one of these networks.
    trusted_proxies: str = Field("127.0.0.1/32,::1/128", alias="TRUSTED_PROXIES")
    max_body_bytes: int = Field(64 * 1024, alias="GATEWAY_MAX_BODY_BYTES", ge=1024)
    # Comma-separated address channels accepted in From/To, as in `whatsapp:+34600111222`.
    allowed_channels: str = Field("whatsapp", alias="GATEWAY_ALLOWED_CHANNELS")
    # How long a MessageSid is remembered after the stream's 15-minute duplicate window.
    seen_ttl_days: float = Field(7, alias="GATEWAY_SEEN_TTL_DAYS", gt=0)
    # Slow clients: the whole body, and the request line plus headers, must arrive in time.
    body_timeout_s: float = Field(10, alias="GATEWAY_BODY_TIMEOUT_S", gt=0)
    header_timeout_s: float = Field(10, alias="GATEWAY_HEADER_TIMEOUT_S", gt=0)
    max_header_bytes: int = Field(16 * 1024, alias="GATEWAY_MAX_HEADER_BYTES", ge=1024)
    keep_alive_s: float = Field(5, alias="GATEWAY_KEEP_ALIVE_S", gt=0)
    # Open connections per process; at the cap the longest-waiting client gives way (connections.py).
    max_connections: int = Field(4096, alias="GATEWAY_MAX_CONNECTIONS", ge=1)
    # Webhooks being stored at once (whole body received, waiting on JetStream); more get 503.
    limit_concurrency: int = Field(1000, alias="GATEWAY_LIMIT_CONCURRENCY", ge=1)
    # How long one webhook's store is tried again (a NATS reconnect, a stream leader election)
    # before the answer is 503. Twilio waits 15 s for an answer and, by default, does not
    # retry a 503; 0 answers 503 at the first failure.
    store_budget_s: float = Field(8.0, alias="GATEWAY_STORE_BUDGET_S", ge=0, le=14)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("allowed_channels")
    @classmethod
    def _channels_are_words(cls, value: str) -> str:
        channels = [part.strip() for part in value.split(",") if part.strip()]
        if not channels or not all(c.isascii() and c.isalnum() for c in channels):
            raise ValueError("GATEWAY_ALLOWED_CHANNELS must be a comma-separated list like `whatsapp`")
        return value

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if not self.twilio_auth_token:
            raise ValueError(
                "TWILIO_AUTH_TOKEN is required: the gateway checks every webhook's signature "
                "(`switchboard up` sets a sandbox token for the local emulator)"
            )
        self.require_secret("TWILIO_AUTH_TOKEN", self.twilio_auth_token)
        if self.environment == "production" and not self.public_base_url:
            raise ValueError("PUBLIC_BASE_URL must be set when SWITCHBOARD_ENV=production")
        if self.public_base_url and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must start with http:// or https://")
        if self.environment == "production" and not self.public_base_url.startswith("https://"):  # type: ignore[union-attr]
            raise ValueError(
                "PUBLIC_BASE_URL must be an https:// URL when SWITCHBOARD_ENV=production: "
                "webhooks sent over plain http can be read and replayed"
            )
        return self

    def proxy_networks(self) -> tuple[Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    def channels(self) -> tuple[str, ...]:
        return tuple(part.strip().lower() for part in self.allowed_channels.split(",") if part.strip())
