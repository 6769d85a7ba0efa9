"""Write the KEDA ScaledObjects of the workers that consume the stream.

KEDA's nats-jetstream trigger watches one consumer. An ordered worker has one durable
consumer per partition (`shared.consumer.durable_name`: `<service>-<kind>-pNNN`), so
its ScaledObject has one trigger per partition and a scaling modifier that sums their
lag: the worker scales on its total backlog, never past one replica per partition
(a partition is owned by one replica at a time, so more replicas would only wait). A
replica holds at most twice its concurrency, so the lag is a true backlog.

The partition count and the stream name come from `base/config.env`. After changing
PARTITIONS, or adding a worker to WORKERS, run from the repository root:

    .venv/bin/python deploy/k8s/scaledobjects.py

`tests/deploy` fails while a committed file differs from what this writes, and checks
every trigger against the consumers the service's code creates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s" / "base"
sys.path.insert(0, str(ROOT))

from shared.consumer import durable_name  # noqa: E402

# The headless Service of the NATS Helm release: KEDA asks the consumer's leader
# (`<pod>.<this address>`) for its pending count, since followers can lag behind.
NATS_MONITORING = "nats-headless.nats.svc.cluster.local:8222"
NATS_ACCOUNT = "$G"  # the default account; change it if the NATS values add accounts


@dataclass(frozen=True)
class Partitioned:
    """An ordered worker: one durable consumer per partition of one kind of event."""

    kind: str
    lag_per_replica: int
    min_replicas: int = 1


@dataclass(frozen=True)
class Single:
    """A worker that shares one durable consumer across its replicas."""

    consumer: str
    lag_per_replica: int
    max_replicas: int
    min_replicas: int = 1


WORKERS: dict[str, Partitioned | Single] = {
    # Batches of inserts keyed by stream sequence: a large backlog is cheap to catch up.
    "audit": Single(consumer="audit", lag_per_replica=1000, max_replicas=4),
    # Voice notes cost CPU seconds each: a few waiting per replica is already a backlog.
    "transcriber": Partitioned(kind="received", lag_per_replica=3),
    # A turn waits on the model for seconds; each replica runs every partition's turn at
    # once, so replicas mostly add headroom for CPU (prompt building) and connections.
    "agent": Partitioned(kind="text", lag_per_replica=5),
    # Each replica paces its own sends (OUTBOUND_RATE_PER_S), so replicas add throughput.
    "outbound": Partitioned(kind="reply", lag_per_replica=10),
}


def read_config() -> dict[str, str]:
    lines = (line.strip() for line in (BASE / "config.env").read_text().splitlines())
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def trigger(stream: str, consumer: str, lag: int, name: str | None = None) -> dict:
    entry: dict = {"type": "nats-jetstream"}
    if name:
        entry["name"] = name
    entry["metadata"] = {
        "natsServerMonitoringEndpoint": NATS_MONITORING,
        "account": NATS_ACCOUNT,
        "stream": stream,
        "consumer": consumer,
        "lagThreshold": str(lag),
    }
    return entry


def scaled_object(service: str, worker: Partitioned | Single, stream: str, partitions: int) -> dict:
    labels = {"app.kubernetes.io/name": "switchboard", "app.kubernetes.io/component": service}
    spec: dict = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
        "pollingInterval": 15,
        "cooldownPeriod": 300,
        "minReplicaCount": worker.min_replicas,
        "maxReplicaCount": partitions if isinstance(worker, Partitioned) else worker.max_replicas,
        # If NATS monitoring cannot be read, hold a safe count rather than guess.
        "fallback": {"failureThreshold": 3, "replicas": 2},
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    }
                }
            }
        },
    }
    if isinstance(worker, Partitioned):
        names = [f"p{p:03d}" for p in range(partitions)]
        spec["advanced"]["scalingModifiers"] = {
            "formula": " + ".join(names),
            "target": str(worker.lag_per_replica),
            "metricType": "AverageValue",
        }
        spec["triggers"] = [
            trigger(stream, durable_name(service, worker.kind, p), worker.lag_per_replica, name)
            for p, name in enumerate(names)
        ]
    else:
        spec["triggers"] = [trigger(stream, worker.consumer, worker.lag_per_replica)]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": service, "labels": labels},
        "spec": spec,
    }


def render(service: str, worker: Partitioned | Single, config: dict[str, str]) -> str:
    document = scaled_object(service, worker, config["STREAM_NAME"], int(config["PARTITIONS"]))
    header = (
        "# Generated by deploy/k8s/scaledobjects.py from base/config.env: edit that script\n"
        "# (or PARTITIONS) and run it again rather than editing this file.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1000)


def outputs() -> dict[Path, str]:
    config = read_config()
    return {BASE / service / "scaledobject.yaml": render(service, worker, config) for service, worker in WORKERS.items()}


def main() -> None:
    for path, text in outputs().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
