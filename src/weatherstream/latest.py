"""The latest reading of each place a process knows: what a new subscriber gets at once.

Which of two readings a place keeps is :func:`readings.supersedes` (a real reading beats
a simulated one). The JSON text of each reading is kept once made, so a subscribe or a
fan-out serializes nothing again.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from . import protocol, services
from .readings import Reading, supersedes


class Latest:
    def __init__(self, *, real: bool = True, simulated: bool = True) -> None:
        # Which kinds the database may hand back: a server on a real provider never
        # takes up a stored simulated reading.
        self.real, self.simulated = real, simulated
        self.readings: dict[str, Reading] = {}
        self._texts: dict[str, str] = {}

    def get(self, place_id: str) -> Reading | None:
        return self.readings.get(place_id)

    def __contains__(self, place_id: object) -> bool:
        return place_id in self.readings

    def ids(self) -> set[str]:
        return set(self.readings)

    def put(self, place_id: str, reading: Reading) -> str:
        """Hold ``reading`` as the place's latest; returns its JSON text."""
        self.readings[place_id] = reading
        text = self._texts[place_id] = protocol.dumps(reading.to_wire())
        return text

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

    async def reload(self, place_id: str) -> None:
        """Take up the stored latest reading, if it supersedes the one held."""
        stored = await database_sync_to_async(services.observation_latest)(
            location_id=place_id, real=self.real, simulated=self.simulated
        )
        held = self.readings.get(place_id)
        same = held is not None and stored is not None and stored.observed_at == held.observed_at
        if stored is not None and not same and supersedes(stored, held):
            self.readings[place_id] = stored
            self._texts.pop(place_id, None)
