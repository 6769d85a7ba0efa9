"""Routine client misbehaviour, counted and logged as one summary line per interval.

A slow or hung-up client is not an error of ours, and an attack brings thousands of them:
a line (let alone a traceback) for each would cost more than the client does. Each one is
a debug line and a count; at most once per interval the counts since the last summary go
out as one info line, `gateway_clients_dropped`. The metrics carry the exact numbers.
"""

from __future__ import annotations

import collections
import time

from shared.logging import get_logger

log = get_logger(__name__)

SUMMARY_EVERY_S = 10.0


class Tally:
    def __init__(self, event: str, every_s: float = SUMMARY_EVERY_S):
        self.event, self.every_s = event, every_s
        self.counts: collections.Counter[str] = collections.Counter()
        self._logged_at = -every_s

    def note(self, what: str, **fields: object) -> None:
        """Count `what` (a debug line with `fields`); log the summary if an interval has passed."""
        log.debug(what, **fields)
        self.counts[what] += 1
        now = time.monotonic()
        if now - self._logged_at >= self.every_s:
            self._logged_at = now
            log.info(self.event, every_s=self.every_s, **self.counts)
            self.counts.clear()


CLIENTS_DROPPED = Tally("gateway_clients_dropped")
