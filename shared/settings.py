"""The settings base every service extends: environment variables only."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from shared.bus import NatsAccess
    from shared.consumer import AckPolicy
    from shared.stream import StreamSpec

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "replace-me", "xxx", "secret", "todo"})


class ServiceSettings(BaseSettings):
    """Settings shared by every service. Subclass per service; create once in __main__."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["local", "production"] = Field("local", alias="SWITCHBOARD_ENV")
    nats_url: str = Field("nats://127.0.0.1:4222", alias="NATS_URL")
    # This service's NATS identity (shared.nats_permissions); required in production.
    nats_user: str | None = Field(None, alias="NATS_USER")
    nats_password: str | None = Field(None, alias="NATS_PASSWORD", repr=False)
    nats_tls_ca_file: str | None = Field(None, alias="NATS_TLS_CA_FILE")
    stream_name: str = Field("WHATSAPP", alias="STREAM_NAME")
    partitions: int = Field(16, alias="PARTITIONS", ge=1, le=1024)
    stream_replicas: int = Field(1, alias="STREAM_REPLICAS", ge=1, le=5)
    publish_timeout_s: float = Field(2.0, alias="PUBLISH_TIMEOUT_S", gt=0)
    drain_timeout_s: float = Field(20.0, alias="NATS_DRAIN_TIMEOUT_S", gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", alias="LOG_LEVEL")
    log_format: Literal["json", "console"] = Field("json", alias="LOG_FORMAT")
    # Salts the hashes that stand for numbers and conversations in erasure records and logs.
    privacy_salt_value: str = Field("", alias="PRIVACY_SALT", repr=False)

    @model_validator(mode="after")
    def _nats_identity_in_production(self) -> ServiceSettings:
        self.require_secret("NATS_USER", self.nats_user)
        self.require_secret("NATS_PASSWORD", self.nats_password)
        if bool(self.nats_user) != bool(self.nats_password):
            raise ValueError("NATS_USER and NATS_PASSWORD go together: set both or neither")
        return self

    def nats_access(self) -> NatsAccess:
        """How this process proves who it is to NATS (and checks the server's TLS certificate)."""
        from shared.bus import NatsAccess

        return NatsAccess(user=self.nats_user, password=self.nats_password, tls_ca_file=self.nats_tls_ca_file)

    def stream_spec(self) -> StreamSpec:
        from shared.stream import StreamSpec

        return StreamSpec(name=self.stream_name, partitions=self.partitions, replicas=self.stream_replicas)

    def privacy_salt(self) -> str:
        """The deployment's privacy salt (`shared.privacy.privacy_salt`); the local default when unset.

        The privacy tools refuse to run in production without it; a service that only looks
        hashes up (the agent) goes on with the default, which the privacy tools then disagree
        with, so set it everywhere (README, "Privacy").
        """
        from shared.privacy import LOCAL_SALT, privacy_salt

        return privacy_salt({"PRIVACY_SALT": self.privacy_salt_value}) if self.privacy_salt_value else LOCAL_SALT

    def require_secret(self, name: str, value: str | None) -> None:
        """Fail fast in production on a missing or placeholder secret."""
        if self.environment == "production" and (value is None or value.strip().lower() in PLACEHOLDERS):
            raise ValueError(f"{name} must be set to a real value when SWITCHBOARD_ENV=production")


class WorkerSettings(ServiceSettings):
    """A worker service: consumes from the stream and serves health and metrics."""

    health_port: int = Field(8081, alias="HEALTH_PORT", ge=0, le=65535)
    health_host: str = Field("0.0.0.0", alias="HEALTH_HOST")
    max_deliver: int = Field(5, alias="MAX_DELIVER", ge=1)
    ack_wait_s: float = Field(30.0, alias="ACK_WAIT_S", gt=0)
    # Events handled at once by one replica, across all its conversations. Each service
    # overrides the name and default (AGENT_CONCURRENCY, OUTBOUND_CONCURRENCY, ...).
    concurrency: int = Field(16, alias="CONSUMER_CONCURRENCY", ge=1, le=10_000)
    consumer_buffer: int = Field(256, alias="CONSUMER_BUFFER", ge=1, le=100_000)
    handler_timeout_s: float = Field(300.0, alias="HANDLER_TIMEOUT_S", gt=0)
    consumer_drain_s: float = Field(20.0, alias="CONSUMER_DRAIN_S", ge=0)
    # Dead letters a stage retries itself once healthy again (shared/dead_letter_retry.py).
    dead_letter_auto_retries: int = Field(2, alias="DEAD_LETTER_AUTO_RETRIES", ge=0, le=10)
    dead_letter_retry_after_s: float = Field(30.0, alias="DEAD_LETTER_RETRY_AFTER_S", ge=0, le=3600)

    def ack_policy(self) -> AckPolicy:
        from shared.consumer import AckPolicy
        from shared.dead_letter_retry import AutoRetry

        return AckPolicy(
            max_deliver=self.max_deliver, ack_wait_s=self.ack_wait_s, concurrency=self.concurrency,
            buffer=self.consumer_buffer, handler_timeout_s=self.handler_timeout_s,
            drain_timeout_s=self.consumer_drain_s,
            auto_retry=AutoRetry(attempts=self.dead_letter_auto_retries, after_s=self.dead_letter_retry_after_s,
                                 interval_s=min(10.0, max(0.5, self.dead_letter_retry_after_s / 3))),
        )


def database_url_variables(service: str) -> tuple[str, str]:
    """The variables a service reads its Postgres URL from, in order of precedence.

    `<SERVICE>_DATABASE_URL` (the service's own role) wins over the shared `DATABASE_URL`,
    so one environment can hold every service's URL (the migrations Job, a `.env` file)
    while a simple setup sets only `DATABASE_URL`.
    """
    return f"{service.upper()}_DATABASE_URL", "DATABASE_URL"


def database_url_field(service: str, default: Any = ...) -> Any:
    """A settings field read from `database_url_variables(service)`, first one set wins."""
    return Field(default, validation_alias=AliasChoices(*database_url_variables(service)))


def driver_url(database_url: str, driver: str) -> str:
    """Turn the shared `postgresql://…` URL into one for a given SQLAlchemy driver.

    `driver_url(url, "asyncpg")` gives `postgresql+asyncpg://…`; `driver_url(url, "")`
    gives the plain libpq form (for psycopg and asyncpg themselves).
    """
    scheme, sep, rest = database_url.partition("://")
    if not sep or not scheme.startswith(("postgres", "postgresql")):
        raise ValueError("DATABASE_URL must start with postgresql://")
    return f"postgresql+{driver}://{rest}" if driver else f"postgresql://{rest}"


EX_CONFIG = 78  # sysexits.h: `switchboard up` does not restart a service that exits with it

S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], service: str) -> S:
    """Read a service's settings from the environment, or exit 78 saying what is wrong."""
    try:
        return cls()
    except (ValidationError, ValueError) as exc:
        print(f"{service}: bad configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
