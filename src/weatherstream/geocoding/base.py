"""The interface of a geocoder, and the chain the engine asks: each geocoder in turn.

Geocoders are loaded like providers, by alias or dotted path, from ``GEOCODERS``
(by default the offline GeoNames index, then Open-Meteo's API when
``ONLINE_GEOCODING`` allows it).
"""

from __future__ import annotations

from typing import Any

from ..conf import import_subclass, online_geocoding
from ..places import MAX_NAME_LENGTH, Place, UnknownPlace, clean_name, coordinates

SUGGESTIONS = 3  # "did you mean" places offered for a name nothing found

ALIASES = {
    "offline": "weatherstream.geocoding.offline.OfflineGeocoder",
    "open-meteo": "weatherstream.geocoding.openmeteo.OpenMeteoGeocoder",
}


class Geocoder:
    """Names and coordinates to places. A geocoder answers what it can; None or [] lets
    the chain ask the next one."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Geocoder:
        return cls()

    def load(self) -> None:
        """Get ready to answer (build an index, ...); called once at start-up, in a thread."""

    async def find(self, query: str) -> Place | None:
        """The place a name names ("Paris", "Paris, FR", "52.52, 13.41"), or None."""
        return None

    def at(self, latitude: float, longitude: float) -> Place | None:
        """A place for checked coordinates, or None if this geocoder cannot describe one."""
        return None

    def suggest(self, query: str, limit: int) -> list[Place]:
        """Places a name it could not find may mean ("Berln" -> Berlin)."""
        return []

    async def aclose(self) -> None:
        """Release connections."""


class GeocoderChain:
    def __init__(self, geocoders: list[Geocoder], *, max_length: int = MAX_NAME_LENGTH) -> None:
        self.geocoders = geocoders
        self.max_length = max_length  # MAX_CITY_LENGTH

    def load(self) -> None:
        for geocoder in self.geocoders:
            geocoder.load()

    async def find(self, query: str) -> Place:
        """The first place a geocoder finds; PlaceError for a bad name, UnknownPlace
        (with suggestions) when none finds one."""
        name = clean_name(query, self.max_length)
        for geocoder in self.geocoders:
            place = await geocoder.find(name)
            if place is not None:
                return place
        suggestions = [p for g in self.geocoders for p in g.suggest(name, SUGGESTIONS)][:SUGGESTIONS]
        raise UnknownPlace(f"No city called '{name}' was found.", suggestions)

    def at(self, latitude: Any, longitude: Any) -> Place:
        """The place at these coordinates; PlaceError when they are out of range."""
        lat, lon = coordinates(latitude, longitude)
        for geocoder in self.geocoders:
            place = geocoder.at(lat, lon)
            if place is not None:
                return place
        return Place(id=f"{lat:.2f},{lon:.2f}", latitude=lat, longitude=lon, name=f"{lat:.2f}, {lon:.2f}")

    async def aclose(self) -> None:
        for geocoder in self.geocoders:
            await geocoder.aclose()


def geocoder_names(config: dict[str, Any]) -> list[str]:
    names = config["GEOCODERS"]
    if names is None:
        return ["offline", "open-meteo"] if online_geocoding(config) else ["offline"]
    return list(names)


def geocoder_class(name: str) -> type[Geocoder]:
    return import_subclass(name, aliases=ALIASES, base=Geocoder, setting="GEOCODERS")


def load_geocoders(config: dict[str, Any]) -> GeocoderChain:
    """The configured geocoders, in order (new instances: they own connections)."""
    geocoders = [geocoder_class(name).from_config(config) for name in geocoder_names(config)]
    return GeocoderChain(geocoders, max_length=config["MAX_CITY_LENGTH"])
