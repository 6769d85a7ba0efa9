"""Prometheus metrics of the audit service. Labels are fixed words, never ids or numbers."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "switchboard_audit_events_total",
    "Stream messages audit wrote, by outcome: recorded, undecodable (recorded, not projected), "
    "unprojectable (decoded, but the read models refused it: recorded, not projected) "
    "or duplicate (already recorded, nothing changed)",
    ["outcome"],
)
REPLAYS = Counter("switchboard_audit_replays_total", "Read-model rebuilds from the stream")
