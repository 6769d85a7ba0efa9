"""Dead letters for operators: the core lives in `shared.dead_letters` (the stages retry
their own automatically with it); this adds who is asking and how a dead letter reads."""

from __future__ import annotations

import getpass

from shared.dead_letters import DeadLetter, DeadLetterError, dead_letters, discard, retry

__all__ = ["DeadLetter", "DeadLetterError", "dead_letters", "describe", "discard", "operator", "retry"]


def operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


def describe(dead: DeadLetter) -> str:
    data = dead.event.data
    when = dead.event.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    extra = f" → {dead.republished_seq}" if dead.republished_seq else ""
    extra += " (auto)" if dead.retried_by == "auto" else ""
    return (f"{dead.seq:>8}  {when}  {dead.state + extra:<16} {data.consumer:<24} event {data.stream_sequence} "
            f"({data.original_type or 'undecodable'}), {data.deliveries} deliveries: {data.error[:120]}")
