"""Places: one type for every location weatherstream knows, its dict form, and the
checks on what people type to name one.

A place is a GeoNames city (id "2950159"), a coordinate point (id "52.52,13.41",
rounded to 0.01 degrees) or a registered weather station (id "st-" and 12 hex digits,
:mod:`stations`), whose readings are uploaded by the station, never fetched. The
geocoders make them, the engine and the poller watch them, storage keeps them as
``Location`` rows, the bus and the APIs send their dict form. The page's JavaScript
checks coordinates the same way (static js/place.js).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

# A weather station's id starts so (letters, digits and "-" fit Channels' group names).
STATION_PREFIX = "st-"
# A name longer than this is refused before any look-up (MAX_CITY_LENGTH may lower it).
MAX_NAME_LENGTH = 200
LIMITS = {"lat": 90.0, "lon": 180.0}

_COORDINATES = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*,\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*")


class PlaceError(ValueError):
    """Input that names no place: an empty or over-long name, coordinates out of range.
    The message is safe to show to users."""


class UnknownPlace(PlaceError):
    """A well-formed name that matches no place; ``suggestions`` are places it may mean."""

    def __init__(self, message: str, suggestions: list[Place] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class UnknownStation(PlaceError):
    """A station id no registered station has."""

    def __init__(self, station_id: str) -> None:
        shown = station_id if len(station_id) <= 64 else station_id[:64] + "…"
        super().__init__(f"No weather station has the id '{shown}'.")


class TooManyPlaces(Exception):
    """An address asked for more new places in an hour than NEW_PLACES_PER_HOUR allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"This address may add at most {limit} new places an hour.")
        self.limit = limit


class PlaceLike(Protocol):
    """What fetching needs of a place: an id and coordinates (a Place, a Location row)."""

    @property
    def id(self) -> str: ...
    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    latitude: float
    longitude: float
    name: str = ""
    country: str = ""  # ISO 3166 code
    region: str = ""  # a state or province, or "near <city>" for a point
    timezone: str = ""
    population: int = 0

    def as_dict(self, *, population: bool = False) -> dict[str, Any]:
        """The dict form of the protocol and the APIs (``population`` for search results
        and the bus)."""
        data = {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "region": self.region,
            "lat": self.latitude,
            "lon": self.longitude,
            "timezone": self.timezone,
        }
        if population:
            data["population"] = self.population
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Place:
        """The reverse of :meth:`as_dict`; KeyError, TypeError or ValueError when malformed."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            country=str(data.get("country", "")),
            region=str(data.get("region", "")),
            latitude=float(data["lat"]),
            longitude=float(data["lon"]),
            timezone=str(data.get("timezone", "")),
            population=int(data.get("population", 0)),
        )

    @classmethod
    def from_fields(cls, obj: Any) -> Place:
        """A place from anything with its fields as attributes (a ``Location`` row)."""
        return cls(**{field.name: getattr(obj, field.name) for field in dataclasses.fields(cls)})

    def fields(self) -> dict[str, Any]:
        """Every field but the id, by name (a ``Location`` row's columns)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "id"}

    def as_query(self) -> str:
        """The text a client sends as ``city`` to name this place: "Berlin, DE",
        "Springfield, IL, US"; a coordinate place's name ("52.52, 13.41")."""
        if parse_coordinates(self.id) is not None or "," in self.name:
            return self.name  # "Misato, Saitama" resolves by its whole name
        from .geocoding.reference import us_state_code

        state = us_state_code(self.region) if self.country == "US" else None
        return ", ".join(part for part in (self.name, state, self.country) if part)

    def as_suggestion(self) -> dict[str, Any]:
        """A "did you mean" suggestion: what to show, and the query to send back."""
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "region": self.region,
            "query": self.as_query(),
        }


def clean_name(name: Any, max_length: int = MAX_NAME_LENGTH) -> str:
    """A place name stripped, or PlaceError when it is empty, not text or too long."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise PlaceError("Please enter a place name.")
    if len(text) > max_length:
        raise PlaceError(f"Place names are at most {max_length} characters long.")
    return text


def coordinate(value: Any, axis: str) -> float:
    """A latitude (``axis`` "lat") or longitude ("lon") as a float, or PlaceError."""
    limit = LIMITS[axis]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlaceError(f"'{axis}' must be a number.")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise PlaceError(f"'{axis}' must be between -{limit:g} and {limit:g}.")
    return number


def coordinates(latitude: Any, longitude: Any) -> tuple[float, float]:
    """Both coordinates checked (:func:`coordinate`)."""
    return coordinate(latitude, "lat"), coordinate(longitude, "lon")


def parse_coordinates(text: Any) -> tuple[float, float] | None:
    """``"52.52,13.405"`` or ``"52.52, 13.405"`` -> ``(52.52, 13.405)``; anything else -> None.
    The numbers are not range-checked: :func:`coordinates` does that."""
    match = _COORDINATES.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2))


def is_station(place_id: str) -> bool:
    """Whether a place id is a weather station's (its readings are uploaded, not fetched)."""
    return place_id.startswith(STATION_PREFIX)


def station_source(station_id: str) -> str:
    """The ``source`` of a station's readings: "station:<id>" (a real source)."""
    return "station:" + station_id
