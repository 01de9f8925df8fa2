"""A client-side budget of upstream calls (Open-Meteo's free use: 600 a minute, 5,000 an
hour, 10,000 a day), so we slow down before the upstream has to tell us with a 429.

Sliding windows: in no span of a minute (an hour, a day) do the calls spent exceed
that period's limit, the first one included (a token bucket would allow twice that).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

PERIODS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


class CallBudget:
    def __init__(self, limits: Mapping[str, int], *, clock: Callable[[], float] = time.monotonic) -> None:
        unknown = set(limits) - set(PERIODS)
        if unknown:
            raise ValueError(f"unknown budget period(s): {', '.join(sorted(unknown))}")
        self.clock = clock
        self.limits = {PERIODS[p]: int(n) for p, n in limits.items()}  # seconds -> calls
        self._spent: deque[tuple[float, int]] = deque()  # (when, calls), oldest first
        self._longest = max(self.limits, default=0.0)

    def _used(self, period: float, now: float) -> int:
        used = 0
        for when, calls in reversed(self._spent):
            if when <= now - period:
                break
            used += calls
        return used

    def _forget(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self._longest:
            self._spent.popleft()

    def take(self, calls: int) -> bool:
        """Spend ``calls`` if every period allows them; otherwise spend nothing."""
        now = self.clock()
        self._forget(now)
        if all(self._used(period, now) + calls <= limit for period, limit in self.limits.items()):
            self._spent.append((now, calls))
            return True
        return False

    def wait(self, calls: int) -> float:
        """Seconds until ``calls`` can be spent (0: now)."""
        now = self.clock()
        self._forget(now)
        wait = 0.0
        for period, limit in self.limits.items():
            excess = self._used(period, now) + calls - limit
            for when, spent in self._spent:  # the oldest calls in the window leave it first
                if excess <= 0:
                    break
                if when > now - period:
                    excess -= spent
                    wait = max(wait, when + period - now)
        return wait

    def remaining(self) -> dict[str, int]:
        now = self.clock()
        names = {v: k for k, v in PERIODS.items()}
        return {names[period]: limit - self._used(period, now) for period, limit in self.limits.items()}
