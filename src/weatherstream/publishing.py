"""Where a process's updates go, chosen once at start-up: to its own subscribers through
the hub (a server), or to the channel layer's group of the place (the separate poller).

Both hold the update as the place's latest first, so a subscriber who comes next gets it.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from . import metrics
from .bus import LayerDemand
from .forecasts import KINDS as FORECAST_KINDS
from .forecasts import Forecast
from .hub import Hub
from .latest import Latest, LatestForecasts
from .readings import Reading
from .subscriptions import forecast_key

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, place_id: str, reading: Reading) -> None: ...
    async def publish_forecast(self, place_id: str, forecast: Forecast) -> None: ...


class HubPublisher:
    def __init__(
        self,
        hub: Hub,
        latest: Latest,
        *,
        forecast_hub: Hub | None = None,
        forecasts: LatestForecasts | None = None,
    ) -> None:
        self.hub = hub
        self.latest = latest
        self.forecast_hub = forecast_hub or Hub()
        self.forecasts = forecasts or LatestForecasts()

    async def publish(self, place_id: str, reading: Reading) -> None:
        self.fan_out(place_id, reading)

    def fan_out(self, place_id: str, reading: Reading) -> None:
        """The update to every local subscriber (one text for all)."""
        weather = self.latest.put(place_id, reading)
        started = time.perf_counter()
        sent = self.hub.broadcast(place_id, weather)
        if sent:
            metrics.FANOUT_SECONDS.observe(time.perf_counter() - started)
            metrics.FRAMES.inc(sent)

    def fan_out_if_news(self, place_id: str, reading: Reading) -> None:
        """The poller's latest, sent as this process joins a place: only if not held yet."""
        if self.latest.is_news(place_id, reading):
            self.fan_out(place_id, reading)

    async def publish_forecast(self, place_id: str, forecast: Forecast) -> None:
        self.fan_out_forecast(place_id, forecast)

    def fan_out_forecast(self, place_id: str, forecast: Forecast) -> None:
        """A forecast that supersedes the one held, to the subscribers of its kind (one
        frame for all); one that does not is dropped (a repeat over the layer)."""
        if not self.forecasts.is_news(place_id, forecast):
            return
        frame = self.forecasts.put(place_id, forecast)
        sent = self.forecast_hub.send(forecast_key(forecast.kind, place_id), frame)
        if sent:
            metrics.FRAMES.inc(sent)


class LayerPublisher:
    def __init__(self, demand: LayerDemand, latest: Latest, forecasts: LatestForecasts | None = None) -> None:
        self.demand = demand
        self.latest = latest
        self.forecasts = forecasts or LatestForecasts()

    async def publish(self, place_id: str, reading: Reading) -> None:
        self.latest.put(place_id, reading)
        try:
            await self.demand.publish(place_id, reading)
        except Exception as exc:  # the layer's Redis is down: the next update goes out
            logger.warning("publishing an update of %s failed (%s)", place_id, exc)

    async def publish_forecast(self, place_id: str, forecast: Forecast) -> None:
        self.forecasts.put(place_id, forecast)
        try:
            await self.demand.publish_forecast(place_id, forecast)
        except Exception as exc:  # the layer's Redis is down: the next change goes out
            logger.warning("publishing a forecast of %s failed (%s)", place_id, exc)

    async def send_latest(self, channel: str, place_ids: list[str]) -> None:
        """A server joined these places' groups: send it what is held."""
        for place_id in place_ids:
            if (reading := self.latest.get(place_id)) is not None:
                await self.demand.publish(place_id, reading, to=channel)
            for kind in FORECAST_KINDS:
                if (forecast := self.forecasts.get(place_id, kind)) is not None:
                    await self.demand.publish_forecast(place_id, forecast, to=channel)
