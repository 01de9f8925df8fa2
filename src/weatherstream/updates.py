"""What a polling process does with a fetch's results: keep what is news, publish it,
then have it stored; mark a place whose fetch failed stale (its last good value)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .latest import Latest
from .poller import Results
from .providers import ProviderError
from .publishing import Publisher
from .readings import Reading, supersedes
from .recorder import Recorder

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
