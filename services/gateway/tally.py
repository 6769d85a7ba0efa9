"""Requests dropped for the client's sake: counted, and logged as one line per interval.

A slow or hung-up client is not an error of ours, and an attack brings thousands of them:
a line (let alone a traceback) for each would cost more than the client does. Each one is
a debug line, `request_dropped` with its reason, and a count in
`switchboard_gateway_requests_dropped_total{reason}`; at most once per interval the counts
since the last summary go out as one info line, `gateway_requests_dropped`.

Reasons: `head_timeout`, `head_too_large`, `body_timeout`, `hung_up` (the client closed
the connection in the middle of a request).
"""

from __future__ import annotations

import collections
import time

from prometheus_client import Counter

from shared.logging import get_logger

log = get_logger(__name__)

SUMMARY_EVERY_S = 10.0
REASONS = ("head_timeout", "head_too_large", "body_timeout", "hung_up")
DROPPED = Counter(
    "switchboard_gateway_requests_dropped_total", "Requests dropped for a slow, oversized or vanished client", ["reason"]
)


class Tally:
    def __init__(self, event: str, every_s: float = SUMMARY_EVERY_S):
        self.event, self.every_s = event, every_s
        self.counters = {reason: DROPPED.labels(reason) for reason in REASONS}
        self.counts: collections.Counter[str] = collections.Counter()
        self._logged_at = -every_s

    def note(self, reason: str, **fields: object) -> None:
        """Count one dropped request; log the summary if an interval has passed since the last."""
        log.debug("request_dropped", reason=reason, **fields)
        self.counters[reason].inc()
        self.counts[reason] += 1
        now = time.monotonic()
        if now - self._logged_at >= self.every_s:
            self._logged_at = now
            log.info(self.event, every_s=self.every_s, **self.counts)
            self.counts.clear()


REQUESTS_DROPPED = Tally("gateway_requests_dropped")
