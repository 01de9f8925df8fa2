import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import load_fixture
from tests.upstream import FakeOpenMeteo
from weatherstream.conf import PUBLIC_OPEN_METEO_URL
from weatherstream.forecasts import DAILY, HOURLY, Forecasts, iso
from weatherstream.places import Place
from weatherstream.providers import ProviderError, UpstreamUnreachable, openmeteo
from weatherstream.providers.openmeteo import (
    DAILY_VARIABLES,
    FORECAST_DAYS,
    FORECAST_EVERY,
    FORECAST_HOURS,
    FORECAST_MODELS,
    FORGET_AFTER,
    HOURLY_VARIABLES,
    META_EVERY,
    PUBLICATION_MARGIN,
    RECHECK,
    RUN_MARGIN,
    USER_AGENT,
    OpenMeteoProvider,
    parse_current,
    parse_forecast,
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


# Forecasts.

HOURLY_DAILY = "open-meteo/forecast_hourly_daily.json"  # a real capture: 3 hours, 3 days
SEVEN_DAYS = "open-meteo/forecast_7_days_built_from_schema.json"  # 168 hours, 7 days
META = "open-meteo/meta_dwd_icon_built_from_schema.json"
# The capture's first hour is 2026-10-03T00:00 local (utc_offset_seconds 7200).
FIRST_HOUR = datetime(2026, 10, 2, 22, tzinfo=UTC)
T0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC).timestamp()
AVAILABLE = 1791020487  # the meta fixture's last_run_availability_time: 2026-10-03T09:41:27Z


def forecast_provider(handler, *, clock=None, **kwargs):
    return OpenMeteoProvider(transport=httpx.MockTransport(handler), clock=clock or FakeClock(T0), **kwargs)


def hour_item(time, temperature, feels_like, code, summary, wind, gusts, direction, cloud):
    return {
        "time": time,
        "temperature": temperature,
        "feels_like": feels_like,
        "precipitation": 0.0,
        "precipitation_probability": 0.0,
        "weather_code": code,
        "summary": summary,
        "wind_speed": wind,
        "wind_gusts": gusts,
        "wind_direction": direction,
        "cloud_cover": cloud,
        "is_day": False,
    }


CAPTURED_HOURS = [
    hour_item("2026-10-02T22:00:00Z", 11.8, 10.4, 0, "Clear sky", 9.0, 14.8, 142.0, 1.0),
    hour_item("2026-10-02T23:00:00Z", 11.2, 9.8, 1, "Mainly clear", 8.3, 14.0, 144.0, 48.0),
    hour_item("2026-10-03T00:00:00Z", 11.0, 9.9, 1, "Mainly clear", 6.8, 11.5, 153.0, 47.0),
]
CAPTURED_DAYS = [
    {
        "date": "2026-10-03",
        "temperature_max": 20.6,
        "temperature_min": 8.4,
        "precipitation_sum": 0.0,
        "precipitation_probability_max": 0.0,
        "weather_code": 3,
        "summary": "Overcast",
        "wind_speed_max": 9.0,
        "wind_gusts_max": 17.3,
        "sunrise": "2026-10-03T05:36:00Z",
        "sunset": "2026-10-03T17:05:00Z",
        "uv_index_max": 3.3,
    },
    {
        "date": "2026-10-04",
        "temperature_max": 20.2,
        "temperature_min": 10.8,
        "precipitation_sum": 0.0,
        "precipitation_probability_max": 8.0,
        "weather_code": 45,
        "summary": "Fog",
        "wind_speed_max": 6.1,
        "wind_gusts_max": 14.8,
        "sunrise": "2026-10-04T05:38:00Z",
        "sunset": "2026-10-04T17:02:00Z",
        "uv_index_max": 3.2,
    },
    {
        "date": "2026-10-05",
        "temperature_max": 22.2,
        "temperature_min": 11.6,
        "precipitation_sum": 0.0,
        "precipitation_probability_max": 0.0,
        "weather_code": 3,
        "summary": "Overcast",
        "wind_speed_max": 10.4,
        "wind_gusts_max": 25.2,
        "sunrise": "2026-10-05T05:40:00Z",
        "sunset": "2026-10-05T17:00:00Z",
        "uv_index_max": 3.35,
    },
]


def test_parse_forecast_of_the_capture_every_field_in_utc():
    issued = datetime(2026, 10, 2, 21, 41, tzinfo=UTC)
    f = parse_forecast(load_fixture(HOURLY_DAILY), now=FIRST_HOUR.timestamp(), issued_at=issued)
    assert f.source == "open-meteo" and set(f.kinds) == {HOURLY, DAILY}
    hourly, daily = f.get(HOURLY), f.get(DAILY)
    assert (hourly.kind, hourly.issued_at, hourly.source) == (HOURLY, issued, "open-meteo")
    assert list(hourly.items) == CAPTURED_HOURS
    assert (daily.kind, daily.issued_at, daily.source) == (DAILY, issued, "open-meteo")
    assert list(daily.items) == CAPTURED_DAYS  # dates stay local, sunrise/sunset in UTC


@pytest.mark.parametrize(
    ("now", "first"),
    [
        (FIRST_HOUR - timedelta(hours=5), 0),  # before the forecast: all of it
        (FIRST_HOUR + timedelta(minutes=59, seconds=59), 0),  # the hour containing now is kept
        (FIRST_HOUR + timedelta(hours=1), 1),
        (FIRST_HOUR + timedelta(hours=2, minutes=30), 2),
    ],
)
def test_hours_start_at_the_hour_containing_now(now, first):
    f = parse_forecast(load_fixture(HOURLY_DAILY), now=now.timestamp(), issued_at=FIRST_HOUR)
    assert list(f.get(HOURLY).items) == CAPTURED_HOURS[first:]
    assert list(f.get(DAILY).items) == CAPTURED_DAYS  # days are not trimmed


def test_hours_all_past_leave_the_daily_forecast_only_and_nothing_is_none():
    payload = load_fixture(HOURLY_DAILY)
    f = parse_forecast(payload, now=(FIRST_HOUR + timedelta(hours=3)).timestamp(), issued_at=FIRST_HOUR)
    assert set(f.kinds) == {DAILY}
    payload["daily"] = {"time": []}
    assert parse_forecast(payload, now=T0, issued_at=FIRST_HOUR) is None


def test_at_most_72_hours_and_7_days_when_the_upstream_sends_more():
    # 168 hours from local midnight, as an answer that ignored forecast_hours.
    f = parse_forecast(load_fixture(SEVEN_DAYS), now=T0, issued_at=FIRST_HOUR)
    hours, days = f.get(HOURLY).items, f.get(DAILY).items
    assert len(hours) == FORECAST_HOURS == 72 and len(days) == FORECAST_DAYS == 7
    assert hours[0]["time"] == "2026-10-03T10:00:00Z"  # 10:30 is in the 12:00 local hour
    assert hours[-1]["time"] == "2026-10-06T09:00:00Z"
    assert hours[0] == {
        "time": "2026-10-03T10:00:00Z",
        "temperature": 16.9,
        "feels_like": 15.3,
        "precipitation": 0.0,
        "precipitation_probability": 5.0,
        "weather_code": 2,
        "summary": "Partly cloudy",
        "wind_speed": 12.9,
        "wind_gusts": 23.9,
        "wind_direction": 178.0,
        "cloud_cover": 64.0,
        "is_day": True,
    }
    rain = hours[60 - 12]
    assert (rain["time"], rain["precipitation"], rain["precipitation_probability"]) == (
        "2026-10-05T10:00:00Z",
        1.4,
        80.0,
    )
    assert (rain["weather_code"], rain["summary"]) == (63, "Moderate rain")
    assert [d["date"] for d in days] == [f"2026-10-0{n}" for n in range(3, 10)]
    assert days[2] == {
        "date": "2026-10-05",
        "temperature_max": 17.4,
        "temperature_min": 9.3,
        "precipitation_sum": 3.4,
        "precipitation_probability_max": 80.0,
        "weather_code": 63,
        "summary": "Moderate rain",
        "wind_speed_max": 19.2,
        "wind_gusts_max": 34.7,
        "sunrise": "2026-10-05T05:40:00Z",
        "sunset": "2026-10-05T17:00:00Z",
        "uv_index_max": 2.0,
    }
    assert days[6]["sunset"] == "2026-10-09T16:51:00Z"
    longer = load_fixture(SEVEN_DAYS)  # an eighth day is not kept
    for name, values in longer["daily"].items():
        values.append("2026-10-10" if name == "time" else values[-1])
    assert parse_forecast(longer, now=T0, issued_at=FIRST_HOUR).get(DAILY).items == days


def test_forecast_units_are_converted_and_unixtime_is_read():
    payload = load_fixture(HOURLY_DAILY)
    payload["hourly_units"].update(temperature_2m="°F", wind_speed_10m="mph", precipitation="inch")
    payload["hourly"].update(temperature_2m=[50.0, 50.0, 50.0], wind_speed_10m=[10, 10, 10])
    payload["hourly"]["precipitation"] = [1.0, 0.0, 0.0]
    payload["daily_units"].update(temperature_2m_max="°F", wind_gusts_10m_max="kn", precipitation_sum="inch")
    payload["daily"].update(temperature_2m_max=[68.0, 68.0, 68.0], wind_gusts_10m_max=[10, 10, 10])
    payload["daily"]["precipitation_sum"] = [0.5, 0.0, 0.0]
    f = parse_forecast(payload, now=0, issued_at=FIRST_HOUR)
    hour, day = f.get(HOURLY).items[0], f.get(DAILY).items[0]
    assert hour["temperature"] == pytest.approx(10.0) and hour["wind_speed"] == pytest.approx(16.09344)
    assert hour["precipitation"] == pytest.approx(25.4)
    assert day["temperature_max"] == pytest.approx(20.0) and day["wind_gusts_max"] == pytest.approx(18.52)
    assert day["precipitation_sum"] == pytest.approx(12.7)

    payload = load_fixture(HOURLY_DAILY)  # timeformat=unixtime: UTC seconds, days at local midnight
    payload["hourly"]["time"] = [int(FIRST_HOUR.timestamp()) + 3600 * i for i in range(3)]
    payload["daily"]["time"] = [1790978400, 1791064800, 1791151200]  # 2026-10-03T00:00+02:00, ...
    payload["daily"]["sunrise"] = [1791005760, None, None]
    f = parse_forecast(payload, now=0, issued_at=FIRST_HOUR)
    assert [h["time"] for h in f.get(HOURLY).items] == [h["time"] for h in CAPTURED_HOURS]
    assert [d["date"] for d in f.get(DAILY).items] == ["2026-10-03", "2026-10-04", "2026-10-05"]
    assert [d["sunrise"] for d in f.get(DAILY).items] == ["2026-10-03T05:36:00Z", None, None]


def test_nulls_and_implausible_forecast_values_are_null_the_rest_kept(caplog):
    payload = load_fixture(HOURLY_DAILY)
    payload["hourly"]["temperature_2m"] = [300.0, None, 11.0]
    payload["hourly"]["precipitation_probability"] = [0, 120, 0]
    payload["daily"]["uv_index_max"] = [3.3, -1, None]
    del payload["daily"]["wind_gusts_10m_max"]  # a variable not in the answer: unknown
    f = parse_forecast(payload, now=0, issued_at=FIRST_HOUR)
    hours, days = f.get(HOURLY).items, f.get(DAILY).items
    assert [h["temperature"] for h in hours] == [None, None, 11.0]
    assert [h["precipitation_probability"] for h in hours] == [0.0, None, 0.0]
    assert hours[0]["feels_like"] == 10.4
    assert [d["uv_index_max"] for d in days] == [3.3, None, None]
    assert [d["wind_gusts_max"] for d in days] == [None] * 3
    assert "dropping implausible forecast temperature=300.0" in caplog.text


def _without(block, key):
    def change(payload):
        del payload[block][key]

    return change


def _set(block, key, value):
    def change(payload):
        payload[block][key] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.pop("hourly"),
        lambda p: p.pop("daily"),
        lambda p: p.update(hourly=[1, 2]),
        _without("hourly", "time"),
        _without("daily", "time"),
        _set("hourly", "temperature_2m", [1.0, 2.0]),  # a list of another length
        _set("daily", "sunrise", ["2026-10-03T07:36"]),
        _set("hourly", "temperature_2m", "11.8,11.2,11.0"),
        _set("hourly", "wind_speed_10m", [9.0, "8.3", 6.8]),  # not a number
        _set("hourly", "is_day", [0, True, 0]),
        _set("hourly", "time", ["2026-10-03T00:00", "soon", "2026-10-03T02:00"]),
        _set("daily", "time", ["2026-10-03", "2026-10-04", 7.5e20]),
        _set("daily", "sunset", ["2026-10-03T19:05", "dusk", None]),
        lambda p: p.update(utc_offset_seconds="7200"),
    ],
)
async def test_a_bad_shape_costs_only_its_location_without_a_traceback(change, caplog):
    bad = load_fixture(HOURLY_DAILY)
    change(bad)
    with pytest.raises(ProviderError):
        parse_forecast(bad, now=0, issued_at=FIRST_HOUR)
    provider = forecast_provider(
        lambda request: httpx.Response(200, json=[load_fixture(HOURLY_DAILY), bad]), clock=FakeClock(0)
    )
    good, none = await provider.fetch_forecasts([ENSCHEDE, BERLIN])
    await provider.aclose()
    assert none is None and list(good.get(HOURLY).items) == CAPTURED_HOURS
    assert provider.forecast_new_data_at(BERLIN, Forecasts("open-meteo")) is None  # not fetched
    assert "unusable forecast for one location" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


async def test_one_request_per_batch_with_the_forecast_variables():
    seen = []

    def handler(request):
        if request.url.path.startswith("/data/"):  # the metadata API: not a forecast request
            return httpx.Response(500)
        seen.append(request)
        return httpx.Response(200, json=[load_fixture(SEVEN_DAYS), load_fixture(HOURLY_DAILY)])

    provider = forecast_provider(handler, params={"apikey": "k"})
    enschede, berlin = await provider.fetch_forecasts([ENSCHEDE, BERLIN])
    await provider.aclose()
    [request] = seen
    assert str(request.url).startswith(PUBLIC_OPEN_METEO_URL + "?")
    assert request.headers["User-Agent"] == USER_AGENT
    query = parse_qs(urlsplit(str(request.url)).query)
    assert query.pop("hourly") == [
        "temperature_2m,apparent_temperature,precipitation,precipitation_probability,weather_code,"
        "wind_speed_10m,wind_gusts_10m,wind_direction_10m,cloud_cover,is_day"
    ]
    assert query.pop("daily") == [
        "weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum,"
        "precipitation_probability_max,wind_speed_10m_max,wind_gusts_10m_max,sunrise,sunset,uv_index_max"
    ]
    assert query == {
        "apikey": ["k"],
        "latitude": ["52.2183,52.5244"],
        "longitude": ["6.8958,13.4105"],
        "timezone": ["auto"],
        "temperature_unit": ["celsius"],
        "wind_speed_unit": ["kmh"],
        "precipitation_unit": ["mm"],
        "forecast_days": ["7"],
        "forecast_hours": ["72"],
    }
    assert len(enschede.get(HOURLY).items) == 72 and len(enschede.get(DAILY).items) == 7
    assert berlin.get(HOURLY) is None  # the capture's three hours are past at T0
    assert list(berlin.get(DAILY).items) == CAPTURED_DAYS
    # No model run known: issued when fetched.
    assert enschede.get(HOURLY).issued_at == datetime.fromtimestamp(T0, UTC) == berlin.get(DAILY).issued_at


async def test_a_single_location_answer_is_an_object_and_an_empty_batch_asks_nothing():
    seen = []

    def handler(request):
        if request.url.path.startswith("/data/"):
            return httpx.Response(500)
        seen.append(request)
        return httpx.Response(200, json=load_fixture(SEVEN_DAYS))

    provider = forecast_provider(handler)
    assert await provider.fetch_forecasts([]) == []
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    await provider.aclose()
    assert len(seen) == 1 and f.get(DAILY) is not None


async def test_forecast_answer_count_mismatch_is_an_error():
    provider = forecast_provider(lambda request: httpx.Response(200, json=[load_fixture(SEVEN_DAYS)]))
    with pytest.raises(ProviderError, match="asked for 2"):
        await provider.fetch_forecasts([ENSCHEDE, BERLIN])
    await provider.aclose()


@pytest.mark.parametrize(
    ("response", "message", "retry_after"),
    [
        (
            httpx.Response(400, json={"error": True, "reason": "Invalid hourly"}),
            "HTTP 400: Invalid hourly",
            None,
        ),
        (httpx.Response(429, headers={"Retry-After": "30"}), "HTTP 429", 30),
        (httpx.Response(503, headers={"Retry-After": "120"}), "HTTP 503", 120),
        (httpx.Response(500, text="oops"), "HTTP 500", None),
        (httpx.Response(200, text="<html>oops"), "malformed JSON", None),
    ],
)
async def test_forecast_failures_are_those_of_readings(response, message, retry_after):
    provider = forecast_provider(
        lambda request: httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )
    )
    with pytest.raises(ProviderError, match=message) as info:
        await provider.fetch_forecasts([ENSCHEDE])
    await provider.aclose()
    assert info.value.retry_after == retry_after
    assert provider.forecast_new_data_at(ENSCHEDE, Forecasts("open-meteo")) is None  # not fetched


def test_forecast_calls_weigh_the_variables_and_days_asked(monkeypatch):
    assert OpenMeteoProvider.forecasts is True
    assert len(HOURLY_VARIABLES) + len(DAILY_VARIABLES) == 20
    assert OpenMeteoProvider.forecast_calls(1) == 2.0  # max(1, 20 / 10, 7 / 14 x 20 / 10)
    assert OpenMeteoProvider.forecast_calls(50) == 100.0
    monkeypatch.setattr(openmeteo, "FORECAST_DAYS", 16)  # days past a fortnight weigh more
    assert OpenMeteoProvider.forecast_calls(1) == pytest.approx(16 / 14 * 2)
    monkeypatch.setattr(openmeteo, "FORECAST_DAYS", 7)
    monkeypatch.setattr(openmeteo, "DAILY_VARIABLES", {"weather_code": "weather_code"})
    assert OpenMeteoProvider.forecast_calls(2) == pytest.approx(2.2)
    monkeypatch.setattr(openmeteo, "HOURLY_VARIABLES", {})
    assert OpenMeteoProvider.forecast_calls(2) == 2.0  # never less than one call a location


class Upstream:
    """The forecast API and the metadata API: ``available`` is model -> availability
    (None: that model's metadata answers 500)."""

    def __init__(self, available=None, forecast=SEVEN_DAYS):
        self.available = {"dwd_icon": AVAILABLE} if available is None else dict(available)
        self.forecast = forecast
        self.meta: list[str] = []
        self.forecasts: list[httpx.Request] = []

    async def __call__(self, request):
        path = request.url.path
        if path.startswith("/data/"):
            model = path.split("/")[2]
            self.meta.append(model)
            await asyncio.sleep(0.01)
            available = self.available.get(model)
            if available is None:
                return httpx.Response(500)
            return httpx.Response(200, json={**load_fixture(META), "last_run_availability_time": available})
        self.forecasts.append(request)
        count = len(request.url.params["latitude"].split(","))
        payload = [load_fixture(self.forecast) for _ in range(count)]
        return httpx.Response(200, json=payload if count > 1 else payload[0])


async def test_model_runs_are_read_once_per_model_every_300_seconds_however_many_ask():
    clock = FakeClock(T0)
    upstream = Upstream(
        {"dwd_icon": AVAILABLE, "ncep_gfs025": AVAILABLE - 3600, "ecmwf_ifs025": AVAILABLE + 60}
    )
    provider = forecast_provider(upstream, clock=clock)
    assert provider.runs.models == FORECAST_MODELS == ("dwd_icon", "ncep_gfs025", "ecmwf_ifs025")
    assert provider.runs.known() is None
    found = await asyncio.gather(*(provider.runs.latest() for _ in range(10)))
    assert found == [AVAILABLE + 60] * 10  # the newest of the models
    assert sorted(upstream.meta) == sorted(FORECAST_MODELS)
    clock.now = T0 + META_EVERY - 1
    for _ in range(5):
        await provider.forecast_gate([ENSCHEDE])
        await provider.runs.latest()
    assert len(upstream.meta) == 3 and META_EVERY == 300
    clock.now = T0 + META_EVERY
    upstream.available["dwd_icon"] = AVAILABLE + 3600
    assert await provider.runs.latest() == AVAILABLE + 3600
    assert len(upstream.meta) == 6
    await provider.aclose()


async def test_model_runs_come_from_the_origin_of_the_configured_url():
    upstream = Upstream()
    seen = []

    async def handler(request):
        seen.append(str(request.url))
        return await upstream(request)

    provider = forecast_provider(
        handler, url="http://127.0.0.1:9/open-meteo/v1/forecast", models=["dwd_icon"]
    )
    assert await provider.runs.latest() == AVAILABLE
    await provider.aclose()
    assert seen == ["http://127.0.0.1:9/data/dwd_icon/static/meta.json"]


@pytest.mark.parametrize(
    "meta",
    [
        httpx.Response(503),
        httpx.Response(500, json={"last_run_availability_time": AVAILABLE}),  # not an answer
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"last_run_availability_time": "yesterday"}),
        httpx.Response(200, json={"last_run_availability_time": True}),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={}),
    ],
)
async def test_unreadable_model_runs_are_warned_about_and_unknown(meta, caplog):
    provider = forecast_provider(
        lambda request: httpx.Response(meta.status_code, headers=meta.headers, content=meta.content)
    )
    assert await provider.runs.latest() is None
    assert await provider.forecast_gate([ENSCHEDE]) == {}
    await provider.aclose()
    assert "open-meteo:" in caplog.text and "dwd_icon" in caplog.text
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in caplog.records)


async def test_a_model_that_cannot_be_read_keeps_its_last_time_and_none_read_holds_nothing():
    clock = FakeClock(T0)
    upstream = Upstream({"dwd_icon": None, "ncep_gfs025": AVAILABLE - 600, "ecmwf_ifs025": None})
    provider = forecast_provider(upstream, clock=clock)
    assert await provider.runs.latest() == AVAILABLE - 600
    upstream.available.update(dwd_icon=AVAILABLE, ncep_gfs025=None)  # the next read
    clock.now += META_EVERY
    assert await provider.runs.latest() == AVAILABLE
    upstream.available.update(dwd_icon=None)
    clock.now += META_EVERY
    assert await provider.runs.latest() is None  # no model answered: the gate holds nothing
    assert provider.runs.known() == AVAILABLE  # issued_at still never goes back
    await provider.aclose()


async def test_the_gate_holds_back_places_fetched_since_the_newest_run():
    clock = FakeClock(AVAILABLE + RUN_MARGIN + 1)  # the run has spread over Open-Meteo's servers
    upstream = Upstream()
    provider = forecast_provider(upstream, clock=clock)
    assert await provider.forecast_gate([ENSCHEDE, BERLIN]) == {}  # never fetched: nothing gated
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    assert f.get(HOURLY).issued_at == datetime.fromtimestamp(AVAILABLE, UTC)  # the run, once known
    clock.now += 1800
    assert await provider.forecast_gate([ENSCHEDE, BERLIN]) == {ENSCHEDE.id: RECHECK}
    assert RECHECK == 600
    # A newer run: a place fetched before it waits until the run is 600 s old (Open-Meteo's
    # servers all have it), then goes.
    upstream.available["dwd_icon"] = clock.now - 100
    clock.now += META_EVERY
    assert await provider.forecast_gate([ENSCHEDE, BERLIN]) == {ENSCHEDE.id: 200.0}
    clock.now += 200
    assert await provider.forecast_gate([ENSCHEDE, BERLIN]) == {}
    assert len(upstream.forecasts) == 1  # the gate asks the metadata API only
    await provider.aclose()


async def test_a_place_fetched_just_before_the_margin_ends_is_not_held_back():
    clock = FakeClock(AVAILABLE + RUN_MARGIN)  # fetched exactly at availability + 600 s
    provider = forecast_provider(Upstream(), clock=clock)
    await provider.fetch_forecasts([ENSCHEDE])
    assert await provider.forecast_gate([ENSCHEDE]) == {}
    clock.now += 1  # one second later: it has the run
    await provider.fetch_forecasts([ENSCHEDE])
    assert await provider.forecast_gate([ENSCHEDE]) == {ENSCHEDE.id: RECHECK}
    await provider.aclose()


async def test_with_the_metadata_api_down_nothing_is_gated_and_forecasts_come_hourly():
    clock = FakeClock(T0)
    upstream = Upstream({})  # every model answers 500
    provider = forecast_provider(upstream, clock=clock)
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    assert await provider.forecast_gate([ENSCHEDE]) == {}
    assert provider.forecast_new_data_at(ENSCHEDE, f) == T0 + FORECAST_EVERY == T0 + 3600
    assert f.get(DAILY).issued_at == datetime.fromtimestamp(T0, UTC)
    await provider.aclose()


async def test_forecast_new_data_at_is_an_hour_after_the_last_fetch_and_places_are_forgotten():
    clock = FakeClock(T0)
    upstream = Upstream()
    provider = forecast_provider(upstream, clock=clock)
    assert provider.forecast_new_data_at(ENSCHEDE, Forecasts("open-meteo")) is None
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    assert provider.forecast_new_data_at(ENSCHEDE, f) == T0 + 3600
    clock.now = T0 + 7200
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    assert provider.forecast_new_data_at(ENSCHEDE, f) == T0 + 7200 + 3600
    clock.now = T0 + 7200 + FORGET_AFTER + 1
    await provider.fetch_forecasts([BERLIN])
    assert set(provider.forecast_fetched) == {BERLIN.id}
    assert FORGET_AFTER == 6 * 3600
    await provider.aclose()


def test_forecast_models_come_from_the_settings_when_set():
    config = {
        "OPEN_METEO_URL": "http://127.0.0.1:9/v1/forecast",
        "OPEN_METEO_PARAMS": {},
        "HTTP_TIMEOUT": 3,
        "BATCH_SIZE": 10,
    }
    assert OpenMeteoProvider.from_config(config).runs.models == FORECAST_MODELS  # key missing
    provider = OpenMeteoProvider.from_config({**config, "OPEN_METEO_FORECAST_MODELS": ["icon_d2"]})
    assert provider.runs.models == ("icon_d2",)
    assert provider.runs.origin == "http://127.0.0.1:9"
    assert OpenMeteoProvider.from_config({**config, "OPEN_METEO_FORECAST_MODELS": []}).runs.models == ()


async def test_the_loopback_fake_serves_forecasts_and_model_runs():
    fake = FakeOpenMeteo().start()
    try:
        fake.model_run_at = time.time() - 1200
        provider = OpenMeteoProvider(url=fake.url)
        assert await provider.forecast_gate([ENSCHEDE]) == {}
        enschede, berlin = await provider.fetch_forecasts([ENSCHEDE, BERLIN])
        [reading] = await provider.fetch([ENSCHEDE])
        gate = await provider.forecast_gate([ENSCHEDE, BERLIN])
        await provider.aclose()
    finally:
        fake.stop()
    assert gate == {ENSCHEDE.id: RECHECK, BERLIN.id: RECHECK}
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours, days = enschede.get(HOURLY).items, enschede.get(DAILY).items
    assert hours[0]["time"] in {iso(hour), iso(hour - timedelta(hours=1))}  # (an hour may turn)
    assert len(hours) == 72 and len(days) == 7
    assert days[0]["date"] <= hours[0]["time"][:10]  # today (unless midnight passed meanwhile)
    assert enschede.get(HOURLY).issued_at == datetime.fromtimestamp(round(fake.model_run_at), UTC)
    assert berlin.get(DAILY).items == days
    assert [c for _, c in fake.forecast_log] == ["52.2183,6.8958", "52.5244,13.4105"]
    assert [c for _, c in fake.log] == ["52.2183,6.8958"] and reading.temperature is not None
    assert sorted(m for _, m in fake.meta_log) == sorted(FORECAST_MODELS)  # once, for both gates
    assert fake.forecast_fetches("52.2183,6.8958") and not fake.fetches("52.5244,13.4105")


async def test_a_shorter_forecast_interval_checks_the_runs_and_rechecks_as_often():
    clock = FakeClock(AVAILABLE + RUN_MARGIN + 1)
    upstream = Upstream()
    provider = forecast_provider(upstream, clock=clock, forecast_every=5.0)
    [f] = await provider.fetch_forecasts([ENSCHEDE])
    assert provider.forecast_new_data_at(ENSCHEDE, f) == clock.now + 5.0
    clock.now += 5
    assert await provider.forecast_gate([ENSCHEDE]) == {ENSCHEDE.id: 5.0}
    assert len(upstream.meta) == 2 * len(FORECAST_MODELS)  # read again after 5 s, not 300
    await provider.aclose()


async def test_issued_at_never_goes_back_for_a_place():
    clock = FakeClock(AVAILABLE + 7200)
    upstream = Upstream({"dwd_icon": None})  # the metadata API fails for every model
    provider = forecast_provider(upstream, clock=clock)
    [first] = await provider.fetch_forecasts([ENSCHEDE])
    assert first.get(HOURLY).issued_at == datetime.fromtimestamp(clock.now, UTC)  # its own time
    upstream.available["dwd_icon"] = AVAILABLE  # back, with a run older than that fetch
    clock.now += META_EVERY
    [second] = await provider.fetch_forecasts([ENSCHEDE])
    assert second.get(HOURLY).issued_at == first.get(HOURLY).issued_at  # not back to the run
    await provider.aclose()
