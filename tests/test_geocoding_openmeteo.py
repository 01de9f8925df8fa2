"""Geocoding: the Open-Meteo fallback geocoder (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _id
from weatherstream.geocoding import OpenMeteoGeocoder
from weatherstream.geocoding.reference import country_names
from weatherstream.places import Place, PlaceError

FIXTURES = Path(__file__).parent / "fixtures" / "open-meteo"
GEOCODING_URL = "https://geocoding.test/v1/search"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _serving(
    body: Any, requests: list[httpx.Request] | None = None, status: int = 200
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


async def test_open_meteo_parses_the_first_result() -> None:
    requests: list[httpx.Request] = []
    geocoder = OpenMeteoGeocoder(
        url=GEOCODING_URL, transport=_serving(_fixture("geocoding_search.json"), requests)
    )
    try:
        place = await geocoder.resolve("Enschede")
    finally:
        await geocoder.aclose()
    assert place == Place(
        id="2756071",
        name="Enschede",
        country="NL",
        region=country_names()["NL"],
        latitude=52.21833,
        longitude=6.89583,
        timezone="Europe/Amsterdam",
        population=153655,
    )
    (request,) = requests
    assert request.url.copy_with(query=None) == GEOCODING_URL
    assert dict(request.url.params) == {"name": "Enschede", "count": "10", "language": "en", "format": "json"}
    assert request.headers["User-Agent"].startswith("weatherstream/")


async def test_open_meteo_country_filter_and_missing_population() -> None:
    body = _fixture("geocoding_search.json")
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=_serving(body))
    try:
        for country in ("NL", "nl", "Netherlands", "The Netherlands"):
            assert _id(await geocoder.resolve("Enschede", country=country)) == "2756071", country
        assert await geocoder.resolve("Enschede", country="DE") is None
        assert await geocoder.resolve("Enschede", country="Atlantis") is None
    finally:
        await geocoder.aclose()

    airport_only = {**body, "results": body["results"][1:]}  # this result has no population
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=_serving(airport_only))
    try:
        place = await geocoder.resolve("Enschede")
    finally:
        await geocoder.aclose()
    assert place is not None
    assert (place.id, place.population, place.timezone) == ("6296691", 0, "Europe/Amsterdam")


async def test_open_meteo_us_region_is_the_state() -> None:
    result = {"id": 1, "name": "Nowhere", "latitude": 40.0, "longitude": -90.0, "country_code": "US"}
    body = {"results": [{**result, "admin1": "Illinois"}]}
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=_serving(body))
    try:
        place = await geocoder.resolve("Nowhere")
    finally:
        await geocoder.aclose()
    assert place is not None
    assert (place.region, place.population) == ("Illinois", 0)
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=_serving(body))
    try:
        assert _id(await geocoder.resolve("Nowhere", country="IL")) == "1"
        assert _id(await geocoder.resolve("Nowhere", country="illinois")) == "1"
        assert await geocoder.resolve("Nowhere", country="Ohio") is None
    finally:
        await geocoder.aclose()


async def test_open_meteo_no_results_is_none() -> None:
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=_serving(_fixture("geocoding_no_results.json")))
    try:
        assert await geocoder.resolve("Xyzzyville") is None
    finally:
        await geocoder.aclose()


def _failing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "transport",
    [
        _serving({"error": True, "reason": "boom"}, status=500),
        httpx.MockTransport(_failing),
        httpx.MockTransport(lambda request: httpx.Response(200, text="<html>not json</html>")),
    ],
    ids=["http-500", "transport-error", "not-json"],
)
async def test_open_meteo_upstream_faults_are_none(
    transport: httpx.MockTransport, caplog: pytest.LogCaptureFixture
) -> None:
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=transport)
    try:
        with caplog.at_level("WARNING", logger="weatherstream.geocoding.openmeteo"):
            assert await geocoder.resolve("Enschede") is None
    finally:
        await geocoder.aclose()
    assert any(record.levelname == "WARNING" for record in caplog.records)


async def test_open_meteo_rejects_an_empty_query() -> None:
    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=httpx.MockTransport(_failing))
    try:
        with pytest.raises(PlaceError):
            await geocoder.resolve("  ")
    finally:
        await geocoder.aclose()


async def test_open_meteo_answers_and_misses_are_cached_but_faults_are_not() -> None:
    calls: list[str] = []
    answers = {
        "Enschede": _fixture("geocoding_search.json"),
        "Nowhere": _fixture("geocoding_no_results.json"),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.params["name"]
        calls.append(name)
        if name == "Flaky":
            return httpx.Response(503)
        return httpx.Response(200, json=answers[name])

    geocoder = OpenMeteoGeocoder(url=GEOCODING_URL, transport=httpx.MockTransport(handler))
    first = await geocoder.resolve("Enschede")
    assert first is not None and await geocoder.resolve("enschede") == first
    assert await geocoder.resolve("Nowhere") is None and await geocoder.resolve("Nowhere") is None
    assert await geocoder.resolve("Flaky") is None and await geocoder.resolve("Flaky") is None
    assert calls == ["Enschede", "Nowhere", "Flaky", "Flaky"]
    await geocoder.aclose()
