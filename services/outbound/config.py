from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from services.outbound.pacing import PACING_PRESETS
from services.outbound.twilio_api import TWILIO_API
from services.reminders.templates import parse_templates
from shared.settings import WorkerSettings


class OutboundSettings(WorkerSettings):
    health_port: int = Field(8084, alias="HEALTH_PORT", ge=0, le=65535)
    concurrency: int = Field(32, alias="OUTBOUND_CONCURRENCY", ge=1, le=10_000)
    handler_timeout_s: float = Field(120.0, alias="OUTBOUND_REPLY_TIMEOUT_S", gt=0)
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base_url: str = Field(TWILIO_API, alias="TWILIO_API_BASE_URL")
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    pacing: Literal["twilio", "sandbox", "off"] = Field("twilio", alias="OUTBOUND_PACING")
    rate_per_s: float | None = Field(None, alias="OUTBOUND_RATE_PER_S", ge=0)
    send_attempts: int = Field(5, alias="OUTBOUND_SEND_ATTEMPTS", ge=1, le=20)
    retry_base_s: float = Field(0.5, alias="OUTBOUND_RETRY_BASE_S", gt=0)
    request_timeout_s: float = Field(10.0, alias="OUTBOUND_REQUEST_TIMEOUT_S", gt=0)
    reminder_templates_json: str | None = Field(None, alias="REMINDER_TEMPLATES")
    reminder_concurrency: int = Field(64, alias="REMINDER_CONCURRENCY", ge=1, le=10_000)

    @model_validator(mode="after")
    def _check(self) -> OutboundSettings:
        if not self.twilio_account_sid or not self.twilio_auth_token:
            raise ValueError(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required "
                "(`switchboard up` sets sandbox ones for the local emulator)"
            )
        self.require_secret("TWILIO_AUTH_TOKEN", self.twilio_auth_token)
        parse_templates(self.reminder_templates_json)  # a bad value fails at start-up, not when a reminder is due
        return self

    @property
    def reminder_templates(self) -> dict[str, dict[str, str]]:
        return parse_templates(self.reminder_templates_json)

    @property
    def effective_rate(self) -> float:
        return self.rate_per_s if self.rate_per_s is not None else PACING_PRESETS[self.pacing]

    @property
    def status_callback(self) -> str | None:
        return f"{self.public_base_url.rstrip('/')}/twilio/status" if self.public_base_url else None
