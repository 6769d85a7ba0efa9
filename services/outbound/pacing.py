"""Pacing sends per sender: Twilio limits each sending number, not the whole account.

One `SenderPacer` per process. With several outbound replicas each paces on its own,
so set the rate to the sender's limit divided by the replica count (docs/operations.md).
"""

from __future__ import annotations

from shared.clock import SYSTEM_CLOCK, Clock

PACING_PRESETS = {"twilio": 80.0, "sandbox": 1 / 3, "off": 0.0}


class SenderPacer:
    def __init__(self, rate_per_s: float, clock: Clock = SYSTEM_CLOCK):
        self.clock = clock
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next_slot: dict[str, float] = {}

    async def wait(self, sender: str) -> float:
        """Wait for this sender's next slot; returns how long it waited."""
        if not self.interval:
            return 0.0
        now = self.clock.monotonic()
        slot = max(now, self._next_slot.get(sender, now))
        self._next_slot[sender] = slot + self.interval
        delay = slot - now
        if delay > 0:
            await self.clock.sleep(delay)
        return delay
