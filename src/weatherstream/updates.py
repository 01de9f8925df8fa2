"""What a polling process does with a fetch's results: keep what is news, publish it,
then have it stored; mark a place whose fetch failed stale (its last good value).
Forecasts the same way (:class:`ForecastUpdates`): a failed forecast fetch leaves the
last one in place, its ``issued_at`` saying how old it is."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from . import services
from .forecasts import Forecast, Forecasts
from .latest import Latest, LatestForecasts
from .poller import Results
from .providers import ProviderError
from .publishing import Publisher
from .readings import Reading, supersedes
from .recorder import Recorder, uninterrupted

logger = logging.getLogger(__name__)


class Updates:
    def __init__(
        self,
        *,
        latest: Latest,
        publisher: Publisher,
        recorder: Recorder,
        silent: Callable[[Reading], bool],
        reload_unknown: bool,
    ) -> None:
        self.latest = latest
        self.publisher = publisher
        self.recorder = recorder
        self.silent = silent
        # A separate poller meets places through the bus: a failure at a place it holds
        # nothing for (e.g. at a new leader) marks what is stored stale.
        self.reload_unknown = reload_unknown

    async def deliver(self, results: Results, error: ProviderError | None) -> None:
        """The poller's callback: publish what is new, then store it; mark failures stale."""
        if error is not None:
            for place, _ in results:
                await self.go_stale(place.id)
            return
        new: list[tuple[Any, Reading]] = []
        for place, reading in results:
            if reading is None:  # an answer with nothing usable for this place
                await self.go_stale(place.id)
                continue
            if place.id not in self.latest:  # e.g. a poller just elected: what is stored
                await self._reload_quietly(place.id)
            prev = self.latest.get(place.id)
            if (
                prev is not None
                and prev.stale
                and reading.observed_at == prev.observed_at
                and self.silent(reading)
            ):
                continue  # the upstream repeats an old value: it stays marked stale
            if not supersedes(reading, prev):
                if prev is not None and prev.real and not reading.real:
                    await self.go_stale(place.id)  # the auto fallback: keep the real one, stale
                continue  # nothing newer
            new.append((place, reading))
        for place, reading in new:
            await self.publisher.publish(place.id, reading)
        # Then stored with their places (this process may be the first to meet them), by
        # the recorder's own task: a slow database delays no update, a down one loses none.
        if new:
            self.recorder.add(new)

    async def go_stale(self, place_id: str) -> None:
        """Republish the last good reading marked stale (once, not at every failure)."""
        if self.reload_unknown and place_id not in self.latest:
            await self._reload_quietly(place_id)
        prev = self.latest.get(place_id)
        if prev is not None and not prev.stale:
            await self.publisher.publish(place_id, prev.as_stale())

    async def _reload_quietly(self, place_id: str) -> None:
        try:
            await self.latest.reload(place_id)
        except Exception as exc:  # the database is down too: nothing to compare with
            logger.warning("loading the latest reading of %s failed (%s)", place_id, exc)


class ForecastUpdates:
    def __init__(self, *, latest: LatestForecasts, publisher: Publisher) -> None:
        self.latest = latest
        self.publisher = publisher

    async def deliver(self, results: Results, error: ProviderError | None) -> None:
        """The forecast poller's callback: publish each forecast that supersedes the one
        held (a changed forecast), then store it."""
        new: list[tuple[Any, Forecast]] = []
        for place, fetched in results:
            if not isinstance(fetched, Forecasts):
                continue  # failed, or nothing usable: the held forecast stays
            if place.id not in self.latest.ids():  # e.g. a poller just elected: what is stored
                try:
                    await self.latest.reload(place.id)
                except Exception as exc:  # the database is down: nothing to compare with
                    logger.warning("loading the forecasts of %s failed (%s)", place.id, exc)
            for forecast in fetched.kinds.values():
                if self.latest.is_news(place.id, forecast):
                    await self.publisher.publish_forecast(place.id, forecast)
                    new.append((place, forecast))
        if not new:
            return
        try:
            await uninterrupted(database_sync_to_async(services.forecasts_store)(items=new))
        except Exception as exc:  # the next changed forecast is stored; clients got this one
            logger.warning("storing %d forecast(s) failed (%s)", len(new), exc)
