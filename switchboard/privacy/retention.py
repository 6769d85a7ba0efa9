"""Retention: each store drops what is older than its limit, continuously.

Limits are days (0 keeps forever): `RETENTION_STREAM_DAYS` (events in the stream, by
when they occurred), `RETENTION_AUDIT_DAYS` (audit rows), `RETENTION_CHECKPOINT_DAYS`
(agent memory threads idle that long). The privacy worker sweeps every
`RETENTION_SWEEP_S`; `switchboard retention` sweeps once. Time comes from a `Clock`, so
tests move it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.clock import Clock
from shared.eventlog import EventLog
from shared.events import PRIVACY_RECORDS, RetentionApplied, RetentionAppliedData
from shared.logging import get_logger
from shared.privacy import RetentionSweeper

log = get_logger(__name__)


@dataclass(frozen=True)
class RetentionLimits:
    stream_days: float = 90
    audit_days: float = 365
    checkpoint_days: float = 90

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> RetentionLimits:
        def days(name: str, default: float) -> float:
            raw = environ.get(name, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number of days, not {raw!r}") from None
            if value < 0:
                raise ValueError(f"{name} must be 0 (keep forever) or more, not {raw!r}")
            return value

        return cls(days("RETENTION_STREAM_DAYS", cls.stream_days), days("RETENTION_AUDIT_DAYS", cls.audit_days),
                   days("RETENTION_CHECKPOINT_DAYS", cls.checkpoint_days))

    def for_store(self, name: str) -> float:
        return {"stream": self.stream_days, "audit": self.audit_days, "agent": self.checkpoint_days}.get(name, 0)


async def sweep_all(sweepers: list[RetentionSweeper], limits: RetentionLimits, clock: Clock,
                    events: EventLog) -> dict[str, int]:
    """One pass over every store with a limit; what each removed (recorded when anything was)."""
    removed: dict[str, int] = {}
    now = clock.now()
    for sweeper in sweepers:
        days = limits.for_store(sweeper.name)
        if not days:
            continue
        before = now - timedelta(days=days)
        removed[sweeper.name] = count = await sweeper.sweep(before)
        if count:
            log.info("retention_applied", store=sweeper.name, removed=count, before=before.isoformat())
            await events.publish(RetentionApplied(conversation=PRIVACY_RECORDS, data=RetentionAppliedData(
                store=sweeper.name, before=before, removed=count)), msg_id=f"retention:{sweeper.name}:{before.isoformat()}")
    return removed
