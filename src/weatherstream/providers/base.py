"""The interface every weather provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..places import PlaceLike
from ..readings import Reading


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

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
