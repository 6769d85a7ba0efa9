"""The one allowance for a slow machine in the few tests that compare durations.

Tests prove behaviour by waiting on events. Where an acceptance point is itself about time
(a run's length against what the configured concurrency allows, latency added to other
conversations), the bound is multiplied by `SWITCHBOARD_TEST_TIME_FACTOR` (default 1), so
a loaded CI machine can be given room without editing tests.
"""

from __future__ import annotations

import os


def time_factor() -> float:
    return max(1.0, float(os.environ.get("SWITCHBOARD_TEST_TIME_FACTOR", "1") or 1))
