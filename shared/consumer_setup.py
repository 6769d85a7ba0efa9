"""What an ordered stage needs in place before it consumes: a durable consumer per partition
and the bucket where it records its progress per conversation."""

from __future__ import annotations

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError

from shared.ack_policy import AckPolicy
from shared.bus import Bus
from shared.ids import partition_filter
from shared.lanes import Progress
from shared.pinned import PinnedConsumerSpec, ensure_pinned_consumer
from shared.stream import partitions_of


def durable_name(service: str, kind: str, partition: int) -> str:
    """The durable consumer of one partition of a stage: `<service>-<kind>-pNNN`."""
    return f"{service}-{kind}-p{partition:03d}"


def consumer_spec(stream: str, service: str, kind: str, partition: int, policy: AckPolicy) -> PinnedConsumerSpec:
    return PinnedConsumerSpec(
        stream=stream,
        durable=durable_name(service, kind, partition),
        description=f"{service}: {kind} events of partition {partition}, in order per conversation",
        filter_subject=partition_filter(kind, partition),
        ack_wait_s=policy.ack_wait_s,
        max_ack_pending=policy.buffer,
        pin_timeout_s=policy.pin_timeout_s,
    )


async def ensure_partition_consumers(bus: Bus, service: str, kind: str, policy: AckPolicy) -> int:
    """Create or update the service's durable consumers, one per partition. Idempotent."""
    info = await bus.js.stream_info(bus.stream)
    partitions = partitions_of(info.config)
    for partition in range(partitions):
        await ensure_pinned_consumer(bus.nc, consumer_spec(bus.stream, service, kind, partition, policy))
    return partitions


async def open_progress(bus: Bus, stage: str, replicas: int) -> Progress:
    """The stage's progress per conversation, in the stream's progress bucket (made if missing)."""
    bucket = f"{bus.stream}_PROGRESS"
    try:
        kv = await bus.js.key_value(bucket)
    except BucketNotFoundError:
        kv = await bus.js.create_key_value(KeyValueConfig(
            bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas,
            description="last event each ordered stage finished, per conversation",
        ))
    return Progress(kv, stage)

