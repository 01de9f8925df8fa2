"""Online geocoding through Open-Meteo's geocoding API, for names GeoNames' cities15000 lacks."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import httpx

from ..places import Place, PlaceError, clean_name, coordinates
from ..providers.openmeteo import USER_AGENT
from .base import Geocoder
from .reference import country_names, qualified_places, us_state_names
from .text import normalize

logger = logging.getLogger(__name__)

RESULT_COUNT = 10
# Answers kept per process, misses included, so repeated names cost no upstream call.
CACHE_SIZE = 1024


class OpenMeteoGeocoder(Geocoder):
    """Resolves one name with ``GET url?name=...``; upstream faults give None, never raise."""

    def __init__(
        self,
        *,
        url: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._cache: OrderedDict[tuple[str, str], Place | None] = OrderedDict()
        self._client = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OpenMeteoGeocoder:
        return cls(url=config["OPEN_METEO_GEOCODING_URL"], timeout=config["HTTP_TIMEOUT"])

    async def find(self, query: str) -> Place | None:
        """A name and, after a comma, its country or US state ("Enschede, NL")."""
        name, _, country = query.partition(",")
        try:
            return await self.resolve(name.strip(), country.strip() or None)
        except PlaceError:  # e.g. nothing before the comma
            return None

    async def resolve(self, query: str, country: str | None = None) -> Place | None:
        """The first result, or the first in ``country`` if given; None if there is none.

        ``country`` is an ISO2 code ("NL"), or as after a comma in a city query a country
        name ("Netherlands") or, for the US, a state ("Illinois", "IL").
        Raises :class:`~weatherstream.places.PlaceError` only for an empty or
        over-long query.
        """
        name = clean_name(query)
        key = (normalize(name), normalize(country or ""))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        data = await self._search(name)
        if data is None:
            return None  # an upstream fault is not cached: the next ask tries again
        place = self._pick(data, country)
        self._cache[key] = place
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return place

    def _pick(self, data: Any, country: str | None) -> Place | None:
        for result in _results(data):
            place = _place(result)
            if place is not None and (not country or _in(place, result, country)):
                return place
        return None

    async def _search(self, name: str) -> Any:
        params: dict[str, str | int] = {
            "name": name,
            "count": RESULT_COUNT,
            "language": "en",
            "format": "json",
        }
        try:
            response = await self._client.get(self.url, params=params)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            logger.warning("Open-Meteo geocoding answered HTTP %s for %r", exc.response.status_code, name)
        except httpx.HTTPError as exc:
            logger.warning("Open-Meteo geocoding unreachable for %r: %s", name, exc)
        except ValueError:
            logger.warning("Open-Meteo geocoding sent a body that is not JSON for %r", name)
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


def _results(data: Any) -> list[dict[str, Any]]:
    """The ``results`` list; absent when nothing matched."""
    results = data.get("results") if isinstance(data, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _place(result: dict[str, Any]) -> Place | None:
    """A result as a place, or None when it lacks an id or valid coordinates."""
    try:
        geonameid = int(result["id"])
        latitude, longitude = coordinates(result["latitude"], result["longitude"])
    except (KeyError, TypeError, ValueError):  # PlaceError is a ValueError
        return None
    code = str(result.get("country_code") or "").upper()
    return Place(
        id=str(geonameid),
        name=str(result.get("name") or ""),
        country=code,
        region=_region(code, result),
        latitude=latitude,
        longitude=longitude,
        # Open-Meteo gives every populated place a zone; UTC only if one is ever missing.
        timezone=str(result.get("timezone") or "UTC"),
        population=_int(result.get("population")),
    )


def _region(code: str, result: dict[str, Any]) -> str:
    """The state for US places, else the country name (GeoNames' spelling, like offline)."""
    if code == "US" and result.get("admin1"):
        return str(result["admin1"])
    return country_names().get(code) or str(result.get("country") or "")


def _in(place: Place, result: dict[str, Any], qualifier: str) -> bool:
    """Whether a result lies in the country (or US state) a qualifier names."""
    places = qualified_places(qualifier)
    if places is None:
        # Not a name GeoNames knows: perhaps Open-Meteo's own spelling of the country.
        return normalize(qualifier) == normalize(str(result.get("country") or ""))
    states = {code for code, name in us_state_names().items() if name == result.get("admin1")}
    return (place.country, None) in places or any((place.country, state) in places for state in states)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
