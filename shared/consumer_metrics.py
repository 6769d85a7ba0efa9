"""The Prometheus metrics of the ordered consumer, and one stage's labelled set of them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HANDLED = Counter(
    "switchboard_events_handled_total", "Events handled by a stage", ["consumer", "outcome"]
)
HANDLER_SECONDS = Histogram(
    "switchboard_handler_seconds", "Time spent in a stage's handler", ["consumer"]
)
DEAD_LETTERS = Counter("switchboard_dead_letters_total", "Events given up on", ["consumer"])
IN_FLIGHT = Gauge("switchboard_consumer_in_flight", "Handlers running in this replica", ["consumer"])
HELD = Gauge("switchboard_consumer_held", "Events held by this replica (queued on lanes or running)", ["consumer"])
LANES = Gauge("switchboard_consumer_lanes", "Conversations with events held by this replica", ["consumer"])
OWNED = Gauge("switchboard_consumer_partitions_owned", "Partitions this replica serves", ["consumer"])
LAG = Gauge("switchboard_consumer_lag", "Events stored but not yet delivered, per partition",
            ["consumer", "partition"])
ORDER_WAITS = Counter("switchboard_consumer_order_waits_total",
                      "Times a lane waited for an earlier event of its conversation", ["consumer"])
DEPENDENCY_WAITS = Counter("switchboard_consumer_dependency_waits_total",
                           "Retries after a dependency was unavailable (no delivery spent)", ["consumer"])


class ConsumerMetrics:
    """The metrics of one stage (`<service>-<kind>`), labelled once."""

    def __init__(self, name: str):
        self.waiting_for_order = ORDER_WAITS.labels(name)
        self.dependency_waits = DEPENDENCY_WAITS.labels(name)
        self.in_flight = IN_FLIGHT.labels(name)
        self.held = HELD.labels(name)
        self.lanes = LANES.labels(name)
        self.owned = OWNED.labels(name)
        self.ok = HANDLED.labels(name, "ok")
        self.retried = HANDLED.labels(name, "retried")
        self.dead = HANDLED.labels(name, "dead_lettered")
        self.dead_letters = DEAD_LETTERS.labels(name)
        self.seconds = HANDLER_SECONDS.labels(name)
