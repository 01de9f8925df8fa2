"""One poller at a time: a lease in Redis, renewed while its holder is alive.

Every ``manage.py weatherstream_poll`` process listens to demand; the one holding
the lease polls. The holder renews it every third of ``LEADER_LEASE``; a holder
that dies (even by SIGKILL) stops renewing, the key expires, and a standby takes
it at its next attempt: within ``LEADER_LEASE`` plus a third of it.

Before each fetch the leader claims each location's slot in Redis (checking, in
the same script, that the lease is still its own); a location another poller
fetched less than an interval ago is skipped until due. So neither a handover nor
an old leader waking from a pause fetches a location twice in one interval.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

LEASE_KEY = "weatherstream:poller:leader"
DUE_PREFIX = "weatherstream:poller:due:"
FORECAST_DUE_PREFIX = "weatherstream:poller:forecast-due:"

# Take the lease if it is free, or extend it if it is ours; 1 when held afterwards.
_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
elseif not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# Before a fetch: the lease holder claims each location's slot, unless another
# poller fetched it less than an interval ago. Returns -1 when the caller does not
# hold the lease, else a flat list of (index, milliseconds until due) to skip.
# Times are Redis's own clock, so pollers on machines with skewed clocks agree.
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[2])
local skip = {}
for i = 2, #KEYS do
    local due = tonumber(redis.call('GET', KEYS[i]) or '0')
    if due > now then
        table.insert(skip, i - 1)
        table.insert(skip, due - now)
    else
        redis.call('SET', KEYS[i], now + interval, 'PX', 2 * interval)
    end
end
return skip
"""

# After a fetch: when each location is really next due (sooner after a failure).
_RESCHEDULE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
    local delay = tonumber(ARGV[i])
    redis.call('SET', KEYS[i], now + delay, 'PX', 2 * delay + 1000)
end
return #KEYS
"""


def redis_url_from_settings() -> str | None:
    """The first host of a channels_redis ``default`` layer, as a URL."""
    from django.conf import settings

    config = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {})
    if "channels_redis" not in str(config.get("BACKEND", "")):
        return None
    hosts = config.get("CONFIG", {}).get("hosts") or ["redis://localhost:6379"]
    host = hosts[0]
    if isinstance(host, str):
        return host
    if isinstance(host, (list, tuple)):
        return f"redis://{host[0]}:{host[1]}"
    if isinstance(host, dict) and "address" in host:
        return str(host["address"])
    return None


def redis_url(config: dict[str, Any]) -> str | None:
    """The Redis of the lease: ``REDIS_URL``, else the channel layer's."""
    return config["REDIS_URL"] or redis_url_from_settings()


def redis_client(url: str, timeout: float) -> Any:
    import redis.asyncio as redis  # the package's `redis` extra

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


async def lease_holder(url: str, *, timeout: float) -> str | None:
    """Who holds the poller lease now (None: nobody, so no poller is polling)."""
    client = redis_client(url, timeout)
    try:
        holder = await client.get(LEASE_KEY)
    finally:
        await client.aclose()
    return holder.decode() if holder is not None else None


class RedisLease:
    """The poller lease. ``held()`` (for callers that want to know) turns false a little
    before the key can have expired in Redis; what keeps two holders from fetching is
    the claim script, which checks the lease in Redis itself before every fetch."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        key: str = LEASE_KEY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.key = key
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis: Any = redis_client(url, timeout=max(0.5, ttl / 3))
        self._valid_until = float("-inf")
        self._failing = False  # the last attempt got no answer from Redis (logged once)

    def held(self) -> bool:
        return self.clock() < self._valid_until

    async def take(self) -> bool:
        """Take or renew the lease; False (and not held) on any failure."""
        started = self.clock()
        try:
            got = await self.redis.eval(_TAKE, 1, self.key, self.holder, int(self.ttl * 1000))
        except Exception as exc:  # Redis down or restarting: not ours until proven again
            if self.held():
                logger.warning("renewing the poller lease failed: %s", exc)
            elif not self._failing:  # a standby that cannot take over says so, once
                logger.warning("taking the poller lease failed (trying again): %s", exc)
            self._failing = True
            self._valid_until = float("-inf")
            return False
        if self._failing:
            logger.info("Redis answers the poller lease again")
            self._failing = False
        if got == 1:
            self._valid_until = started + self.ttl * 0.9
            return True
        self._valid_until = float("-inf")
        return False

    async def release(self) -> None:
        self._valid_until = float("-inf")
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.holder)
        except Exception as exc:
            logger.warning("releasing the poller lease failed: %s", exc)

    async def claim(
        self, ids: Sequence[str], interval: float, prefix: str = DUE_PREFIX
    ) -> dict[str, float] | None:
        """Claim these locations' fetch slots. None: the lease is not ours (fetch
        nothing); otherwise the ids to skip, with seconds until they are due."""
        keys = [self.key, *(prefix + pid for pid in ids)]
        answer = await self.redis.eval(_CLAIM, len(keys), *keys, self.holder, int(interval * 1000))
        if answer == -1:
            self._valid_until = float("-inf")
            return None
        return {ids[int(answer[i]) - 1]: int(answer[i + 1]) / 1000 for i in range(0, len(answer), 2)}

    async def reschedule(self, delays: dict[str, float], prefix: str = DUE_PREFIX) -> None:
        """Record in how many seconds locations are next due."""
        if delays:
            keys = [prefix + pid for pid in delays]
            ms = [max(1, int(d * 1000)) for d in delays.values()]
            await self.redis.eval(_RESCHEDULE, len(keys), *keys, *ms)

    def forecasts(self) -> ForecastSlots:
        """The same lease's schedule of forecast fetches (slots of their own)."""
        return ForecastSlots(self)

    async def aclose(self) -> None:
        await self.redis.aclose()


class ForecastSlots:
    """Forecast fetch slots, claimed under the poller lease like readings' slots."""

    def __init__(self, lease: RedisLease) -> None:
        self.lease = lease

    async def claim(self, ids: Sequence[str], interval: float) -> dict[str, float] | None:
        return await self.lease.claim(ids, interval, FORECAST_DUE_PREFIX)

    async def reschedule(self, delays: dict[str, float]) -> None:
        await self.lease.reschedule(delays, FORECAST_DUE_PREFIX)
