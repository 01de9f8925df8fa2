"""How many connections watch each place, across the cluster, and the ``watchers`` frames
that tell them, coalesced: at most one per place every WATCHERS_EVERY seconds, however
many connect or leave meanwhile (a burst of 10,000 connects is one frame each, not 10,000).

One process counts its own subscribers (the hub). Scaled out, each server announces its
counts with its demand heartbeats; the poller sums them per place and sends the total to
the place's group with each server's share (:mod:`bus`), and a server then counts the
others' shares as last told plus its own as it is now.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import protocol
from .hub import Hub


class Watchers:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.others: dict[str, int] = {}  # place id -> the other processes' watchers, as last told
        self.sent: dict[str, int] = {}  # place id -> the count its subscribers were last sent
        self.changed: set[str] = set()

    def count(self, place_id: str) -> int:
        return self.hub.count(place_id) + self.others.get(place_id, 0)

    def touch(self, place_id: str) -> None:
        """A subscriber came or went here: the count is sent at the next :meth:`flush`."""
        self.changed.add(place_id)

    def told(self, place_id: str, shares: Mapping[str, int], me: str) -> None:
        """The poller's sum for a place: each server's share, this one's (``me``) left out."""
        others = sum(n for server, n in shares.items() if server != me)
        if others:
            self.others[place_id] = others
        else:
            self.others.pop(place_id, None)
        self.changed.add(place_id)

    def flush(self) -> int:
        """Send each changed place's count to its subscribers here, if it is not what they
        were last sent; returns how many frames."""
        sent = 0
        changed, self.changed = self.changed, set()
        for place_id in changed:
            if not self.hub.count(place_id):
                self.sent.pop(place_id, None)
                continue
            count = self.count(place_id)
            if self.sent.get(place_id) != count:
                self.sent[place_id] = count
                sent += self.hub.send(place_id, protocol.watchers_frame(location_id=place_id, count=count))
        return sent

    def forget(self, place_id: str) -> None:
        self.others.pop(place_id, None)
        self.sent.pop(place_id, None)
        self.changed.discard(place_id)
