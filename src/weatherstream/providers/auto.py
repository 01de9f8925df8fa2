"""Open-Meteo when it answers; simulated readings, marked as such, while it cannot be reached."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..places import PlaceLike
from ..readings import Reading
from .base import UpstreamUnreachable, WeatherProvider
from .openmeteo import OpenMeteoProvider
from .simulated import SimulatedProvider

logger = logging.getLogger(__name__)


class AutoProvider(WeatherProvider):
    """Falls back only when the network is unreachable, not on an upstream's error answer:
    a 5xx or 429 is a fault of real weather, served as stale, never replaced by fake data."""

    name = "auto"
    metered = True
    simulates = True

    def __init__(
        self,
        primary: WeatherProvider,
        fallback: WeatherProvider,
        *,
        reprobe_after: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.reprobe_after = reprobe_after
        self.clock = clock
        self.default_interval = primary.default_interval
        self.min_interval = primary.min_interval
        self.max_batch = primary.max_batch
        self.resolution = primary.resolution
        self.offline_since: float | None = None
        self._next_probe = 0.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AutoProvider:
        return cls(OpenMeteoProvider.from_config(config), SimulatedProvider.from_config(config))

    @classmethod
    def interval_floor(cls, config: dict[str, Any]) -> float:
        return OpenMeteoProvider.interval_floor(config)

    @property
    def degraded(self) -> bool:
        return self.offline_since is not None

    @property
    def source(self) -> str:
        """The provider whose readings are served now."""
        return self.fallback.name if self.degraded else self.primary.name

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        now = self.clock()
        if self.offline_since is not None and now < self._next_probe:
            return await self.fallback.fetch(places)
        try:
            readings = await self.primary.fetch(places)
        except UpstreamUnreachable as exc:
            if self.offline_since is None:
                self.offline_since = now
                logger.warning(
                    "weather upstream unreachable (%s); serving SIMULATED readings, "
                    "marked source=%r, until it answers again",
                    exc,
                    self.fallback.name,
                )
            self._next_probe = now + self.reprobe_after
            return await self.fallback.fetch(places)
        if self.offline_since is not None:
            logger.warning("weather upstream reachable again; real readings resume")
            self.offline_since = None
        return readings

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()
