"""The polling schedule: each demanded location once per interval, however many watch it.

The poller knows nothing of Django, WebSockets or storage: it asks ``demand()`` which
places are wanted, fetches those that are due (many in one provider request), and hands
results to ``deliver``. Concurrent requests for one place share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from . import metrics
from .breaker import CLOSED, HALF_OPEN, CircuitBreaker
from .budget import CallBudget
from .places import PlaceLike
from .providers import ProviderError, WeatherProvider
from .readings import Reading

logger = logging.getLogger(__name__)


Results = list[tuple[PlaceLike, Reading | None]]
Deliver = Callable[[Results, ProviderError | None], Awaitable[None]]

RETRY_BASE = 5.0  # seconds before the first retry of a failed fetch


class SharedSchedule(Protocol):
    """Fetch slots shared by several pollers (:class:`weatherstream.election.RedisLease`)."""

    async def claim(self, ids: Sequence[str], interval: float) -> dict[str, float] | None:
        """None: this poller may fetch nothing; else ids to skip -> seconds until due."""

    async def reschedule(self, delays: dict[str, float]) -> None:
        """Record in how many seconds each location is next due."""


class Poller:
    def __init__(
        self,
        *,
        provider: WeatherProvider,
        interval: float,
        demand: Callable[[], Iterable[PlaceLike]],
        deliver: Deliver,
        clock: Callable[[], float] = time.monotonic,
        schedule: SharedSchedule | None = None,
        breaker: CircuitBreaker | None = None,
        budget: CallBudget | None = None,
    ) -> None:
        self.provider = provider
        self.schedule = schedule
        self.breaker = breaker
        self.budget = budget
        self.interval = interval
        self.demand = demand
        self.deliver = deliver
        self.clock = clock
        self.requests = 0  # upstream requests made (one per batch)
        self.fetches = 0  # locations fetched
        self._next_due: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._inflight: dict[str, asyncio.Future[Reading | None]] = {}
        self._wake = asyncio.Event()

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
            metrics.DEMAND.set(len(places))
            # (0.0 marks a place asked for at once by request(): not late, just new)
            overdue = [now - at for pid in places if (at := self._next_due.get(pid, 0.0)) > 0.0]
            metrics.POLLER_LAG.set(max(0.0, max(overdue, default=0.0)))
            due = [
                p
                for pid, p in places.items()
                if self._next_due.get(pid, 0.0) <= now and pid not in self._inflight
            ]
            if due:
                try:
                    due = await self._claim(due)
                    if due:
                        await self.fetch(due)
                except Exception:  # never let one bad turn stop polling
                    logger.exception("poller turn failed")
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
            skip = await self.schedule.claim([p.id for p in due], self.interval)
        except Exception as exc:  # the shared store is down: fetch nothing, retry soon
            logger.warning("claiming fetch slots failed: %s", exc)
            skip = None
        now = self.clock()
        if skip is None:
            for p in due:
                self._next_due[p.id] = now + min(1.0, self.interval)
            return []
        for pid, wait in skip.items():
            self._next_due[pid] = now + wait
        return [p for p in due if p.id not in skip]

    async def fetch(self, places: Sequence[PlaceLike]) -> dict[str, Reading | None]:
        """Fetch now; a place already being fetched joins that fetch instead."""
        loop = asyncio.get_running_loop()
        unique = {p.id: p for p in places}
        joined = {pid: self._inflight[pid] for pid in unique if pid in self._inflight}
        mine = {pid: loop.create_future() for pid in unique if pid not in joined}
        self._inflight.update(mine)
        try:
            todo = [unique[pid] for pid in mine]
            size = self.provider.max_batch
            batches = [todo[i : i + size] for i in range(0, len(todo), size)]
            await asyncio.gather(*(self._fetch_batch(b) for b in batches))
        finally:
            for pid, fut in mine.items():
                self._inflight.pop(pid, None)
                if not fut.done():
                    fut.set_result(None)
            self._wake.set()  # the run loop recomputes its wait without these in flight
        return {pid: await asyncio.shield(fut) for pid, fut in {**mine, **joined}.items()}

    def _refusal(self, calls: int) -> ProviderError | None:
        """Why this batch may not go out now (budget spent, circuit open), or None."""
        if self.budget is not None and (wait := self.budget.wait(calls)) > 0:
            logger.warning("upstream call budget spent: %s left", self.budget.remaining())
            return ProviderError(
                f"upstream call budget spent; {wait:.0f}s until it allows more", retry_after=wait
            )
        if self.breaker is not None and not self.breaker.allow():
            wait = self.breaker.retry_in()
            return ProviderError(
                f"circuit open after repeated failures; next probe in {wait:.0f}s", retry_after=wait
            )
        if self.budget is not None and not self.budget.take(calls):
            return ProviderError(f"a batch of {calls} locations is more than UPSTREAM_BUDGET allows at once")
        return None

    async def _fetch_batch(self, batch: Sequence[PlaceLike]) -> None:
        started = self.clock()
        error: ProviderError | None = self._refusal(len(batch))
        readings: list[Reading | None] = [None] * len(batch)
        if error is not None:
            metrics.UPSTREAM_REQUESTS.labels("refused").inc()
        else:
            self.requests += 1
            self.fetches += len(batch)
            sent_at = time.perf_counter()
            # Cancelled (the lease lost, a shutdown), the request may have reached the
            # upstream: its claimed slots stand, so no poller repeats it within the interval.
            try:
                readings = await self.provider.fetch(batch)
                if len(readings) != len(batch):
                    raise ProviderError(f"{len(readings)} readings for {len(batch)} locations")
            except ProviderError as exc:
                error = exc
                readings = [None] * len(batch)
                logger.warning("fetch of %d location(s) failed: %s", len(batch), exc)
            except Exception as exc:  # a provider bug or garbage it did not catch: back off too
                error = ProviderError(f"{type(exc).__name__}: {exc}")
                readings = [None] * len(batch)
                logger.exception("fetch of %d location(s) failed unexpectedly", len(batch))
            metrics.UPSTREAM_SECONDS.observe(time.perf_counter() - sent_at)
            metrics.UPSTREAM_REQUESTS.labels("ok" if error is None else "error").inc()
            if self.breaker is not None:
                was = self.breaker.state
                if error is None:
                    self.breaker.success()
                else:
                    self.breaker.failure()
                if self.breaker.state != was:
                    logger.warning("upstream circuit %s -> %s", was, self.breaker.state)
                state = self.breaker.state
                metrics.CIRCUIT_OPEN.set(0.0 if state == CLOSED else 0.5 if state == HALF_OPEN else 1.0)
        nothing = ProviderError("no usable reading in the answer")
        for place, reading in zip(batch, readings, strict=True):
            # A place the answer had nothing usable for is retried like a failure.
            self._schedule(place.id, started, error or (nothing if reading is None else None))
            fut = self._inflight.get(place.id)
            if fut is not None and not fut.done():
                fut.set_result(reading)
        if self.schedule is not None and (error or None in readings):  # due sooner than claimed
            now = self.clock()
            try:
                await self.schedule.reschedule(
                    {p.id: self._next_due[p.id] - now for p, r in zip(batch, readings) if error or r is None}
                )
            except Exception as exc:
                logger.warning("recording the retry schedule failed: %s", exc)
        await self.deliver(list(zip(batch, readings, strict=True)), error)

    def _schedule(self, place_id: str, started: float, error: ProviderError | None) -> None:
        if error is None:
            self._failures.pop(place_id, None)
            self._next_due[place_id] = started + self.interval
            return
        failures = self._failures[place_id] = self._failures.get(place_id, 0) + 1
        backoff = min(self.interval, RETRY_BASE * 2 ** (failures - 1))
        delay = max(error.retry_after or 0.0, backoff * random.uniform(0.5, 1.0))
        self._next_due[place_id] = self.clock() + delay
