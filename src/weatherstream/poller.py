"""The polling schedule: each demanded location once per interval, however many watch it.

The poller knows nothing of Django, WebSockets or storage: it asks ``demand()`` which
places are wanted, fetches those that are due (many in one provider request) from its
:class:`~weatherstream.upstream.Chain`, and hands results to ``deliver``. Concurrent
requests for one place share one fetch.

When is a place due again? When its upstream may have something new (the provider's
``new_data_at``: Open-Meteo's next 15-minute slot, MET Norway's ``Expires``), but never
sooner than ``spacing`` after the last fetch; a provider without a rhythm is fetched
every ``interval``. When the places watched would spend more calls than the first
upstream's budget allows, the spacing is stretched evenly for all of them
(``effective_interval``), and a turn's due places go out most watched first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

from . import metrics
from .breaker import CircuitBreaker
from .budget import Budget
from .places import PlaceLike
from .providers import ProviderError, WeatherProvider
from .upstream import Chain, Upstream

logger = logging.getLogger(__name__)


T = TypeVar("T")
Results = list[tuple[PlaceLike, Any]]  # (place, its reading, forecasts, or None)
Deliver = Callable[[Results, ProviderError | None], Awaitable[None]]

RETRY_BASE = 5.0  # seconds before the first retry of a failed fetch
# Places due within this many seconds of each other (a tenth of the spacing at most) go
# out in one request: due times computed from one upstream rhythm at different fetches
# differ by a hair.
COALESCE = 1.0
# A due time the upstream's rhythm gives is at most this many intervals (or data
# resolutions) ahead: an absurd Expires or a reading stamped in the future cannot park a
# watched place for good.
RHYTHM_CEILING = 4


class Fetcher(Protocol[T]):
    """What a poller fetches from: :class:`~weatherstream.upstream.Chain` (readings) or
    :class:`~weatherstream.upstream.Forecasting` (forecasts)."""

    @property
    def max_batch(self) -> int: ...
    @property
    def resolution(self) -> float: ...
    @property
    def requests(self) -> int: ...
    @property
    def fetches(self) -> int: ...
    def stretch(self, count: int, shared: float = 0.0) -> float: ...
    async def gate(self, places: Sequence[PlaceLike]) -> dict[str, float]: ...
    async def fetch(self, places: Sequence[PlaceLike]) -> tuple[list[T | None], ProviderError | None]: ...
    def new_data_at(self, place: PlaceLike, result: T) -> float | None: ...
    def first_again_in(self, result: T) -> float | None: ...


class SharedSchedule(Protocol):
    """Fetch slots shared by several pollers (:class:`weatherstream.election.RedisLease`)."""

    async def claim(self, ids: Sequence[str], interval: float) -> dict[str, float] | None:
        """None: this poller may fetch nothing; else ids to skip -> seconds until due."""

    async def reschedule(self, delays: dict[str, float]) -> None:
        """Record in how many seconds each location is next due."""


class Poller(Generic[T]):
    def __init__(
        self,
        *,
        interval: float,
        demand: Callable[[], Iterable[PlaceLike]],
        deliver: Deliver,
        chain: Fetcher[T] | None = None,
        provider: WeatherProvider | None = None,
        breaker: CircuitBreaker | None = None,
        budget: Budget | None = None,
        spacing: float | None = None,
        watchers: Callable[[str], int] | None = None,
        shared: Callable[[], float] | None = None,
        gauges: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        schedule: SharedSchedule | None = None,
    ) -> None:
        if chain is None:  # one provider, with its guards
            if provider is None:
                raise TypeError("Poller needs a chain or a provider")
            chain = cast(Fetcher[T], Chain([Upstream(provider, breaker=breaker, budget=budget)]))
        self.chain: Fetcher[T] = chain
        self.schedule = schedule
        self.interval = interval
        # The least time between two fetches of a place whose upstream says when it has
        # something new (POLL_INTERVAL if set, else the provider's floor).
        self.spacing = interval if spacing is None else spacing
        self.effective_interval = interval
        self.demand = demand
        self.deliver = deliver
        self.watchers = watchers
        # What the other poller on the same budget spends a round of this one's, when
        # both are stretched alike (forecasts, for readings): the budget is shared.
        self.shared = shared
        self.gauges = gauges  # it sets the demand, interval and lag gauges (one poller does)
        self.clock = clock
        self.wall = wall
        self._stretch = 0.0  # the budget's spacing for the places watched now
        self._next_due: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._inflight: dict[str, asyncio.Future[T | None]] = {}
        self._wake = asyncio.Event()

    @property
    def requests(self) -> int:
        """Upstream requests made (one per batch), all providers."""
        return self.chain.requests

    @property
    def fetches(self) -> int:
        """Locations asked of upstreams, all providers."""
        return self.chain.fetches

    def request(self, place_id: str) -> None:
        """Fetch this place at the next turn (a first subscription)."""
        self._next_due[place_id] = 0.0
        self._wake.set()

    def due_in(self, place_id: str) -> float | None:
        """Seconds until this place is next due (0 or less: due now), None if unscheduled."""
        due = self._next_due.get(place_id)
        return None if due is None else due - self.clock()

    def failures(self, place_id: str) -> int:
        """How many fetches of this place failed in a row (0 since its last success)."""
        return self._failures.get(place_id, 0)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            places = {p.id: p for p in self.demand()}
            for gone in self._next_due.keys() - places.keys():
                del self._next_due[gone]
                self._failures.pop(gone, None)
            now = self.clock()
            gauges = self.gauges
            if gauges:
                metrics.DEMAND.set(len(places))
            self._stretch = self.chain.stretch(len(places), self.shared() if self.shared else 0.0)
            self.effective_interval = max(self.interval, self._stretch)
            if gauges:
                metrics.EFFECTIVE_INTERVAL.set(self.effective_interval)
            # (0.0 marks a place asked for at once by request(): not late, just new)
            overdue = [now - at for pid in places if (at := self._next_due.get(pid, 0.0)) > 0.0]
            if gauges:
                metrics.POLLER_LAG.set(max(0.0, max(overdue, default=0.0)))
            coalesce = min(COALESCE, self._min_wait() / 10)
            due = [
                p
                for pid, p in places.items()
                if self._next_due.get(pid, 0.0) <= now + coalesce and pid not in self._inflight
            ]
            if due:
                if (watchers := self.watchers) is not None:  # the most watched first, if the
                    due.sort(key=lambda p: -watchers(p.id))  # budget runs short
                try:
                    due = await self._gate(due)  # before claiming: a gated place keeps no slot
                    due = await self._claim(due)
                    if due:
                        await self.fetch(due)
                except Exception:  # never let one bad turn stop polling, nor spin
                    logger.exception("poller turn failed")
                    retry_at = self.clock() + RETRY_BASE
                    for p in due:
                        if self._next_due.get(p.id, 0.0) < retry_at:
                            self._next_due[p.id] = retry_at
            # A place another caller is fetching is rescheduled when that fetch ends.
            waits = [
                due_at
                for pid, due_at in self._next_due.items()
                if pid in places and pid not in self._inflight
            ]
            timeout = max(0.0, min(waits) - self.clock()) if waits else None
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
            # cancellation that arrives as the event is set, and the loop would go on
            # (an engine's stop() then waits for it forever).
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _claim(self, due: list[PlaceLike]) -> list[PlaceLike]:
        """With a shared schedule: only the places no other poller has fetched lately."""
        if self.schedule is None:
            return due
        try:
            skip = await self.schedule.claim([p.id for p in due], self._min_wait())
        except Exception as exc:  # the shared store is down: fetch nothing, retry soon
            logger.warning("claiming fetch slots failed: %s", exc)
            skip = None
        now = self.clock()
        if skip is None:
            for p in due:
                self._next_due[p.id] = now + min(1.0, self._min_wait())
            return []
        for pid, wait in skip.items():
            self._next_due[pid] = now + wait
        return [p for p in due if p.id not in skip]

    async def _gate(self, due: list[PlaceLike]) -> list[PlaceLike]:
        """Only the places whose upstream may have something new (the chain's gate: e.g.
        no forecast model run since their last fetch); the others wait as it says."""
        if not due:
            return due
        wait = await self.chain.gate(due)
        now = self.clock()
        for pid, seconds in wait.items():
            self._next_due[pid] = now + max(seconds, COALESCE)
        return [p for p in due if p.id not in wait]

    async def fetch(self, places: Sequence[PlaceLike]) -> dict[str, T | None]:
        """Fetch now; a place already being fetched joins that fetch instead."""
        loop = asyncio.get_running_loop()
        unique = {p.id: p for p in places}
        joined = {pid: self._inflight[pid] for pid in unique if pid in self._inflight}
        mine = {pid: loop.create_future() for pid in unique if pid not in joined}
        self._inflight.update(mine)
        try:
            todo = [unique[pid] for pid in mine]
            size = self.chain.max_batch
            batches = [todo[i : i + size] for i in range(0, len(todo), size)]
            await asyncio.gather(*(self._fetch_batch(b) for b in batches))
        finally:
            for pid, fut in mine.items():
                self._inflight.pop(pid, None)
                if not fut.done():
                    fut.set_result(None)
            self._wake.set()  # the run loop recomputes its wait without these in flight
        return {pid: await asyncio.shield(fut) for pid, fut in {**mine, **joined}.items()}

    def _min_wait(self) -> float:
        """The least time between two fetches of one place now."""
        return max(self.spacing, self._stretch)

    async def _fetch_batch(self, batch: Sequence[PlaceLike]) -> None:
        started = self.clock()
        readings, error = await self.chain.fetch(batch)
        for place, reading in zip(batch, readings, strict=True):
            # A place no upstream had a reading for is retried like a failure.
            self._schedule(place, started, reading, error)
            fut = self._inflight.get(place.id)
            if fut is not None and not fut.done():
                fut.set_result(reading)
        if self.schedule is not None:  # when each is really due: sooner after a failure,
            now = self.clock()  # later when its upstream has nothing new before then
            try:
                await self.schedule.reschedule({p.id: self._next_due[p.id] - now for p in batch})
            except Exception as exc:
                logger.warning("recording the fetch schedule failed: %s", exc)
        failed = error if all(r is None for r in readings) else None
        await self.deliver(list(zip(batch, readings, strict=True)), failed)

    def _schedule(
        self, place: PlaceLike, started: float, reading: T | None, error: ProviderError | None
    ) -> None:
        if reading is not None:
            self._failures.pop(place.id, None)
            self._next_due[place.id] = self._due_after(place, started, reading)
            return
        failures = self._failures[place.id] = self._failures.get(place.id, 0) + 1
        backoff = min(self.effective_interval, RETRY_BASE * 2 ** min(failures - 1, 30))
        wait = error.retry_after if error is not None else None
        delay = max(wait or 0.0, backoff * random.uniform(0.5, 1.0))
        self._next_due[place.id] = self.clock() + delay

    def _due_after(self, place: PlaceLike, started: float, reading: T) -> float:
        """When a place just read is due again (on this poller's clock): when its upstream
        has something new, or sooner when the first provider may take back over."""
        earliest = started + self._min_wait()
        at = self.chain.new_data_at(place, reading)
        if at is None:  # no rhythm known: every interval
            due = started + max(self.interval, self._stretch)
        else:  # never further than a few rounds ahead, whatever a header says
            now = self.clock()
            ceiling = now + RHYTHM_CEILING * max(self.effective_interval, self.chain.resolution)
            due = min(max(earliest, now + (at - self.wall())), ceiling)
        first_in = self.chain.first_again_in(reading)
        if first_in is not None:
            due = min(due, max(earliest, self.clock() + first_in))
        return due
