"""Who watches what in one server process, and the limits on it.

The hub holds the local subscribers of each place, and the forecast hub those of each
place's forecast of a kind (key :func:`forecast_key`); a place stays in demand for
``DEMAND_GRACE`` seconds after its last subscriber left (a reload resubscribes without
a new fetch), and so does its forecast. Connections are counted per client address
(MAX_CONNECTIONS_PER_ADDRESS), and so are the new places an address adds in an hour (NEW_PLACES_PER_HOUR).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .forecasts import KINDS as FORECAST_KINDS
from .hub import Hub, Subscriber
from .places import TooManyPlaces, is_station

HOUR = 3600.0


def forecast_key(kind: str, place_id: str) -> str:
    """The forecast hub's key for the subscribers of a place's forecast of a kind."""
    return f"{kind}:{place_id}"


def _place_of(key: str) -> str:
    return key.partition(":")[2]


class Subscriptions:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.hub = Hub()
        self.forecast_hub = Hub()
        self.released: dict[str, float] = {}  # place id -> when its last subscriber left
        self.forecasts_released: dict[str, float] = {}  # the same, for forecasts
        self.addresses: dict[str, int] = {}  # client address -> open connections
        self.new_places: dict[str, dict[str, float]] = {}  # address -> place id -> when added
        self._joining: dict[str, int] = {}  # place id -> subscribes under way

    # -- subscribers -------------------------------------------------------------------

    def add(self, place_id: str, subscriber: Subscriber) -> bool:
        """Register a subscriber; True when it is the place's first here."""
        self.released.pop(place_id, None)
        return self.hub.add(place_id, subscriber)

    def discard(self, place_id: str, subscriber: Subscriber) -> None:
        if self.hub.discard(place_id, subscriber):
            self.released[place_id] = time.monotonic()

    def add_forecast(self, place_id: str, kind: str, subscriber: Subscriber) -> bool:
        """Register a subscriber of a place's forecast of ``kind``; True when the place had
        no forecast subscriber here (of any kind) and was not in its grace period."""
        new = place_id not in self.forecast_watched()
        self.forecasts_released.pop(place_id, None)
        self.forecast_hub.add(forecast_key(kind, place_id), subscriber)
        return new

    def discard_forecast(self, place_id: str, kind: str, subscriber: Subscriber) -> None:
        if self.forecast_hub.discard(forecast_key(kind, place_id), subscriber) and not any(
            self.forecast_hub.count(forecast_key(other, place_id)) for other in FORECAST_KINDS
        ):
            self.forecasts_released[place_id] = time.monotonic()

    def forecast_watched(self) -> set[str]:
        """Places whose forecast is watched here now, or was less than DEMAND_GRACE ago."""
        cutoff = time.monotonic() - self.config["DEMAND_GRACE"]
        for place_id, since in list(self.forecasts_released.items()):
            if since < cutoff:
                del self.forecasts_released[place_id]
        return {_place_of(key) for key in self.forecast_hub.locations()} | self.forecasts_released.keys()

    @contextmanager
    def joining(self, place_id: str) -> Iterator[None]:
        """Marks a subscribe under way (its look-ups awaited), so a sweep keeps the place."""
        self._joining[place_id] = self._joining.get(place_id, 0) + 1
        try:
            yield
        finally:
            left = self._joining.pop(place_id) - 1
            if left:
                self._joining[place_id] = left

    def watched(self) -> set[str]:
        """Places watched here now, or released less than DEMAND_GRACE seconds ago."""
        cutoff = time.monotonic() - self.config["DEMAND_GRACE"]
        for place_id, since in list(self.released.items()):
            if since < cutoff:
                del self.released[place_id]
        return set(self.hub.locations()) | self.released.keys()

    def busy(self) -> set[str]:
        """Places with a subscriber, or a subscribe under way."""
        return set(self.hub.locations()) | self._joining.keys()

    # -- limits ------------------------------------------------------------------------

    def connected(self, address: str) -> bool:
        """Count a new connection from ``address``; False (not counted) over the limit."""
        limit = self.config["MAX_CONNECTIONS_PER_ADDRESS"]
        count = self.addresses.get(address, 0)
        if limit is not None and count >= limit:
            return False
        self.addresses[address] = count + 1
        return True

    def disconnected(self, address: str) -> None:
        count = self.addresses.get(address, 0) - 1
        if count > 0:
            self.addresses[address] = count
        else:
            self.addresses.pop(address, None)

    def admit(self, place_id: str, address: str | None) -> bool:
        """May ``address`` add this place? Watching one already watched here, or one this
        address added within the hour, is free; another counts against
        NEW_PLACES_PER_HOUR (a new upstream fetch)."""
        limit = self.config["NEW_PLACES_PER_HOUR"]
        if limit is None or address is None or is_station(place_id):  # a station's are uploaded
            return True
        if self.hub.count(place_id) or place_id in self.released:
            return True
        added = self.new_places.setdefault(address, {})
        hour_ago = time.monotonic() - HOUR
        for old in [pid for pid, at in added.items() if at <= hour_ago]:
            del added[old]
        if place_id in added:
            return True
        if len(added) >= limit:
            return False
        added[place_id] = time.monotonic()
        return True

    def require_admitted(self, place_id: str, address: str | None) -> None:
        """:meth:`admit`, or TooManyPlaces."""
        if not self.admit(place_id, address):
            raise TooManyPlaces(self.config["NEW_PLACES_PER_HOUR"])

    def sweep(self) -> None:
        """Forget addresses that added no place for an hour."""
        hour_ago = time.monotonic() - HOUR
        for address, added in list(self.new_places.items()):
            if not added or max(added.values()) <= hour_ago:
                del self.new_places[address]
