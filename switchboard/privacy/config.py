"""The privacy worker's settings (environment variables only)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from shared.settings import WorkerSettings, driver_url
from switchboard.privacy.retention import RetentionLimits


class PrivacySettings(WorkerSettings):
    health_port: int = Field(8087, alias="HEALTH_PORT", ge=0, le=65535)
    database_url: str | None = Field(None, alias="DATABASE_URL")
    ack_wait_s: float = Field(300.0, alias="ACK_WAIT_S", gt=0)  # one erasure may take a while; heartbeats cover it
    export_dir: Path = Field(Path("exports"), alias="PRIVACY_EXPORT_DIR")
    stream_days: float = Field(90, alias="RETENTION_STREAM_DAYS", ge=0)
    audit_days: float = Field(365, alias="RETENTION_AUDIT_DAYS", ge=0)
    checkpoint_days: float = Field(90, alias="RETENTION_CHECKPOINT_DAYS", ge=0)
    sweep_every_s: float = Field(3600, alias="RETENTION_SWEEP_S", gt=0)

    @model_validator(mode="after")
    def _check(self) -> PrivacySettings:
        import os

        from switchboard.privacy.stores import database_services
        from switchboard.provisioning import service_database_url

        for service in database_services():
            url = service_database_url({**os.environ, **({"DATABASE_URL": self.database_url} if self.database_url
                                                          else {})}, service)
            if not url:
                raise ValueError(f"{service.upper()}_DATABASE_URL or DATABASE_URL is required: every service's "
                                 "tables are erased and swept, each with its own role")
            driver_url(url, "asyncpg")
        if self.environment == "production" and not self.privacy_salt_value:
            raise ValueError("PRIVACY_SALT must be set when SWITCHBOARD_ENV=production (it keys the erasure records)")
        return self

    def limits(self) -> RetentionLimits:
        return RetentionLimits(self.stream_days, self.audit_days, self.checkpoint_days)
