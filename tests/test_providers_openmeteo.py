from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import load_fixture
from weatherstream.conf import PUBLIC_OPEN_METEO_URL
from weatherstream.places import Place
from weatherstream.providers import ProviderError, UpstreamUnreachable, openmeteo
from weatherstream.providers.openmeteo import (
    PUBLICATION_MARGIN,
    USER_AGENT,
    OpenMeteoProvider,
    parse_current,
)

ENSCHEDE = Place(id="2756071", latitude=52.21833, longitude=6.89583)
BERLIN = Place(id="2950159", latitude=52.52437, longitude=13.41053)


def provider_with(handler, **kwargs):
    return OpenMeteoProvider(transport=httpx.MockTransport(handler), **kwargs)


def test_parse_current_fixture_in_utc():
    r = parse_current(load_fixture("open-meteo/forecast_current.json"))
    # "2026-10-03T12:30" local with utc_offset_seconds 7200 is 10:30 UTC.
    assert r.observed_at == datetime(2026, 10, 3, 10, 30, tzinfo=UTC)
    assert r.source == "open-meteo"
    assert (r.temperature, r.feels_like, r.humidity) == (17.7, 17.6, 66)
    assert (r.wind_speed, r.wind_gusts, r.wind_direction) == (3.6, 11.9, 259)
    assert (r.precipitation, r.cloud_cover, r.pressure) == (0.0, 73, 1030.4)
    assert r.weather_code == 2 and r.is_day is True
    wire = r.to_wire()
    assert wire["summary"] == "Partly cloudy"
    assert wire["observed_at"] == "2026-10-03T10:30:00Z"
    assert wire["stale"] is False


def test_parse_without_current_is_no_data():
    assert parse_current(load_fixture("open-meteo/forecast_no_current.json")) is None


def test_parse_minutely_only_response_is_no_data():
    assert parse_current(load_fixture("open-meteo/forecast_minutely_15.json")) is None


def test_parse_converts_imperial_units():
    payload = load_fixture("open-meteo/forecast_current.json")
    payload["current_units"]["temperature_2m"] = "°F"
    payload["current"]["temperature_2m"] = 50.0
    payload["current_units"]["wind_speed_10m"] = "m/s"
    payload["current"]["wind_speed_10m"] = 10.0
    r = parse_current(payload)
    assert r.temperature == pytest.approx(10.0)
    assert r.wind_speed == pytest.approx(36.0)


def test_parse_unixtime_and_nulls_and_implausible_values():
    payload = load_fixture("open-meteo/forecast_current.json")
    payload["current"]["time"] = 1_790_000_000
    payload["current"]["wind_gusts_10m"] = None
    payload["current"]["relative_humidity_2m"] = 250
    r = parse_current(payload)
    assert r.observed_at == datetime.fromtimestamp(1_790_000_000, UTC)
    assert r.wind_gusts is None and r.humidity is None and r.temperature == 17.7


@pytest.mark.parametrize("temperature", [None, 300.0, -150.0, "warm"])
def test_no_plausible_temperature_is_no_reading(temperature):
    payload = load_fixture("open-meteo/forecast_current.json")
    payload["current"]["temperature_2m"] = temperature
    assert parse_current(payload) is None


@pytest.mark.parametrize(
    "payload", [[], "x", {"current": {"temperature_2m": 1}}, {"current": {"time": "noon"}}]
)
def test_parse_garbage_is_a_provider_error(payload):
    with pytest.raises(ProviderError):
        parse_current(payload)


async def test_fetch_sends_current_variables_and_user_agent():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load_fixture("open-meteo/forecast_current.json"))

    provider = provider_with(handler)
    [reading] = await provider.fetch([ENSCHEDE])
    await provider.aclose()
    assert reading.temperature == 17.7
    request = seen[0]
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("weatherstream/")
    assert str(request.url).startswith(PUBLIC_OPEN_METEO_URL)
    query = parse_qs(urlsplit(str(request.url)).query)
    assert query["latitude"] == ["52.2183"] and query["longitude"] == ["6.8958"]
    assert "temperature_2m" in query["current"][0].split(",")
    assert "wind_gusts_10m" in query["current"][0].split(",")
    assert query["timezone"] == ["auto"]


async def test_many_locations_go_out_as_one_request():
    calls = []
    one = load_fixture("open-meteo/forecast_current.json")
    none = load_fixture("open-meteo/forecast_no_current.json")

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json=[one, none])

    provider = provider_with(handler)
    readings = await provider.fetch([ENSCHEDE, BERLIN])
    await provider.aclose()
    assert len(calls) == 1
    query = parse_qs(urlsplit(str(calls[0].url)).query)
    assert query["latitude"] == ["52.2183,52.5244"]
    assert query["longitude"] == ["6.8958,13.4105"]
    assert readings[0].temperature == 17.7 and readings[1] is None


async def test_answer_count_mismatch_is_an_error():
    one = load_fixture("open-meteo/forecast_current.json")
    provider = provider_with(lambda request: httpx.Response(200, json=[one]))
    with pytest.raises(ProviderError, match="asked for 2"):
        await provider.fetch([ENSCHEDE, BERLIN])
    await provider.aclose()


async def test_http_400_reason_is_reported():
    body = {
        "error": True,
        "reason": "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly",
    }
    provider = provider_with(lambda request: httpx.Response(400, json=body))
    with pytest.raises(ProviderError, match="HTTP 400: Cannot initialize WeatherVariable"):
        await provider.fetch([ENSCHEDE])
    await provider.aclose()


async def test_429_carries_retry_after():
    provider = provider_with(lambda request: httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(ProviderError) as info:
        await provider.fetch([ENSCHEDE])
    assert info.value.retry_after == 30
    await provider.aclose()


async def test_malformed_json_is_a_provider_error():
    provider = provider_with(lambda request: httpx.Response(200, text="<html>oops"))
    with pytest.raises(ProviderError, match="malformed JSON"):
        await provider.fetch([ENSCHEDE])
    await provider.aclose()


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_unreachable_network_is_distinguished_from_a_bad_answer(error):
    def refuse(request):
        raise error("Network is unreachable", request=request)

    provider = provider_with(refuse)
    with pytest.raises(UpstreamUnreachable):
        await provider.fetch([ENSCHEDE])
    await provider.aclose()

    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    provider = provider_with(slow)
    with pytest.raises(ProviderError) as info:
        await provider.fetch([ENSCHEDE])
    assert not isinstance(info.value, UpstreamUnreachable)
    await provider.aclose()


def test_custom_url_has_no_interval_floor():
    public = OpenMeteoProvider()
    custom = OpenMeteoProvider(url="http://127.0.0.1:8080/v1/forecast")
    assert public.min_interval == 60
    assert custom.min_interval == 1
    assert OpenMeteoProvider.interval_floor({"OPEN_METEO_URL": "http://127.0.0.1:1/v1/forecast"}) == 1


async def test_custom_url_and_params_are_used():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=load_fixture("open-meteo/forecast_current.json"))

    provider = provider_with(handler, url="http://127.0.0.1:9/v1/forecast", params={"apikey": "k"})
    await provider.fetch([ENSCHEDE])
    await provider.aclose()
    assert str(seen[0].url).startswith("http://127.0.0.1:9/v1/forecast?")
    assert "apikey=k" in str(seen[0].url)


def test_calls_weigh_the_current_variables_asked(monkeypatch):
    provider = OpenMeteoProvider()
    assert len(provider.query([ENSCHEDE])["current"].split(",")) == 11
    assert provider.calls(1) == pytest.approx(1.1)  # max(1, 11 / 10) a location
    assert provider.calls(50) == pytest.approx(55.0)
    monkeypatch.setattr(openmeteo, "VARIABLES", dict(list(openmeteo.VARIABLES.items())[:5]))
    assert provider.calls(2) == 2.0  # never less than one call a location


def test_new_data_at_is_the_end_of_the_slot_plus_a_publication_margin(reading):
    assert 0 < PUBLICATION_MARGIN <= 60
    provider = OpenMeteoProvider()
    assert (
        provider.new_data_at(ENSCHEDE, reading) == reading.observed_at.timestamp() + 900 + PUBLICATION_MARGIN
    )


@pytest.mark.parametrize(
    ("interval", "slot", "margin"),
    [
        (3600, 3600, PUBLICATION_MARGIN),
        (None, 900, PUBLICATION_MARGIN),
        ("soon", 900, PUBLICATION_MARGIN),
        (0, 900, PUBLICATION_MARGIN),
        (1, 1, PUBLICATION_MARGIN / 900),
    ],
)
async def test_new_data_at_follows_the_answers_interval(interval, slot, margin):
    payload = load_fixture("open-meteo/forecast_current.json")
    payload["current"]["interval"] = interval
    provider = provider_with(lambda request: httpx.Response(200, json=payload))
    [reading] = await provider.fetch([ENSCHEDE])
    await provider.aclose()
    assert provider.new_data_at(ENSCHEDE, reading) == pytest.approx(
        reading.observed_at.timestamp() + slot + margin
    )
