from __future__ import annotations

from pydantic import Field, model_validator

from shared.batch import BatchPolicy
from shared.settings import WorkerSettings, database_url_field, driver_url


class AuditSettings(WorkerSettings):
    database_url: str | None = database_url_field("audit", None)  # AUDIT_DATABASE_URL, else DATABASE_URL
    # Audit needs no order, so it can hold many events in flight and wait longer for a slow store.
    ack_wait_s: float = Field(60.0, alias="ACK_WAIT_S", gt=0)
    batch_size: int = Field(256, alias="AUDIT_BATCH_SIZE", ge=1, le=2000)
    fetch_timeout_s: float = Field(1.0, alias="AUDIT_FETCH_TIMEOUT_S", gt=0)
    max_ack_pending: int = Field(4096, alias="AUDIT_MAX_ACK_PENDING", ge=1)
    db_pool_size: int = Field(4, alias="AUDIT_DB_POOL_SIZE", ge=1, le=100)

    @model_validator(mode="after")
    def _check(self) -> AuditSettings:
        if not self.database_url:
            raise ValueError("AUDIT_DATABASE_URL or DATABASE_URL is required: the Postgres audit writes to, "
                             "postgresql://user:pass@host:port/db")
        driver_url(self.database_url, "asyncpg")  # fails early on a URL that is not postgresql://
        return self

    @property
    def dsn(self) -> str:
        assert self.database_url is not None  # checked above
        return self.database_url

    def batch_policy(self) -> BatchPolicy:
        return BatchPolicy(
            batch_size=self.batch_size,
            fetch_timeout_s=self.fetch_timeout_s,
            ack_wait_s=self.ack_wait_s,
            max_ack_pending=self.max_ack_pending,
        )
