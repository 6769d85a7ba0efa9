"""The system page's facts: the stream, lag per consumer (stage and partition), each
service's health and replicas, and the dead letters still open."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.bus import Bus

_PARTITIONED = re.compile(r"^(?P<stage>.+?)[-_]p?(?P<partition>\d+)$")


@dataclass(frozen=True)
class ConsumerLag:
    name: str
    stage: str
    partition: int | None
    pending: int  # stored, not yet delivered
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int


@dataclass
class SystemReport:
    stream: str
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    consumers: list[ConsumerLag] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)  # service → "ready" / "not ready (503)" / "unreachable"
    replicas: dict[str, int] = field(default_factory=dict)  # NATS connections per service name
    errors: list[str] = field(default_factory=list)

    def lag_by_stage(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for consumer in self.consumers:
            totals[consumer.stage] += consumer.pending + consumer.ack_pending
        return dict(sorted(totals.items()))


def consumer_lag(name: str, pending: int, ack_pending: int, redelivered: int) -> ConsumerLag:
    match = _PARTITIONED.match(name)
    if match:
        return ConsumerLag(name, match["stage"], int(match["partition"]), pending, ack_pending, redelivered)
    return ConsumerLag(name, name, None, pending, ack_pending, redelivered)


async def stream_report(bus: Bus) -> SystemReport:
    report = SystemReport(bus.stream)
    try:
        info = await bus.js.stream_info(bus.stream)
        report.messages, report.bytes = info.state.messages, info.state.bytes
        report.first_seq, report.last_seq = info.state.first_seq, info.state.last_seq
        consumers = await bus.js.consumers_info(bus.stream)
    except Exception as exc:
        report.errors.append(f"JetStream: {type(exc).__name__}: {exc}")
        return report
    report.consumers = sorted(
        (consumer_lag(str(c.name), c.num_pending or 0, c.num_ack_pending or 0, c.num_redelivered or 0)
         for c in consumers),
        key=lambda c: (c.stage, c.partition if c.partition is not None else -1, c.name),
    )
    return report


async def probe_health(client: httpx.AsyncClient, targets: dict[str, str]) -> dict[str, str]:
    async def probe(url: str) -> str:
        try:
            response = await client.get(url, timeout=3.0)
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        return "ready" if response.status_code == 200 else f"not ready ({response.status_code})"

    results = await asyncio.gather(*(probe(url) for url in targets.values()))
    return dict(zip(targets, results, strict=True))


async def nats_replicas(client: httpx.AsyncClient, monitor_url: str | None) -> dict[str, int]:
    """Connections per client name from nats-server's monitoring endpoint: each service
    replica connects under its service's name."""
    if not monitor_url:
        return {}
    try:
        response = await client.get(f"{monitor_url.rstrip('/')}/connz", params={"limit": 4096}, timeout=3.0)
        connections: list[dict[str, Any]] = response.json().get("connections") or []
    except (httpx.HTTPError, ValueError):
        return {}
    return dict(sorted(Counter(str(c.get("name") or "?") for c in connections).items()))


COUNTERS = (
    "switchboard_webhooks_total", "switchboard_events_handled_total", "switchboard_dead_letters_total",
    "switchboard_outbound_sends_total", "switchboard_agent_turns_total", "switchboard_agent_llm_retries_total",
    "switchboard_transcriber_failures_total",
)


@dataclass(frozen=True)
class CounterValue:
    service: str
    name: str
    labels: str
    value: float


async def service_counters(client: httpx.AsyncClient, targets: dict[str, str]) -> list[CounterValue]:
    """The counters that say how things go (outcomes, failures), from each service's
    /metrics (next to its readiness URL), totals since the process started."""
    from prometheus_client.parser import text_string_to_metric_families

    async def scrape(service: str, ready_url: str) -> list[CounterValue]:
        try:
            response = await client.get(ready_url.rsplit("/", 1)[0] + "/metrics", timeout=3.0)
            families = list(text_string_to_metric_families(response.text))
        except (httpx.HTTPError, ValueError):
            return []
        found = []
        for family in families:
            for sample in family.samples:
                if sample.name in COUNTERS and sample.value:
                    labels = ", ".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    found.append(CounterValue(service, sample.name.removeprefix("switchboard_"), labels, sample.value))
        return found

    results = await asyncio.gather(*(scrape(name, url) for name, url in targets.items()))
    return [value for found in results for value in found]
