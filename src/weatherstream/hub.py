"""Process-local fan-out: location id -> the connections in this process that watch it.

An update is serialized once and the same text is handed to every local subscriber;
no per-connection channel-layer machinery sits on this path.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from .protocol import weather_frame
from .sending import Prepared, this_turn

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    def push(self, text: str, prepared: Prepared | None = None) -> None:
        """Queue a text frame for sending (``prepared``: the same text, encoded once for
        every subscriber); must not block."""


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[str, dict[Subscriber, None]] = {}

    def add(self, location_id: str, subscriber: Subscriber) -> bool:
        """Register; True when this is the location's first local subscriber."""
        subs = self._subscribers.get(location_id)
        if subs is None:
            self._subscribers[location_id] = {subscriber: None}
            return True
        subs[subscriber] = None
        return False

    def discard(self, location_id: str, subscriber: Subscriber) -> bool:
        """Unregister; True when the location has no local subscriber left."""
        subs = self._subscribers.get(location_id)
        if subs is None:
            return False
        subs.pop(subscriber, None)
        if subs:
            return False
        del self._subscribers[location_id]
        return True

    def count(self, location_id: str) -> int:
        return len(self._subscribers.get(location_id, ()))

    def locations(self) -> list[str]:
        return list(self._subscribers)

    def broadcast(self, location_id: str, weather: str) -> int:
        """Send one ``weather`` frame (``weather`` as JSON text) to every local subscriber;
        returns how many."""
        subs = self._subscribers.get(location_id)
        if not subs:
            return 0
        text = weather_frame(location_id=location_id, weather=weather, published_at=time.time())
        return self._push(subs, text)

    def send(self, key: str, text: str) -> int:
        """Send one frame ``text``, made once, to every local subscriber of ``key``;
        returns how many."""
        subs = self._subscribers.get(key)
        return self._push(subs, text) if subs else 0

    def _push(self, subs: dict[Subscriber, None], text: str) -> int:
        prepared = Prepared(text, this_turn())
        targets = tuple(subs)  # a push may unsubscribe a slow client mid-loop
        for subscriber in targets:
            try:
                subscriber.push(text, prepared)
            except Exception:  # a bug in one subscriber must not cost the others their update
                logger.exception("pushing an update to a subscriber failed")
        return len(targets)
