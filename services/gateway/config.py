from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    host: str = Field("0.0.0.0", alias="GATEWAY_HOST")
    port: int = Field(8000, alias="GATEWAY_PORT", ge=0, le=65535)
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    trust_proxy: bool = Field(False, alias="TRUST_PROXY")
    max_body_bytes: int = Field(64 * 1024, alias="GATEWAY_MAX_BODY_BYTES", ge=1024)

    @model_validator(mode="after")
    def _check(self) -> "GatewaySettings":
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
        return self
