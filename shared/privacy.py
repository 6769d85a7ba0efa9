"""A user's data is theirs: the port every store holding personal data implements.

Each store (the stream, a key-value bucket, a service's tables) registers one
`PersonalDataStore`: it can `export` everything it holds about a `DataSubject` and
`erase` it. A store that also keeps data by age implements `RetentionSweeper`. The
operator tool (`switchboard.privacy`) runs them; a new store adds one entry to
`switchboard.privacy.stores.STORES` and nothing else changes.

Erasure is idempotent and resumable: `erase` must succeed when run again on data it has
already (partly) removed, and must remove only what was stored up to `cut_seq`, so
messages that arrive while an erasure runs survive as the start of a fresh conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

SALT_VARIABLE = "PRIVACY_SALT"
LOCAL_SALT = "switchboard-local-privacy-salt"  # only outside production (see `privacy_salt`)


@dataclass(frozen=True)
class Traces:
    """Ids found in the stream that other stores key their records by (gathered before it is purged)."""

    message_sids: frozenset[str] = frozenset()
    reply_ids: frozenset[str] = frozenset()
    calendar_event_ids: frozenset[str] = frozenset()  # events the assistant created for the user


@dataclass(frozen=True)
class DataSubject:
    """The person whose data is exported or erased, and where it lives.

    `conversations` are the conversation ids of (business number, `number`) pairs;
    `cut_seq` is the stream sequence up to which data is erased (0 for an export).
    """

    number: str
    conversations: tuple[str, ...]
    cut_seq: int = 0
    traces: Traces = field(default_factory=Traces)


class PersonalDataStore(Protocol):
    """One place that holds users' data."""

    name: str

    async def export(self, subject: DataSubject) -> Any:
        """Everything this store holds about `subject`, as JSON-ready data."""
        ...

    async def erase(self, subject: DataSubject) -> int:
        """Remove it (up to `subject.cut_seq` where the store knows sequences); how many records went."""
        ...


class RetentionSweeper(Protocol):
    """A store that drops what is older than its retention limit."""

    name: str

    async def sweep(self, before: datetime) -> int:
        """Remove records older than `before`; how many went."""
        ...


def privacy_salt(environ: dict[str, str] | None = None) -> str:
    """The deployment's secret salt for hashes of numbers and conversations.

    In production it must be set (`PRIVACY_SALT`); locally a fixed default keeps
    `switchboard up` keyless.
    """
    env = os.environ if environ is None else environ
    salt = env.get(SALT_VARIABLE, "").strip()
    if salt:
        return salt
    if env.get("SWITCHBOARD_ENV") == "production":
        raise ValueError(f"{SALT_VARIABLE} must be set when SWITCHBOARD_ENV=production")
    return LOCAL_SALT


def salted_hash(value: str, salt: str) -> str:
    """A keyed hash of a number or id: the same input gives the same hash, and without
    the salt nobody can test a guess."""
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


_CONVERSATION_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])c[0-9a-f]{24}(?![0-9A-Za-z])")


def pseudonymise_conversations(text: str, salt: str) -> str:
    """Replace every conversation id in `text` with a salted pseudonym (`p` + 12 hex), as logs above debug do."""
    return _CONVERSATION_IN_TEXT.sub(lambda m: "p" + salted_hash(m.group(0), salt)[:12], text)
