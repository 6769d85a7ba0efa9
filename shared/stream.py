"""The `WHATSAPP` stream: its configuration and idempotent provisioning.

This is the one place that decides partitions: the stream's subject transform maps
`wa.<kind>.<conversation>` to `wa.<kind>.<partition>.<conversation>` with the server's
`partition(P, conversation)` hash. Consumers read P back from the stream config.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import NotFoundError

from shared.ids import SUBJECT_ROOT

DUPLICATE_WINDOW_S = 15 * 60  # Twilio retries webhooks within minutes; dedupe across them.


@dataclass(frozen=True)
class StreamSpec:
    name: str = "WHATSAPP"
    partitions: int = 16
    replicas: int = 1
    max_age_days: float = 0  # 0 keeps events forever: the stream is the source of truth
    duplicate_window_s: float = DUPLICATE_WINDOW_S

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description="Switchboard event log: every WhatsApp event, partitioned by conversation",
            subjects=[f"{SUBJECT_ROOT}.*.*"],
            subject_transform=SubjectTransform(
                src=f"{SUBJECT_ROOT}.*.*",
                dest=f"{SUBJECT_ROOT}.{{{{wildcard(1)}}}}.{{{{partition({self.partitions},2)}}}}.{{{{wildcard(2)}}}}",
            ),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=self.replicas,
            max_age=self.max_age_days * 86400 if self.max_age_days else None,
            duplicate_window=self.duplicate_window_s,
            # Direct gets (any replica answers, off the JetStream API queue): the lanes' order
            # guard and the agent's burst read-ahead look up a conversation's next event often.
            allow_direct=True,
        )


def partitions_of(config: StreamConfig) -> int:
    """Read P back from a stream's subject transform."""
    transform = config.subject_transform
    if transform is None or "partition(" not in transform.dest:
        raise RuntimeError(f"stream {config.name} has no partition transform; run `switchboard provision`")
    inside = transform.dest.split("partition(", 1)[1]
    return int(inside.split(",", 1)[0])


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> StreamConfig:
    """Create the stream, or bring an existing one to `spec`. Safe to run any number of times.

    Changing the partition count of a stream that holds events re-maps conversations for
    new events only; consumers must be re-created (see docs/operations.md).
    """
    wanted = spec.config()
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        info = await js.add_stream(wanted)
        return info.config
    current = info.config
    if (
        current.subjects != wanted.subjects
        or current.subject_transform != wanted.subject_transform
        or current.duplicate_window != wanted.duplicate_window
        or current.description != wanted.description
        or not current.allow_direct
    ):
        info = await js.update_stream(wanted)
    return info.config
