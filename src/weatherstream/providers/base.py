"""The interface every weather provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..forecasts import Forecasts
from ..places import PlaceLike
from ..readings import Reading

# Seconds a place's forecast is kept at least by default: hourly at most.
FORECAST_EVERY = 3600.0


class ProviderError(Exception):
    """A fetch failed; the last good reading stays in use."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamUnreachable(ProviderError):
    """The network or host could not be reached at all (no answer, not a bad answer)."""


class WeatherProvider:
    """Fetches current weather for a batch of places.

    Subclasses set ``name`` (stored as each reading's ``source``), the default and
    minimum poll intervals, and implement :meth:`fetch`.
    """

    name = "base"
    default_interval: float = 900.0
    min_interval: float = 1.0
    max_batch: int = 1
    # Requests to it in flight at once (the chain asks no more of it concurrently).
    max_in_flight: int = 8
    # True when fetches are calls to a third party whose free use is limited: the
    # poller then spends UPSTREAM_BUDGET on them.
    metered: bool = False
    # What its readings may be: real (a weather service's) and/or simulated (marked
    # source="simulated"). The engine serves stored readings of these kinds only.
    real: bool = True
    simulates: bool = False
    # Seconds between two values of the upstream's own (Open-Meteo: 15-minute slots): how
    # old a reading may be when it is new. A place is silent past 2 intervals plus this.
    resolution: float = 0.0
    # Whether it makes forecasts (:meth:`fetch_forecasts`); a chain asks only those that do.
    forecasts: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WeatherProvider:
        return cls()

    @classmethod
    def interval_floor(cls, config: dict[str, Any]) -> float:
        """The shortest poll interval this provider allows under ``config``."""
        return cls.min_interval

    @classmethod
    def calls(cls, count: int) -> float:
        """What a request for ``count`` places costs in the upstream's own accounting of
        free use (the poller spends this much of its call budget on it)."""
        return float(count)

    def new_data_at(self, place: PlaceLike, reading: Reading) -> float | None:
        """When (epoch seconds) the upstream may first have a value newer than ``reading``
        for ``place``: its data's rhythm. None: unknown, the poller waits its interval."""
        return None

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        """Return one reading per place, in order; ``None`` where the upstream had none.

        Raises :class:`ProviderError` when the whole request failed.
        """
        raise NotImplementedError("WeatherProvider subclasses must implement fetch()")

    # -- forecasts (docs/providers.md, "Forecasts") ----------------------------------

    @classmethod
    def forecast_interval(cls, config: dict[str, Any]) -> float:
        """The least time, seconds, between two forecast fetches of a place under
        ``config``: FORECAST_INTERVAL, else an hour (a model's run comes hourly at best)."""
        return float(config.get("FORECAST_INTERVAL") or FORECAST_EVERY)

    @classmethod
    def forecast_calls(cls, count: int) -> float:
        """What a forecast request for ``count`` places costs in the upstream's own
        accounting (spent from the same call budget as readings)."""
        return float(count)

    def forecast_new_data_at(self, place: PlaceLike, forecasts: Forecasts) -> float | None:
        """When (epoch seconds) the upstream may first have a newer forecast for ``place``
        than ``forecasts``. None: unknown, the poller waits its forecast interval."""
        return None

    async def forecast_gate(self, places: Sequence[PlaceLike]) -> dict[str, float]:
        """Of places whose forecast is due, those the upstream has nothing new for yet
        (e.g. no model run since their last fetch), as id -> seconds until they may be
        asked again; they are not fetched now. Must not spend calls of the budget."""
        return {}

    async def fetch_forecasts(self, places: Sequence[PlaceLike]) -> list[Forecasts | None]:
        """One :class:`Forecasts` per place, in order; ``None`` where the upstream had none.

        Raises :class:`ProviderError` when the whole request failed.
        """
        raise NotImplementedError(f"{type(self).__name__} makes no forecasts")

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
