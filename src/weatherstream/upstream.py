"""Where readings come from: each provider behind its own circuit breaker and call
budget (an :class:`Upstream`), and the :class:`Chain` of them a place is fetched from.

A chain asks its upstreams in order: the places the first has no reading for (it
failed, its circuit is open, its budget is spent, its answer had nothing usable) go to
the next, and so on. Every reading carries the source that served it. The first
upstream is asked again at every fetch, so it takes back over as soon as it answers;
while its circuit is open it costs nothing (no call until its breaker's next probe),
so a failing provider is not asked and dropped in turn at every fetch.

Simulated readings (``offline``, the ``auto`` setting) are served only while no real
upstream could be reached at all, never in place of an upstream's error answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import metrics
from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from .budget import Budget, CallBudget, RedisBudget
from .election import redis_url
from .forecasts import Forecasts
from .places import PlaceLike
from .providers import ProviderError, UpstreamUnreachable, WeatherProvider, providers_from_config
from .providers.base import FORECAST_EVERY as FORECAST_SPACING
from .readings import Reading

logger = logging.getLogger(__name__)

REPROBE_AFTER = 300.0  # seconds between probes of the real upstreams while offline
BUDGET_RETRY = 5.0  # seconds before a place refused for an unreadable budget is retried
# What a chain is asked for: current readings, or forecasts (from the providers that make
# them, spending the same breakers and budgets).
READINGS = "readings"
FORECASTS = "forecasts"


class Refused(ProviderError):
    """No request went out (circuit open, budget spent). ``unreachable``: the upstream's
    last request found no network, so the refusal says nothing about it answering."""

    def __init__(self, message: str, *, retry_after: float | None = None, unreachable: bool = False) -> None:
        super().__init__(message, retry_after=retry_after)
        self.unreachable = unreachable


class Upstream:
    """One provider, guarded: no call while its circuit is open or its budget spent."""

    def __init__(
        self,
        provider: WeatherProvider,
        *,
        breaker: CircuitBreaker | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.provider = provider
        self.breaker = breaker
        self.budget = budget
        self.unreachable = False  # its last request found no network
        self.requests = 0  # requests sent (one per batch)
        self.fetches = 0  # locations asked for
        name = provider.name
        for outcome in ("ok", "error", "refused"):  # present from the start, at 0
            metrics.UPSTREAM_REQUESTS.labels(name, outcome)
        metrics.UPSTREAM_CALLS.labels(name)

    @property
    def name(self) -> str:
        return self.provider.name

    def calls(self, count: int, job: str = READINGS) -> float:
        """What a request for ``count`` places costs in the upstream's accounting."""
        if job == FORECASTS:
            return self.provider.forecast_calls(count)
        return self.provider.calls(count)

    def _refused(self, message: str, retry_after: float | None = None) -> Refused:
        return Refused(f"{self.name}: {message}", retry_after=retry_after, unreachable=self.unreachable)

    async def refusal(self, count: int, job: str = READINGS) -> Refused | None:
        """Why a request for ``count`` places may not go out now, or None."""
        calls = self.calls(count, job)
        try:
            wait = 0.0 if self.budget is None else await self.budget.until(calls)
            if wait > 0:
                logger.warning("%s: call budget spent; %.0fs until it allows more", self.name, wait)
                return self._refused(f"call budget spent; {wait:.0f}s until it allows more", wait)
            if self.breaker is not None:
                if not self.breaker.allow():
                    wait = self.breaker.retry_in()
                    return self._refused(
                        f"circuit open after repeated failures; next probe in {wait:.0f}s", wait
                    )
                if self.breaker.state == HALF_OPEN:  # this request is the probe
                    metrics.CIRCUIT_OPEN.labels(self.name).set(0.5)
            if self.budget is not None and not await self.budget.spend(calls):
                too_many = f"a batch of {count} locations is more than its call budget allows at once"
                return self._refused(too_many)
        except Exception as exc:  # a shared budget's Redis fails: spend nothing, retry soon
            logger.warning("%s: the call budget cannot be used (%s)", self.name, exc)
            return self._refused(f"call budget unavailable: {exc}", BUDGET_RETRY)
        return None

    def stretch(self, count: int, job: str = READINGS, shared: float = 0.0) -> float:
        """The shortest interval, seconds, at which ``count`` places fit the call budget
        in every one of its periods (0 without a budget), with ``shared`` calls a round
        of the other job (:func:`budget.spacing`)."""
        if self.budget is None or not count:
            return 0.0
        return self.budget.spacing(self.calls(count, job), shared)

    async def fetch(self, places: Sequence[PlaceLike], job: str = READINGS) -> list[Any]:
        """One reading (or forecasts, for ``job`` FORECASTS), or None, per place;
        ProviderError if refused or failed."""
        refused = await self.refusal(len(places), job)
        if refused is not None:
            metrics.UPSTREAM_REQUESTS.labels(self.name, "refused").inc()
            raise refused
        error: ProviderError | None = None
        self.requests += 1
        self.fetches += len(places)
        metrics.UPSTREAM_CALLS.labels(self.name).inc(self.calls(len(places), job))
        sent_at = time.perf_counter()
        # Cancelled (the lease lost, a shutdown), the request may have reached the
        # upstream: its spent budget and claimed slots stand.
        try:
            if job == FORECASTS:
                readings: list[Any] = await self.provider.fetch_forecasts(places)
            else:
                readings = await self.provider.fetch(places)
            if len(readings) != len(places):
                raise ProviderError(f"{len(readings)} readings for {len(places)} locations")
        except ProviderError as exc:
            error = exc
            logger.warning("%s: fetch of %d location(s) failed: %s", self.name, len(places), exc)
        except Exception as exc:  # a provider bug or garbage it did not catch: back off too
            error = ProviderError(f"{type(exc).__name__}: {exc}")
            logger.exception("%s: fetch of %d location(s) failed unexpectedly", self.name, len(places))
        metrics.UPSTREAM_SECONDS.labels(self.name).observe(time.perf_counter() - sent_at)
        metrics.UPSTREAM_REQUESTS.labels(self.name, "ok" if error is None else "error").inc()
        self.unreachable = isinstance(error, UpstreamUnreachable)
        self._record(error)
        if error is not None:
            raise error
        return readings

    def _record(self, error: ProviderError | None) -> None:
        if self.breaker is None:
            return
        was = self.breaker.state
        if error is None:
            self.breaker.success()
        else:
            self.breaker.failure()
        state = self.breaker.state
        if state != was:
            logger.warning("%s: upstream circuit %s -> %s", self.name, was, state)
        # (0.5, half-open, is set when a probe goes out: see refusal)
        metrics.CIRCUIT_OPEN.labels(self.name).set(0.0 if state == CLOSED else 1.0)


class Chain:
    """Upstreams asked in order for each place until one has a reading."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        offline: WeatherProvider | None = None,
        reprobe_after: float = REPROBE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not upstreams:
            raise ValueError("a chain needs at least one upstream")
        self.upstreams = list(upstreams)
        self.offline = offline
        self.reprobe_after = reprobe_after
        self.clock = clock
        self.offline_since: float | None = None
        self._next_probe = 0.0
        # Requests in flight per upstream: a refusal (open circuit, spent budget) is
        # decided when a request's turn comes, not for all of them at once beforehand.
        self._turns = [asyncio.Semaphore(max(1, u.provider.max_in_flight)) for u in self.upstreams]
        self._by_name = {u.name: u.provider for u in self.upstreams}
        if offline is not None:
            self._by_name.setdefault(offline.name, offline)

    @property
    def first(self) -> Upstream:
        return self.upstreams[0]

    @property
    def max_batch(self) -> int:
        """Places handed to :meth:`fetch` at once: each upstream batches them its own way."""
        return max(u.provider.max_batch for u in self.upstreams)

    @property
    def real(self) -> bool:
        """Some of its readings may be real (a weather service's)."""
        return any(u.provider.real for u in self.upstreams)

    @property
    def simulates(self) -> bool:
        """Some of its readings may be simulated (marked so)."""
        return self.offline is not None or any(u.provider.simulates for u in self.upstreams)

    @property
    def resolution(self) -> float:
        """The coarsest data rhythm of its providers, seconds."""
        return max(u.provider.resolution for u in self.upstreams)

    @property
    def degraded(self) -> bool:
        """Serving simulated readings because no real upstream could be reached."""
        return self.offline_since is not None

    @property
    def source(self) -> str:
        """The source readings come from now: the first upstream whose circuit is not
        open, or the simulated fallback while offline."""
        if self.degraded and self.offline is not None:
            return self.offline.name
        for upstream in self.upstreams:
            if upstream.breaker is None or upstream.breaker.state != OPEN:
                return upstream.name
        return self.first.name

    @property
    def requests(self) -> int:
        return sum(u.requests for u in self.upstreams)

    @property
    def fetches(self) -> int:
        return sum(u.fetches for u in self.upstreams)

    def provider_of(self, reading: Reading | Forecasts) -> WeatherProvider | None:
        """The provider a reading came from (by its source)."""
        return self._by_name.get(reading.source)

    def new_data_at(self, place: PlaceLike, reading: Reading) -> float | None:
        provider = self.provider_of(reading)
        return None if provider is None else provider.new_data_at(place, reading)

    def first_again_in(self, reading: Reading | Forecasts, first: Upstream | None = None) -> float | None:
        """For a reading the first upstream (or ``first``) did not serve: seconds until it
        may be asked again (its breaker's next probe), so that it takes back over when it
        recovers; None for its own readings and simulated ones."""
        first = first or self.first
        if reading.source == first.name or not reading.real or self.degraded:
            return None
        breaker = first.breaker
        return 0.0 if breaker is None else breaker.retry_in()

    def stretch(self, count: int, shared: float = 0.0) -> float:
        """The first upstream's budget spacing for ``count`` places' readings."""
        return self.first.stretch(count, READINGS, shared)

    def calls(self, count: int) -> float:
        """What the readings of ``count`` places cost a round at the first upstream."""
        return self.first.calls(count) if count else 0.0

    async def gate(self, places: Sequence[PlaceLike]) -> dict[str, float]:
        """Readings are asked for when due (their rhythm is in :meth:`new_data_at`)."""
        return {}

    async def fetch(
        self, places: Sequence[PlaceLike], job: str = READINGS
    ) -> tuple[list[Any], ProviderError | None]:
        """A reading (or forecasts, for ``job`` FORECASTS) or None per place, in order, and
        the error that left places without one (None when no upstream failed)."""
        readings: list[Any] = [None] * len(places)
        if job == FORECASTS:  # simulated forecasts only while readings found no network
            offline = self.offline if self.degraded and self.offline and self.offline.forecasts else None
            if offline is not None:
                return await self._simulate(places, readings, None, job)
        else:
            offline = self.offline
            if self.degraded and self.clock() < self._next_probe:
                return await self._simulate(places, readings, None, job)
        errors: list[ProviderError] = []
        answered = False  # some upstream answered (even with an error): the network is up
        pending = list(range(len(places)))
        for upstream, turns in zip(self.upstreams, self._turns, strict=True):
            if not pending:
                break
            if job == FORECASTS and not upstream.provider.forecasts:
                continue
            size = upstream.provider.max_batch
            batches = [pending[i : i + size] for i in range(0, len(pending), size)]

            async def fetch(batch: list[int], upstream: Upstream = upstream, turns: Any = turns) -> Any:
                async with turns:
                    return await upstream.fetch([places[i] for i in batch], job)

            outcomes = await asyncio.gather(*(fetch(batch) for batch in batches), return_exceptions=True)
            for batch, outcome in zip(batches, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, ProviderError):
                        raise outcome
                    errors.append(outcome)
                    if isinstance(outcome, Refused):  # no request: only what its last one found
                        answered = answered or not outcome.unreachable
                    elif not isinstance(outcome, UpstreamUnreachable):
                        answered = True
                    continue
                answered = True
                for i, reading in zip(batch, outcome, strict=True):
                    readings[i] = reading
            pending = [i for i in pending if readings[i] is None]
        if job == FORECASTS:  # the network's state is the readings' to decide
            return readings, (_combined(errors) if errors and pending else None)
        if not errors and not pending:
            self._online()
            return readings, None
        if not answered and offline is not None:
            return await self._simulate(places, readings, errors[-1], job)
        self._online()
        if not pending or not errors:  # a place with nothing usable in an answer: no error
            return readings, None
        return readings, _combined(errors)

    def _online(self) -> None:
        if self.offline_since is not None:
            logger.warning("weather upstream reachable again; real readings resume")
            self.offline_since = None

    async def _simulate(
        self, places: Sequence[PlaceLike], readings: list[Any], cause: ProviderError | None, job: str
    ) -> tuple[list[Any], ProviderError | None]:
        assert self.offline is not None
        now = self.clock()
        if cause is not None:
            if self.offline_since is None:
                self.offline_since = now
                logger.warning(
                    "weather upstream unreachable (%s); serving SIMULATED readings, "
                    "marked source=%r, until it answers again",
                    cause,
                    self.offline.name,
                )
            self._next_probe = now + self.reprobe_after
        todo = [i for i, r in enumerate(readings) if r is None]
        asked = [places[i] for i in todo]
        if job == FORECASTS:
            simulated: list[Any] = await self.offline.fetch_forecasts(asked)
        else:
            simulated = await self.offline.fetch(asked)
        for i, reading in zip(todo, simulated, strict=True):
            readings[i] = reading
        return readings, None

    async def aclose(self) -> None:
        for upstream in self.upstreams:
            await upstream.provider.aclose()
        if self.offline is not None:
            await self.offline.aclose()


class Forecasting:
    """A chain asked for forecasts: what the forecast poller fetches from, with the same
    interface as :class:`Chain` for readings. Only its providers that make forecasts are
    asked; their breakers and call budgets are the ones readings use."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.upstreams = [u for u in chain.upstreams if u.provider.forecasts]
        self.providers = [u.provider for u in self.upstreams]

    @property
    def enabled(self) -> bool:
        """Some provider of the chain makes forecasts."""
        return bool(self.providers)

    @property
    def max_batch(self) -> int:
        return max((p.max_batch for p in self.providers), default=1)

    @property
    def resolution(self) -> float:
        return FORECAST_SPACING

    @property
    def requests(self) -> int:
        return self.chain.requests

    @property
    def fetches(self) -> int:
        return self.chain.fetches

    def stretch(self, count: int, shared: float = 0.0) -> float:
        return self.upstreams[0].stretch(count, FORECASTS, shared) if self.upstreams else 0.0

    def calls(self, count: int) -> float:
        """What the forecasts of ``count`` places cost a round from the budget readings
        spend (the chain's first upstream's); 0 when they spend another one."""
        if not count or not self.upstreams or self.upstreams[0] is not self.chain.first:
            return 0.0
        return self.providers[0].forecast_calls(count)

    @property
    def shares_budget(self) -> bool:
        """Forecasts and readings spend the same call budget (the first upstream's)."""
        return bool(self.upstreams) and self.upstreams[0] is self.chain.first

    async def gate(self, places: Sequence[PlaceLike]) -> dict[str, float]:
        """Places whose preferred provider has nothing new for them yet (its
        ``forecast_gate``; a provider that fails to say gates nothing)."""
        if not self.providers or not places:
            return {}
        try:
            return await self.providers[0].forecast_gate(places)
        except Exception:
            logger.exception("%s: forecast_gate failed", self.providers[0].name)
            return {}

    async def fetch(self, places: Sequence[PlaceLike]) -> tuple[list[Forecasts | None], ProviderError | None]:
        return await self.chain.fetch(places, FORECASTS)

    def new_data_at(self, place: PlaceLike, forecasts: Forecasts) -> float | None:
        """The provider's rhythm; a simulated forecast (served while offline) no later
        than the chain's next probe of the network, so that a real one replaces it soon."""
        provider = self.chain.provider_of(forecasts)
        at = None if provider is None else provider.forecast_new_data_at(place, forecasts)
        if not forecasts.real and any(p.real for p in self.providers):  # the offline fallback's
            probe = time.time() + self.chain.reprobe_after
            at = probe if at is None else min(at, probe)
        return at

    def first_again_in(self, forecasts: Forecasts) -> float | None:
        """As for readings, measured against the first provider that makes forecasts."""
        return self.chain.first_again_in(forecasts, self.upstreams[0]) if self.upstreams else None


def load_chain(config: dict[str, Any]) -> Chain:
    """The chain ``PROVIDER`` names, each provider with its own breaker, and its call
    budget (``UPSTREAM_BUDGET``) when its upstream meters free use."""
    real, offline = providers_from_config(config)

    def guarded(provider: WeatherProvider) -> Upstream:
        return Upstream(
            provider,
            breaker=CircuitBreaker(threshold=config["BREAKER_FAILURES"], cooldown=config["BREAKER_COOLDOWN"]),
            budget=load_budget(config, provider),
        )

    return Chain([guarded(p) for p in real], offline=offline)


def load_budget(config: dict[str, Any], provider: WeatherProvider) -> Budget | None:
    """``UPSTREAM_BUDGET`` for a provider whose upstream meters free use: in Redis when
    the setup has one (``REDIS_URL`` or a channels_redis layer: one budget for the whole
    cluster), else in this process."""
    limits = config["UPSTREAM_BUDGET"]
    if not limits or not provider.metered:
        return None
    url = redis_url(config)
    return RedisBudget(limits, url, name=provider.name) if url else CallBudget(limits)


def _combined(errors: list[ProviderError]) -> ProviderError:
    """One error for places no upstream served: every message, and the soonest retry."""
    if len(errors) == 1:
        return errors[0]
    waits = [e.retry_after for e in errors]
    retry_after = None if None in waits else min(w for w in waits if w is not None)
    unique = list(dict.fromkeys(str(e) for e in errors))
    return ProviderError("; ".join(unique), retry_after=retry_after)
