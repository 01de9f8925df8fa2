"""The places a server process has met, by id: each stored once and its latest stored
reading loaded once (concurrent first subscribers share one look-up), and its JSON text
made once for the ``subscribed`` replies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

from channels.db import database_sync_to_async

from . import protocol, services
from .flights import shared
from .latest import Latest
from .places import Place


class PlaceRegistry(Mapping[str, Place]):
    def __init__(self, latest: Latest) -> None:
        self.latest = latest
        self._places: dict[str, Place] = {}
        self._stored: set[str] = set()
        self._meeting: dict[str, asyncio.Task[None]] = {}
        self._texts: dict[str, str] = {}

    def __getitem__(self, place_id: str) -> Place:
        return self._places[place_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    async def meet(self, place: Place) -> None:
        """The first time this process meets a place: store it, load its latest reading."""
        if place.id not in self._places:
            await shared(self._meeting, place.id, lambda: self._meet(place))

    async def _meet(self, place: Place) -> None:
        if place.id not in self._stored:
            await database_sync_to_async(services.locations_ensure)(places=[place])
            self._stored.add(place.id)
        await self.latest.reload(place.id)
        self._places.setdefault(place.id, place)

    def add(self, place: Place) -> None:
        self._places.setdefault(place.id, place)

    def meeting(self) -> set[str]:
        """Places whose first look-up is under way."""
        return set(self._meeting)

    def text(self, place: Place) -> str:
        """The place's JSON text (its dict form)."""
        text = self._texts.get(place.id)
        if text is None:
            text = self._texts[place.id] = protocol.dumps(place.as_dict())
        return text

    def forget(self, place_id: str) -> None:
        self._places.pop(place_id, None)
        self._stored.discard(place_id)
        self._texts.pop(place_id, None)
