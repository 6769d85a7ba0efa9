"""The chat model: `openai:<model>` through langchain-openai, or the offline assistant.

Transient failures (connection errors, timeouts, 408/409/429 and 5xx answers) are retried
with exponential backoff here, once per model call; the OpenAI client's own retries are
off so there is one policy, with one metric.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import httpx
import openai
from langchain_core.language_models import BaseChatModel

from services.agent.config import OFFLINE_MODEL, AgentSettings
from services.agent.metrics import LLM_RETRIES
from services.agent.offline.model import OfflineAssistant
from shared.retry import Backoff, retry


def build_model(settings: AgentSettings) -> BaseChatModel:
    name = settings.model_name
    if name == OFFLINE_MODEL:
        return OfflineAssistant()
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=name.removeprefix("openai:"),
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=0,
    )


def model_label(model: BaseChatModel) -> str:
    name = getattr(model, "model_name", None) or OFFLINE_MODEL
    return name if name == OFFLINE_MODEL else f"openai:{name}"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError, asyncio.TimeoutError, TimeoutError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


@dataclass(frozen=True)
class LlmRetry(Backoff):
    """Model calls: exponential backoff capped at 20 s, each wait between half and all of it."""

    attempts: int = 3
    base_s: float = 1.0
    cap_s: float = 20.0
    jitter: float = 0.5


class LlmFailed(Exception):
    """The model call failed for good: after the retries, or at once if retrying can't help."""

    def __init__(self, cause: BaseException, attempts: int):
        super().__init__(f"{type(cause).__name__}: {str(cause)[:300]}")
        self.cause = cause
        self.attempts = attempts
        self.transient = is_transient(cause)


async def call_with_retries(call: Callable[[], Awaitable[Any]], policy: LlmRetry) -> Any:
    attempts = 0

    async def counted() -> Any:
        nonlocal attempts
        attempts += 1
        return await call()

    try:
        return await retry(counted, policy, is_transient,
                           on_retry=lambda exc, _: LLM_RETRIES.labels(type(exc).__name__).inc())
    except Exception as exc:
        raise LlmFailed(exc, attempts) from exc
