"""A client-side budget of upstream calls (Open-Meteo's free use: 600 a minute, 5,000 an
hour, 10,000 a day), so we slow down before the upstream has to tell us with a 429.
Calls are counted as the upstream counts them, fractions included (Open-Meteo weighs a
location with 11 variables as 1.1 calls: ``WeatherProvider.calls``).

Sliding windows: in no span of a minute (an hour, a day) do the calls spent exceed
that period's limit, the first one included (a token bucket would allow twice that).

:class:`CallBudget` keeps them in the process; :class:`RedisBudget` keeps them in Redis
(the ``limits`` library's moving windows), one budget for every process of a cluster, so
a poller elected after another goes on with what it spent. Both answer the same two
questions, asynchronously: how long until some calls may be spent (``until``), and spend
them if every period allows (``spend``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

PERIODS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
REDIS_TIMEOUT = 2.0  # seconds for one call to a shared budget's Redis


class Budget(Protocol):
    """What the upstream guard asks of a budget, in the process or shared in Redis."""

    def spacing(self, calls: float, shared: float = 0.0) -> float: ...

    async def until(self, calls: float) -> float: ...

    async def spend(self, calls: float) -> bool: ...


def seconds_per_period(limits: Mapping[str, int]) -> dict[float, int]:
    """``{"minute": 600}`` -> ``{60.0: 600}``; ValueError for an unknown period."""
    unknown = set(limits) - set(PERIODS)
    if unknown:
        raise ValueError(f"unknown budget period(s): {', '.join(sorted(unknown))}")
    return {PERIODS[p]: int(n) for p, n in limits.items()}


def spacing(limits: Mapping[float, int], calls: float, shared: float = 0.0) -> float:
    """The shortest interval, seconds, at which ``calls`` may be spent again and again
    without any period's limit being exceeded: a window of a period holds
    period/interval + 1 rounds. A round bigger than a limit gets that period.

    ``shared``: what other requests on the same budget (forecasts, for readings) spend
    per round when they are stretched alike; they count in every window as often as the
    rounds do."""
    return max(
        (
            (calls + shared) * period / (limit - calls) if limit > calls else period
            for period, limit in limits.items()
        ),
        default=0.0,
    )


class CallBudget:
    def __init__(self, limits: Mapping[str, int], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.limits = seconds_per_period(limits)  # seconds -> calls
        self._spent: deque[tuple[float, float]] = deque()  # (when, calls), oldest first
        self._longest = max(self.limits, default=0.0)

    def _used(self, period: float, now: float) -> float:
        used = 0.0
        for when, calls in reversed(self._spent):
            if when <= now - period:
                break
            used += calls
        return used

    def _forget(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self._longest:
            self._spent.popleft()

    def take(self, calls: float) -> bool:
        """Spend ``calls`` if every period allows them; otherwise spend nothing."""
        now = self.clock()
        self._forget(now)
        if all(self._used(period, now) + calls <= limit for period, limit in self.limits.items()):
            self._spent.append((now, calls))
            return True
        return False

    def wait(self, calls: float) -> float:
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

    def spacing(self, calls: float, shared: float = 0.0) -> float:
        return spacing(self.limits, calls, shared)

    async def until(self, calls: float) -> float:
        return self.wait(calls)

    async def spend(self, calls: float) -> bool:
        return self.take(calls)

    def remaining(self) -> dict[str, float]:
        now = self.clock()
        names = {v: k for k, v in PERIODS.items()}
        return {
            names[period]: round(limit - self._used(period, now), 3) for period, limit in self.limits.items()
        }


def redis_storage(url: str, *, key_prefix: str) -> Any:
    """A ``limits`` storage in the Redis at ``url`` (redis:// or unix://)."""
    from limits.aio.storage import RedisStorage

    scheme = "redis+unix://" if url.startswith("unix://") else ""  # limits' spelling
    uri = "async+" + (scheme + url.removeprefix("unix://") if scheme else url)
    return RedisStorage(
        uri,
        implementation="redispy",
        key_prefix=key_prefix,
        # A Redis that stops answering must fail the call, not hang the caller.
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
    )


class RedisBudget:
    """The budget of one provider (``name``) in Redis, shared by every process that
    uses it: one moving window per period (``limits``' MovingWindowRateLimiter).

    ``limits`` counts whole calls; Open-Meteo's come in tenths, so calls are counted ten
    to one. ``spend`` takes from each period in turn (the upstream guard asks ``until``
    first); two processes spending at the same moment may both have been told yes, and a
    period that then refuses keeps what the others took (the error is on the safe side:
    fewer calls, never more).
    """

    SCALE = 10

    def __init__(self, limits: Mapping[str, int], url: str, *, name: str) -> None:
        from limits import RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
        from limits.aio.strategies import MovingWindowRateLimiter

        self.limits = seconds_per_period(limits)
        kinds = {60.0: RateLimitItemPerMinute, 3600.0: RateLimitItemPerHour, 86400.0: RateLimitItemPerDay}
        self.items = [kinds[period](limit * self.SCALE) for period, limit in self.limits.items()]
        self.name = name
        self.storage = redis_storage(url, key_prefix="weatherstream-budget")
        self.limiter = MovingWindowRateLimiter(self.storage)

    def _cost(self, calls: float) -> int:
        return max(1, round(calls * self.SCALE))

    def spacing(self, calls: float, shared: float = 0.0) -> float:
        return spacing(self.limits, calls, shared)

    async def until(self, calls: float) -> float:
        wait = 0.0
        for item in self.items:
            if not await self.limiter.test(item, self.name, cost=self._cost(calls)):
                stats = await self.limiter.get_window_stats(item, self.name)
                wait = max(wait, stats.reset_time - time.time(), 1.0)
        return wait

    async def spend(self, calls: float) -> bool:
        cost = self._cost(calls)
        for item in self.items:
            if not await self.limiter.hit(item, self.name, cost=cost):
                return False
        return True

    async def remaining(self) -> dict[str, float]:
        names = {v: k for k, v in PERIODS.items()}
        out: dict[str, Any] = {}
        for (period, _), item in zip(self.limits.items(), self.items, strict=True):
            stats = await self.limiter.get_window_stats(item, self.name)
            out[names[period]] = stats.remaining / self.SCALE
        return out
