"""A circuit breaker for the upstream: after repeated failures, stop calling it for a
while, then let one probe through; its outcome closes or re-opens the circuit.

The wait before a probe starts short (``FIRST_COOLDOWN``), so a hiccup of the upstream
ends in seconds, and doubles with each failed probe up to ``cooldown``."""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
FIRST_COOLDOWN = 2.0  # seconds before the first probe


class CircuitBreaker:
    def __init__(
        self, *, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown  # the longest wait between probes
        self.wait = min(FIRST_COOLDOWN, cooldown)  # the wait before the next probe
        self.clock = clock
        self.state = CLOSED
        self.failures = 0  # consecutive
        self._opened_at = 0.0
        self._probe_at = 0.0

    def allow(self) -> bool:
        """May a request go out now? In half-open state only the one probe may."""
        if self.state == CLOSED:
            return True
        now = self.clock()
        if self.state == OPEN and now >= self._opened_at + self.wait:
            self.state = HALF_OPEN
            self._probe_at = now
            return True
        if self.state == HALF_OPEN and now >= self._probe_at + self.wait:
            self._probe_at = now  # the last probe never reported back (cancelled): another
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when closed)."""
        if self.state == CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self.wait - self.clock())

    def success(self) -> None:
        self.state = CLOSED
        self.failures = 0
        self.wait = min(FIRST_COOLDOWN, self.cooldown)

    def failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN:  # the probe failed: wait twice as long for the next
            self.wait = min(self.cooldown, self.wait * 2)
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self._opened_at = self.clock()
