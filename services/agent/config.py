"""The agent's settings: environment variables only, created once in `__main__`."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from shared.settings import WorkerSettings, database_url_field

DEFAULT_PROMPT = Path(__file__).with_name("prompts") / "system.md"
OFFLINE_MODEL = "offline"


class AgentSettings(WorkerSettings):
    health_port: int = Field(8083, alias="HEALTH_PORT", ge=0, le=65535)
    # LLM-bound: a turn mostly waits on the model, so many run at once per replica.
    concurrency: int = Field(64, alias="AGENT_CONCURRENCY", ge=1, le=10_000)
    handler_timeout_s: float = Field(180.0, alias="AGENT_TURN_TIMEOUT_S", gt=0)
    database_url: str = database_url_field("agent")  # AGENT_DATABASE_URL, else DATABASE_URL
    pg_prepare_threshold: int | None = Field(5, alias="PG_PREPARE_THRESHOLD")
    pg_pool_size: int = Field(8, alias="AGENT_PG_POOL_SIZE", ge=1, le=100)

    openai_api_key: str | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    model: str | None = Field(None, alias="AGENT_MODEL")
    llm_timeout_s: float = Field(60.0, alias="AGENT_LLM_TIMEOUT_S", gt=0)
    llm_attempts: int = Field(3, alias="AGENT_LLM_ATTEMPTS", ge=1, le=10)
    llm_retry_base_s: float = Field(1.0, alias="AGENT_LLM_RETRY_BASE_S", ge=0)

    prompt_file: Path = Field(DEFAULT_PROMPT, alias="AGENT_PROMPT_FILE")
    # Quiet window after a message that reads as complete, and after one that reads as the
    # start of a burst ("hi", "quick question", "and…"); see services/agent/burst.py.
    debounce_s: float = Field(0.4, alias="AGENT_DEBOUNCE_S", ge=0, le=60)
    debounce_fragment_s: float = Field(1.8, alias="AGENT_DEBOUNCE_FRAGMENT_S", ge=0, le=60)
    burst_max_s: float = Field(10.0, alias="AGENT_BURST_MAX_S", ge=0, le=300)
    max_tool_steps: int = Field(6, alias="AGENT_MAX_TOOL_STEPS", ge=1, le=50)
    # A burst holds up to 25 messages, each possibly one booking: a whole burst fits one step.
    max_tool_calls_per_round: int = Field(25, alias="AGENT_MAX_TOOL_CALLS_PER_STEP", ge=1, le=100)
    context_tokens: int = Field(6000, alias="AGENT_CONTEXT_TOKENS", ge=1500, le=1_000_000)
    history_turns: int = Field(24, alias="AGENT_HISTORY_TURNS", ge=2, le=10_000)
    prune_every: int = Field(20, alias="AGENT_PRUNE_EVERY", ge=0)
    default_timezone: str = Field("UTC", alias="DEFAULT_TIMEZONE")
    tavily_api_key: str | None = Field(None, alias="TAVILY_API_KEY")
    tavily_base_url: str | None = Field(None, alias="TAVILY_BASE_URL")
    calendar_timeout_s: float = Field(10.0, alias="AGENT_CALENDAR_TIMEOUT_S", gt=0)
    # How long one calendar tool call retries an unreachable calendar before the turn waits
    # for it (DependencyUnavailable); below the 30 s tool timeout.
    calendar_retry_s: float = Field(20.0, alias="AGENT_CALENDAR_RETRY_S", ge=0, le=25)
    # How long an agent attempt waits for a Postgres connection before it counts as an outage.
    pg_timeout_s: float = Field(5.0, alias="AGENT_PG_TIMEOUT_S", gt=0, le=120)

    @field_validator("pg_prepare_threshold", mode="before")
    @classmethod
    def _no_prepare(cls, value: object) -> object:
        # PgBouncer in transaction mode needs prepared statements off: PG_PREPARE_THRESHOLD=none
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off"):
            return None
        return value

    @model_validator(mode="after")
    def _check(self) -> AgentSettings:
        if not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL (the agent keeps its memory there)")
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"DEFAULT_TIMEZONE {self.default_timezone!r} is not an IANA time zone") from exc
        if not self.prompt_file.is_file():
            raise ValueError(f"AGENT_PROMPT_FILE {self.prompt_file} does not exist")
        if self.model_name.startswith("openai:"):
            if not self.openai_api_key:
                raise ValueError(f"AGENT_MODEL={self.model_name} needs OPENAI_API_KEY")
            self.require_secret("OPENAI_API_KEY", self.openai_api_key)
        elif self.model_name != OFFLINE_MODEL:
            raise ValueError(f"AGENT_MODEL must be `openai:<model>` or `{OFFLINE_MODEL}`, not {self.model_name!r}")
        if self.tavily_api_key is not None:
            self.require_secret("TAVILY_API_KEY", self.tavily_api_key)
        return self

    @property
    def model_name(self) -> str:
        """`openai:gpt-4o-mini` when a key is set and nothing else is asked for; else the offline model."""
        if self.model:
            return self.model
        return "openai:gpt-4o-mini" if self.openai_api_key else OFFLINE_MODEL
