"""The latest reading, and forecast of each kind, of each place a process knows: what a
new subscriber gets at once.

Which of two readings a place keeps is :func:`readings.supersedes` (a real reading beats
a simulated one), and of two forecasts :func:`forecasts.supersedes`. The JSON text of
each reading, and each forecast's frame, is kept once made, so a subscribe or a fan-out
serializes nothing again.

The readings put for each place in the last RECENT_SECONDS (at most RECENT) are kept too,
counted, so that a resume (a subscribe with ``since``) can add what was published here but
is not in the database yet, or was published while it read the database.
"""

from __future__ import annotations

import time
from collections import deque

from channels.db import database_sync_to_async

from . import forecasts, protocol, services
from .forecasts import Forecast
from .places import is_station
from .readings import Reading, supersedes

RECENT = 64  # readings of each place kept for resumes, at most (a minute of 1 s polls)
RECENT_SECONDS = 120.0  # and for this long


class Latest:
    def __init__(self, *, real: bool = True, simulated: bool = True) -> None:
        # Which kinds the database may hand back: a server on a real provider never
        # takes up a stored simulated reading (a station's readings are real, always taken).
        self.real, self.simulated = real, simulated
        self.readings: dict[str, Reading] = {}
        self._texts: dict[str, str] = {}
        self._recent: dict[str, deque[tuple[float, Reading]]] = {}  # (put at, reading)
        self._puts: dict[str, int] = {}  # readings put for the place so far

    def get(self, place_id: str) -> Reading | None:
        return self.readings.get(place_id)

    def __contains__(self, place_id: object) -> bool:
        return place_id in self.readings

    def ids(self) -> set[str]:
        return set(self.readings)

    def put(self, place_id: str, reading: Reading) -> str:
        """Hold ``reading`` as the place's latest; returns its JSON text."""
        self.readings[place_id] = reading
        now = time.monotonic()
        recent = self._recent.get(place_id)
        if recent is None:
            recent = self._recent[place_id] = deque(maxlen=RECENT)
        while recent and recent[0][0] < now - RECENT_SECONDS:
            recent.popleft()
        recent.append((now, reading))
        self._puts[place_id] = self._puts.get(place_id, 0) + 1
        text = self._texts[place_id] = protocol.dumps(reading.to_wire())
        return text

    def mark(self, place_id: str) -> int:
        """A mark to ask :meth:`recent` about later."""
        return self._puts.get(place_id, 0)

    def recent(self, place_id: str, mark: int) -> list[Reading] | None:
        """The readings of the place kept (put in the last RECENT_SECONDS, at most RECENT),
        oldest first; None when those put after ``mark`` are not all among them."""
        kept = self._recent.get(place_id, ())
        if self._puts.get(place_id, 0) - mark > len(kept):
            return None
        return [reading for _, reading in kept]

    def text(self, place_id: str) -> str | None:
        """The JSON text of the latest reading (a stale one's anew: its age moves)."""
        reading = self.readings.get(place_id)
        if reading is None:
            return None
        text = self._texts.get(place_id)
        if text is None or reading.stale:
            text = self._texts[place_id] = protocol.dumps(reading.to_wire())
        return text

    def is_news(self, place_id: str, reading: Reading) -> bool:
        """Whether ``reading`` replaces what is held: it supersedes it, or it marks the same
        reading stale."""
        held = self.readings.get(place_id)
        if supersedes(reading, held):
            return True
        assert held is not None
        same = reading.observed_at == held.observed_at and reading.source == held.source
        return same and reading.stale and not held.stale

    def forget(self, place_id: str) -> None:
        self.readings.pop(place_id, None)
        self._texts.pop(place_id, None)
        self._recent.pop(place_id, None)
        self._puts.pop(place_id, None)  # no look-up is under way: the sweep spares those places

    async def reload(self, place_id: str) -> None:
        """Take up the stored latest reading, if it supersedes the one held."""
        stored = await database_sync_to_async(services.observation_latest)(
            location_id=place_id, real=self.real or is_station(place_id), simulated=self.simulated
        )
        held = self.readings.get(place_id)
        same = held is not None and stored is not None and stored.observed_at == held.observed_at
        if stored is not None and not same and supersedes(stored, held):
            self.readings[place_id] = stored
            self._texts.pop(place_id, None)


class LatestForecasts:
    """The latest forecast of each kind of each place, and its ``forecast`` frame."""

    def __init__(self, *, real: bool = True, simulated: bool = True) -> None:
        self.real, self.simulated = real, simulated
        self.held: dict[tuple[str, str], Forecast] = {}
        self._frames: dict[tuple[str, str], str] = {}

    def get(self, place_id: str, kind: str) -> Forecast | None:
        return self.held.get((place_id, kind))

    def ids(self) -> set[str]:
        return {place_id for place_id, _ in self.held}

    def is_news(self, place_id: str, forecast: Forecast) -> bool:
        return forecasts.supersedes(forecast, self.held.get((place_id, forecast.kind)))

    def put(self, place_id: str, forecast: Forecast) -> str:
        """Hold ``forecast`` as the place's latest of its kind; returns its frame."""
        key = (place_id, forecast.kind)
        self.held[key] = forecast
        text = self._frames[key] = protocol.forecast_frame(location_id=place_id, forecast=forecast.to_wire())
        return text

    def frame(self, place_id: str, kind: str) -> str | None:
        """The ``forecast`` frame of the place's latest forecast of ``kind``, if any."""
        return self._frames.get((place_id, kind))

    def forget(self, place_id: str) -> None:
        for kind in forecasts.KINDS:
            self.held.pop((place_id, kind), None)
            self._frames.pop((place_id, kind), None)

    async def reload(self, place_id: str) -> None:
        """Take up the stored forecasts of the place where they supersede those held."""
        for kind in forecasts.KINDS:
            stored = await database_sync_to_async(services.forecast_latest)(
                location_id=place_id, kind=kind, real=self.real, simulated=self.simulated
            )
            if stored is not None and self.is_news(place_id, stored):
                self.put(place_id, stored)
