"""Erasing everything held about one user, resumably.

An erasure is a record in the `PRIVACY_ERASURES` bucket. While it runs it is keyed by a
salted hash of the user's number and holds what a rerun needs (the cut sequence, the
conversation ids, the stores already done); when it completes, what remains is written
under `<hash>.<cut>` (the hash, who asked, when, how many records each store removed)
and the running record is deleted (the bucket keeps one revision per key, so nothing of
it is left), and a `UserDataErased` event says the same in the stream. So:

- it is idempotent: every store's `erase` succeeds on data already removed;
- it resumes after a crash: a rerun finds the running record, keeps its cut and goes
  on from the first store not done;
- it works while the stack runs: only what was stored up to the cut (the stream's last
  sequence when the erasure began) is removed, and the conversation starts afresh for
  the agent (`services.agent.privacy`), so messages that arrive meanwhile are kept and
  answered as a new conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Sequence

from services.agent.privacy import CUTS_BUCKET, CUTS_DESCRIPTION
from shared.clock import SYSTEM_CLOCK, Clock
from shared.eventlog import EventLog, KeyValueStore
from shared.events import PRIVACY_RECORDS, UserDataErased, UserDataErasedData
from shared.ids import conversation_id, normalise_address
from shared.logging import get_logger
from shared.privacy import DataSubject, PersonalDataStore, salted_hash
from shared.privacy_jetstream import StreamData, unsettled_stages

log = get_logger(__name__)

ERASURES_BUCKET = "PRIVACY_ERASURES"


@dataclass
class ErasureRecord:
    subject_hash: str
    requested_by: str
    requested_at: str
    state: str = "running"  # "running" or "completed"
    cut_seq: int = 0
    conversations: list[str] = field(default_factory=list)  # only while running
    removed: dict[str, int] = field(default_factory=dict)  # per store done
    completed_at: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ErasureRecord:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class PrivacyDeps:
    events: EventLog
    stores: Sequence[PersonalDataStore]
    stream: StreamData
    salt: str
    known_conversations: Callable[[str], Awaitable[set[str]]]  # conversation ids a number has, from the read models
    clock: Clock = SYSTEM_CLOCK
    after_store: Callable[[str, ErasureRecord], Awaitable[None]] | None = None  # a test hook
    settle_timeout_s: float = 60.0


async def records(events: EventLog) -> KeyValueStore:
    return await events.open_kv(ERASURES_BUCKET, description="erasures: running (resumable) and done (no personal data)")


async def subject_for(deps: PrivacyDeps, number: str, business_numbers: Sequence[str] = (), cut_seq: int = 0,
                      extra: Sequence[str] = ()) -> DataSubject:
    """Everything we know about where a number's data is."""
    number = normalise_address(number)
    found = await deps.known_conversations(number)
    found |= {conversation_id(business, number) for business in business_numbers}
    found |= set(extra)
    base = DataSubject(number=number, conversations=tuple(sorted(found)), cut_seq=cut_seq)
    traces = await deps.stream.traces(base)
    return DataSubject(number=number, conversations=base.conversations, cut_seq=cut_seq, traces=traces)


async def erase_user(deps: PrivacyDeps, number: str, requested_by: str,
                     business_numbers: Sequence[str] = ()) -> ErasureRecord:
    """Erase `number`'s data from every store; returns the completed record."""
    number = normalise_address(number)
    started = deps.clock.monotonic()
    key = salted_hash(number, deps.salt)
    kv = await records(deps.events)
    entry = await kv.get(key)
    record = ErasureRecord.from_bytes(entry.value) if entry is not None and entry.value else None
    if record is None or record.state != "running":
        record = ErasureRecord(subject_hash=key, requested_by=requested_by, requested_at=deps.clock.now().isoformat(),
                               cut_seq=await deps.events.last_seq())
    subject = await subject_for(deps, number, business_numbers, record.cut_seq, record.conversations)
    record.conversations = list(subject.conversations)
    await kv.put(key, record.to_bytes())
    cuts = await deps.events.open_kv(CUTS_BUCKET, description=CUTS_DESCRIPTION)
    for conversation in subject.conversations:
        await cuts.put(salted_hash(conversation, deps.salt), str(record.cut_seq).encode())
    log.info("erasure_started", subject=key, conversations=len(subject.conversations), cut_seq=record.cut_seq,
             resumed=bool(record.removed))
    late = await unsettled_stages(deps.stream, deps.stream.js, subject, deps.settle_timeout_s)
    if late:  # a stage is down or stuck: erase anyway; what it writes later is erased by a rerun
        log.warning("erasure_stages_not_settled", subject=key, stages=sorted(set(late)))
    for store in deps.stores:
        if store.name in record.removed:
            continue
        record.removed[store.name] = await store.erase(subject)
        await kv.put(key, record.to_bytes())
        log.info("erasure_store_done", subject=key, store=store.name, removed=record.removed[store.name])
        if deps.after_store is not None:
            await deps.after_store(store.name, record)
    completed = deps.clock.now()
    record.completed_at, record.state = completed.isoformat(), "completed"
    count = len(record.conversations)
    record.conversations = []
    await deps.events.publish(UserDataErased(conversation=PRIVACY_RECORDS, data=UserDataErasedData(
        subject_hash=key, requested_by=requested_by, requested_at=datetime.fromisoformat(record.requested_at),
        completed_at=completed, conversations=count, removed=dict(record.removed),
    )), msg_id=f"erased:{key}:{record.cut_seq}")
    await kv.put(f"{key}.{record.cut_seq}", record.to_bytes())  # kept: one per erasure
    await kv.delete(key)  # the running record (with the conversation ids); one revision is kept, so it is gone
    log.info("erasure_completed", subject=key, removed=sum(record.removed.values()),
             seconds=round(deps.clock.monotonic() - started, 3))
    return record


async def erasure_records(events: EventLog) -> list[dict[str, Any]]:
    """Every erasure record (running and completed)."""
    kv = await records(events)
    found = []
    for key in await kv.keys():
        entry = await kv.get(key)
        if entry is not None and entry.value:
            found.append(json.loads(entry.value))
    return found
