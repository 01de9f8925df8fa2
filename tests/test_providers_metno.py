"""MET Norway's Locationforecast 2.0 provider, driven through httpx.MockTransport.

The answers are built from the documented schema (tests/fixtures/met-norway/README.md:
no real capture exists here); headers and status codes follow MET's terms of service.
"""

import asyncio
import gzip
import json
import random
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.clock import FakeClock
from tests.conftest import load_fixture
from weatherstream import __version__
from weatherstream.conf import DEFAULTS, PUBLIC_MET_NORWAY_URL
from weatherstream.forecasts import DAILY, HOURLY, HOURS, Forecasts
from weatherstream.places import Place
from weatherstream.providers import ProviderError, UpstreamUnreachable, provider_class
from weatherstream.providers.http import Pacer
from weatherstream.providers.metno import (
    FORGET_AFTER,
    HELD_HOURS,
    MAX_IN_FLIGHT,
    REQUESTS_PER_SECOND,
    SPREAD,
    SYMBOLS,
    MetNorwayProvider,
    coordinate,
    parse_compact,
    parse_hours,
    weather_symbol,
)
from weatherstream.readings import WMO_CODES
from weatherstream.sun import sunrise_sunset

OSLO = Place(id="3143244", latitude=59.91273, longitude=10.74609)
BERGEN = Place(id="3161732", latitude=60.39299, longitude=5.32415)
UA = "weather.example.org admin@example.org"
LAST_MODIFIED = "Sat, 03 Oct 2026 09:41:27 GMT"
T0 = datetime(2026, 10, 3, 10, 20, tzinfo=UTC).timestamp()

COMPACT = "met-norway/compact_built_from_schema.json"
NO_NEXT_HOUR = "met-norway/compact_first_step_without_next_1_hours_built_from_schema.json"
ODD = "met-norway/odd_shape_no_time_steps_built_from_schema.json"

# MET's weather icon legend (https://api.met.no/weatherapi/weathericon/2.0/legends): every
# symbol, without its _day/_night/_polartwilight variant, and the WMO 4677 code we give it.
LEGEND = {
    "clearsky": 0,
    "fair": 1,
    "partlycloudy": 2,
    "cloudy": 3,
    "fog": 45,
    "lightrain": 61,
    "rain": 63,
    "heavyrain": 65,
    "lightrainshowers": 80,
    "rainshowers": 81,
    "heavyrainshowers": 82,
    "lightsleet": 68,
    "sleet": 69,
    "heavysleet": 69,
    "lightsleetshowers": 83,
    "sleetshowers": 84,
    "heavysleetshowers": 84,
    "lightsnow": 71,
    "snow": 73,
    "heavysnow": 75,
    "lightsnowshowers": 85,
    "snowshowers": 86,
    "heavysnowshowers": 86,
    "lightrainandthunder": 95,
    "rainandthunder": 95,
    "heavyrainandthunder": 95,
    "lightsleetandthunder": 95,
    "sleetandthunder": 95,
    "heavysleetandthunder": 95,
    "lightsnowandthunder": 95,
    "snowandthunder": 95,
    "heavysnowandthunder": 95,
    "lightrainshowersandthunder": 95,
    "rainshowersandthunder": 95,
    "heavyrainshowersandthunder": 95,
    "lightssleetshowersandthunder": 95,  # sic, MET's spelling
    "sleetshowersandthunder": 95,
    "heavysleetshowersandthunder": 95,
    "lightssnowshowersandthunder": 95,  # sic
    "snowshowersandthunder": 95,
    "heavysnowshowersandthunder": 95,
}


def http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


def ok(payload=None, *, expires=T0 + 1800, last_modified=LAST_MODIFIED, status=200) -> httpx.Response:
    headers = {}
    if expires is not None:
        headers["Expires"] = http_date(expires)
    if last_modified is not None:
        headers["Last-Modified"] = last_modified
    return httpx.Response(status, json=load_fixture(COMPACT) if payload is None else payload, headers=headers)


def not_modified(*, expires) -> httpx.Response:
    return httpx.Response(304, headers={"Expires": http_date(expires)})


class Upstream:
    """Answers requests in turn with the responses (or handlers) given; records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(request)
        # A fresh copy: a response object serves one request.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def provider_with(handler, *, clock=None, **kwargs) -> MetNorwayProvider:
    kwargs.setdefault("rng", random.Random(1))
    return MetNorwayProvider(
        user_agent=UA, transport=httpx.MockTransport(handler), clock=clock or FakeClock(T0), **kwargs
    )


def compact_with(**instant):
    payload = load_fixture(COMPACT)
    payload["properties"]["timeseries"][0]["data"]["instant"]["details"].update(instant)
    return payload


# Parsing.


def test_the_reading_is_the_first_time_step_with_every_field_in_our_units():
    r = parse_compact(load_fixture(COMPACT))
    assert r.observed_at == datetime(2026, 10, 3, 10, tzinfo=UTC)
    assert r.source == "met-norway"
    assert (r.temperature, r.humidity, r.pressure, r.cloud_cover) == (10.5, 82.1, 1012.6, 87.5)
    assert r.wind_speed == pytest.approx(4.3 * 3.6)  # m/s -> km/h
    assert r.wind_direction == 223.5
    assert r.wind_gusts is None  # compact has none
    assert r.feels_like is None  # compact has no apparent temperature; none is made up
    # From next_1_hours, not next_6_hours (rain, 3.2 mm): the next hour's forecast.
    assert r.precipitation == 0.3
    assert (r.weather_code, r.is_day) == (80, True)  # lightrainshowers_day
    wire = r.to_wire()
    assert wire["summary"] == "Slight rain showers"
    assert wire["observed_at"] == "2026-10-03T10:00:00Z"


def test_gusts_are_read_when_present_in_km_h():
    r = parse_compact(compact_with(wind_speed_of_gust=9.1))
    assert r.wind_gusts == pytest.approx(32.76)


def test_without_next_1_hours_the_symbol_comes_from_next_6_hours_and_there_is_no_precipitation():
    r = parse_compact(load_fixture(NO_NEXT_HOUR))
    assert r.observed_at == datetime(2026, 12, 1, 6, tzinfo=UTC)
    assert r.temperature == -9.8
    assert r.wind_speed == pytest.approx(6.2 * 3.6)
    assert (r.weather_code, r.is_day) == (85, False)  # lightsnowshowers_night
    assert r.precipitation is None  # next_6_hours' amount is not an hour's


def test_the_end_steps_of_a_forecast_without_next_1_hours_or_any_next_block():
    payload = load_fixture(COMPACT)
    steps = payload["properties"]["timeseries"]
    assert "next_1_hours" not in steps[-2]["data"] and "next_6_hours" in steps[-2]["data"]
    payload["properties"]["timeseries"] = steps[-2:]
    r = parse_compact(payload)
    assert r.observed_at == datetime(2026, 10, 12, 0, tzinfo=UTC)
    symbol = steps[-2]["data"]["next_6_hours"]["summary"]["symbol_code"]
    assert (r.weather_code, r.is_day) == weather_symbol(symbol)
    assert r.weather_code is not None
    assert r.precipitation is None
    payload["properties"]["timeseries"] = steps[-1:]  # instant only
    r = parse_compact(payload)
    assert (r.weather_code, r.is_day, r.precipitation) == (None, None, None)
    assert r.temperature == steps[-1]["data"]["instant"]["details"]["air_temperature"]


@pytest.mark.parametrize(("symbol", "code"), sorted(LEGEND.items()))
def test_every_met_symbol_maps_to_a_wmo_code_with_words(symbol, code):
    assert weather_symbol(symbol) == (code, None)
    assert code in WMO_CODES
    assert SYMBOLS[symbol] == code


def test_the_symbol_table_is_the_legend_plus_corrected_spellings():
    assert set(SYMBOLS) - set(LEGEND) == {"lightsleetshowersandthunder", "lightsnowshowersandthunder"}
    assert all(code == 95 for name, code in SYMBOLS.items() if "thunder" in name)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("clearsky_day", (0, True)),
        ("clearsky_night", (0, False)),
        ("clearsky_polartwilight", (0, None)),
        ("lightssleetshowersandthunder_night", (95, False)),
        ("lightssnowshowersandthunder_day", (95, True)),
        ("heavysleetshowers_polartwilight", (84, None)),
        ("cloudy", (3, None)),
        ("sunny_day", (None, True)),  # unknown symbol, known suffix
        ("sunny", (None, None)),
    ],
)
def test_symbol_suffixes_give_is_day(symbol, expected):
    assert weather_symbol(symbol) == expected


def test_a_symbol_drives_the_reading():
    payload = load_fixture(COMPACT)
    payload["properties"]["timeseries"][0]["data"]["next_1_hours"]["summary"]["symbol_code"] = (
        "lightssnowshowersandthunder_polartwilight"
    )
    r = parse_compact(payload)
    assert (r.weather_code, r.is_day) == (95, None)
    assert r.to_wire()["summary"] == "Thunderstorm"


def test_implausible_values_are_dropped_one_by_one():
    r = parse_compact(
        compact_with(
            relative_humidity=150.0,
            air_pressure_at_sea_level=500.0,
            wind_speed=-1.0,
            cloud_area_fraction=None,
        )
    )
    assert (r.humidity, r.pressure, r.wind_speed, r.cloud_cover) == (None, None, None, None)
    assert r.temperature == 10.5 and r.wind_direction == 223.5
    assert parse_compact(compact_with(wind_speed=float("nan"))).wind_speed is None
    assert parse_compact(compact_with(wind_speed=200.0)).wind_speed is None  # 720 km/h
    assert parse_compact(compact_with(wind_speed=138.8)).wind_speed == pytest.approx(499.68)  # bound in km/h


def test_precipitation_out_of_range_is_dropped():
    payload = load_fixture(COMPACT)
    payload["properties"]["timeseries"][0]["data"]["next_1_hours"]["details"]["precipitation_amount"] = -0.5
    assert parse_compact(payload).precipitation is None


@pytest.mark.parametrize("temperature", [None, 300.0, -150.0, "warm", True])
def test_no_plausible_temperature_is_no_reading(temperature):
    assert parse_compact(compact_with(air_temperature=temperature)) is None


def test_a_unit_other_than_the_documented_one_is_dropped_not_guessed():
    payload = load_fixture(COMPACT)
    payload["properties"]["meta"]["units"]["wind_speed"] = "knots"
    r = parse_compact(payload)
    assert r.wind_speed is None and r.temperature == 10.5
    payload["properties"]["meta"]["units"]["air_temperature"] = "fahrenheit"
    assert parse_compact(payload) is None


def test_missing_units_are_the_documented_ones():
    payload = load_fixture(COMPACT)
    del payload["properties"]["meta"]
    assert parse_compact(payload).wind_speed == pytest.approx(15.48)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        {},
        {"properties": {}},
        {"properties": {"timeseries": {}}},
        load_fixture(ODD),
        {"properties": {"timeseries": [5]}},
        {"properties": {"timeseries": [{"time": "noon", "data": {}}]}},
        {"properties": {"timeseries": [{"time": 1790000000, "data": {}}]}},
        {"properties": {"timeseries": [{"time": "2026-10-03T10:00:00Z"}]}},
    ],
)
def test_bad_shapes_are_provider_errors(payload):
    with pytest.raises(ProviderError):
        parse_compact(payload)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (59.91273, "59.9127"),
        (10.74609, "10.7461"),
        (6.9, "6.9"),
        (10.0, "10"),
        (-33.8688, "-33.8688"),
        (-0.00001, "0"),
    ],
)
def test_coordinates_have_at_most_four_decimals(value, text):
    assert coordinate(value) == text


# Requests.


async def test_request_url_coordinates_and_headers():
    upstream = Upstream(ok())
    provider = provider_with(upstream)
    [reading] = await provider.fetch([OSLO])
    await provider.aclose()
    assert reading.temperature == 10.5
    [request] = upstream.requests
    assert str(request.url).startswith(PUBLIC_MET_NORWAY_URL + "?")
    assert parse_qs(urlsplit(str(request.url)).query) == {"lat": ["59.9127"], "lon": ["10.7461"]}
    assert request.headers["User-Agent"] == f"{UA} weatherstream/{__version__}"
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "If-Modified-Since" not in request.headers


async def test_a_gzipped_answer_is_read():
    body = gzip.compress(json.dumps(load_fixture(COMPACT)).encode())
    provider = provider_with(
        lambda request: httpx.Response(
            200, content=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
    )
    [reading] = await provider.fetch([OSLO])
    await provider.aclose()
    assert reading.temperature == 10.5


async def test_no_request_before_expires_then_if_modified_since_and_304_keeps_the_reading():
    clock = FakeClock(T0)
    newer = load_fixture(COMPACT)
    newer["properties"]["timeseries"] = newer["properties"]["timeseries"][1:]  # an hour on
    upstream = Upstream(
        ok(expires=T0 + 1800),
        not_modified(expires=T0 + 3600),
        ok(newer, expires=T0 + 5400, last_modified="Sat, 03 Oct 2026 11:02:51 GMT"),
        not_modified(expires=T0 + 7200),
    )
    provider = provider_with(upstream, clock=clock)

    [first] = await provider.fetch([OSLO])
    clock.now = T0 + 1799
    assert await provider.fetch([OSLO]) == [first]
    assert len(upstream.requests) == 1  # nothing before Expires

    clock.now = T0 + 1800
    [again] = await provider.fetch([OSLO])
    assert again is first  # 304: nothing new, not a failure
    assert len(upstream.requests) == 2
    assert upstream.requests[1].headers["If-Modified-Since"] == LAST_MODIFIED

    clock.now = T0 + 3599  # the 304's Expires holds now; the held forecast's 11:00 step
    [held] = await provider.fetch([OSLO])  # is the hour's, with no request
    assert held.observed_at == datetime(2026, 10, 3, 11, tzinfo=UTC) and held.temperature != first.temperature
    assert len(upstream.requests) == 2

    clock.now = T0 + 3600
    [second] = await provider.fetch([OSLO])
    assert second.observed_at == datetime(2026, 10, 3, 11, tzinfo=UTC) > first.observed_at
    assert upstream.requests[2].headers["If-Modified-Since"] == LAST_MODIFIED

    clock.now = T0 + 5400
    assert (await provider.fetch([OSLO]))[0] is second
    assert upstream.requests[3].headers["If-Modified-Since"] == "Sat, 03 Oct 2026 11:02:51 GMT"
    await provider.aclose()


async def test_each_place_has_its_own_expires():
    upstream = Upstream(ok())
    provider = provider_with(upstream)
    await provider.fetch([OSLO])
    await provider.fetch([BERGEN])
    await provider.fetch([OSLO])
    await provider.aclose()
    assert [parse_qs(urlsplit(str(r.url)).query)["lat"] for r in upstream.requests] == [
        ["59.9127"],
        ["60.393"],
    ]


async def test_without_last_modified_no_if_modified_since_is_sent():
    clock = FakeClock(T0)
    upstream = Upstream(ok(last_modified=None))
    provider = provider_with(upstream, clock=clock)
    await provider.fetch([OSLO])
    clock.now = T0 + 1800
    await provider.fetch([OSLO])
    await provider.aclose()
    assert len(upstream.requests) == 2
    assert "If-Modified-Since" not in upstream.requests[1].headers


async def test_an_answer_without_expires_does_not_hold_back_the_next_request():
    upstream = Upstream(ok(expires=None))
    provider = provider_with(upstream)
    await provider.fetch([OSLO])
    await provider.fetch([OSLO])
    await provider.aclose()
    assert len(upstream.requests) == 2
    assert provider.new_data_at(OSLO, parse_compact(load_fixture(COMPACT))) is None


async def test_a_place_not_fetched_for_hours_is_forgotten():
    clock = FakeClock(T0)
    upstream = Upstream(ok())
    provider = provider_with(upstream, clock=clock)
    await provider.fetch([OSLO])
    clock.now = T0 + FORGET_AFTER + 1
    await provider.fetch([BERGEN])
    assert set(provider.answers) == {BERGEN.id}
    await provider.fetch([OSLO])
    await provider.aclose()
    assert "If-Modified-Since" not in upstream.requests[-1].headers


async def test_a_bad_shape_is_none_for_that_place_not_an_error_and_expires_still_holds():
    upstream = Upstream(ok(load_fixture(ODD)))
    provider = provider_with(upstream)
    assert await provider.fetch([OSLO]) == [None]
    assert await provider.fetch([OSLO]) == [None]
    await provider.aclose()
    assert len(upstream.requests) == 1


async def test_malformed_json_is_an_error_but_its_expires_holds():
    upstream = Upstream(httpx.Response(200, text="<html>oops", headers={"Expires": http_date(T0 + 1800)}))
    provider = provider_with(upstream)
    with pytest.raises(ProviderError, match="malformed JSON"):
        await provider.fetch([OSLO])
    assert await provider.fetch([OSLO]) == [None]
    await provider.aclose()
    assert len(upstream.requests) == 1


async def test_a_deprecated_product_203_is_read_and_warned_about_once(caplog):
    clock = FakeClock(T0)
    provider = provider_with(Upstream(ok(status=203)), clock=clock)
    [reading] = await provider.fetch([OSLO])
    clock.now = T0 + 1800
    await provider.fetch([OSLO])
    await provider.aclose()
    assert reading.temperature == 10.5
    assert caplog.text.count("HTTP 203") == 1


def raise_(exc):
    def handler(request):
        raise exc("injected", request=request)

    return handler


@pytest.mark.parametrize(
    ("handler", "error", "message", "retry_after"),
    [
        (lambda r: httpx.Response(500, text="Internal Server Error"), ProviderError, "HTTP 500", None),
        (lambda r: httpx.Response(503, headers={"Retry-After": "120"}), ProviderError, "HTTP 503", 120),
        (lambda r: httpx.Response(429, headers={"Retry-After": "30"}), ProviderError, "HTTP 429", 30),
        (
            lambda r: httpx.Response(403, text="Forbidden"),
            ProviderError,
            r"HTTP 403: .*WEATHERSTREAM\['MET_NORWAY_USER_AGENT'\]",
            None,
        ),
        (
            lambda r: httpx.Response(200, text='{"type": "Feature", "prop'),
            ProviderError,
            "malformed JSON",
            None,
        ),
        (lambda r: httpx.Response(304), ProviderError, "304", None),
        (raise_(httpx.ReadTimeout), ProviderError, "ReadTimeout", None),
        (raise_(httpx.RemoteProtocolError), ProviderError, "RemoteProtocolError", None),
        (raise_(httpx.ConnectError), UpstreamUnreachable, "cannot reach", None),
        (raise_(httpx.ConnectTimeout), UpstreamUnreachable, "cannot reach", None),
    ],
)
async def test_failures_are_provider_errors_of_the_right_kind(handler, error, message, retry_after):
    provider = provider_with(handler)
    with pytest.raises(ProviderError, match=message) as info:
        await provider.fetch([OSLO])
    await provider.aclose()
    assert type(info.value) is error
    assert info.value.retry_after == retry_after


async def test_429_with_an_http_date_retry_after():
    later = http_date(time.time() + 150)
    provider = provider_with(lambda r: httpx.Response(429, headers={"Retry-After": later}))
    with pytest.raises(ProviderError) as info:
        await provider.fetch([OSLO])
    await provider.aclose()
    assert 140 <= info.value.retry_after <= 151


async def test_one_deadline_for_the_whole_exchange():
    async def slow(request):
        await asyncio.sleep(5)
        return ok()

    provider = provider_with(slow, timeout=0.05)
    with pytest.raises(ProviderError, match="within 0.05s") as info:
        await provider.fetch([OSLO])
    await provider.aclose()
    assert not isinstance(info.value, UpstreamUnreachable)


async def test_several_places_one_failing_costs_only_that_one():
    def handler(request):
        if request.url.params["lat"] == "60.393":
            return httpx.Response(500)
        return ok()

    provider = provider_with(handler)
    readings = await provider.fetch([OSLO, BERGEN])
    assert readings[0].temperature == 10.5 and readings[1] is None
    await provider.aclose()


async def test_several_places_all_failing_or_asked_to_wait_raise():
    provider = provider_with(lambda r: httpx.Response(502))
    with pytest.raises(ProviderError, match="HTTP 502"):
        await provider.fetch([OSLO, BERGEN])
    await provider.aclose()

    def handler(request):
        if request.url.params["lat"] == "60.393":
            return httpx.Response(429, headers={"Retry-After": "60"})
        return ok()

    provider = provider_with(handler)
    with pytest.raises(ProviderError) as info:
        await provider.fetch([OSLO, BERGEN])
    assert info.value.retry_after == 60
    assert await provider.fetch([OSLO]) != [None]  # the good answer was kept
    await provider.aclose()


# Pace.


async def test_the_pacer_spaces_request_starts():
    clock = FakeClock(100.0)
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    pacer = Pacer(in_flight=10, per_second=10.0, clock=clock, sleep=sleep)

    async def one():
        async with pacer:
            pass

    await asyncio.gather(*(one() for _ in range(4)))
    assert slept == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 10
    await one()
    assert len(slept) == 3  # long after the last start: no wait


def test_the_default_pace_stays_well_under_mets_heavy_traffic():
    provider = MetNorwayProvider(user_agent=UA)
    assert REQUESTS_PER_SECOND <= 10 and MAX_IN_FLIGHT <= 5
    assert provider.pacer.gap == pytest.approx(1 / REQUESTS_PER_SECOND)


async def test_concurrent_fetches_are_limited_and_spaced():
    starts: list[float] = []
    in_flight = peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        starts.append(time.monotonic())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.1)
        in_flight -= 1
        return ok()

    provider = provider_with(handler, pacer=Pacer(in_flight=2, per_second=50.0))
    places = [Place(id=str(i), latitude=50 + i, longitude=5 + i) for i in range(6)]
    # As the poller does it: one fetch per place (max_batch 1), all at once.
    results = await asyncio.gather(*(provider.fetch([p]) for p in places))
    await provider.aclose()
    assert all(r[0].temperature == 10.5 for r in results)
    assert peak == 2
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.02 - 0.002


# Rhythm.


@pytest.mark.parametrize("minutes_to_the_hour", [0.5, 0.05, -10.0, 30.0])
async def test_new_data_at_is_expires_plus_a_spread_never_in_the_first_minute_of_an_hour(minutes_to_the_hour):
    full_hour = datetime(2026, 10, 3, 11, tzinfo=UTC).timestamp()
    expires = full_hour - minutes_to_the_hour * 60
    payload = load_fixture(COMPACT)
    if minutes_to_the_hour < 0:  # a forecast whose next hour (12:00) begins after Expires
        payload["properties"]["timeseries"] = payload["properties"]["timeseries"][1:]
    provider = provider_with(Upstream(ok(payload, expires=expires)), rng=random.Random(7))
    [reading] = await provider.fetch([OSLO])
    times = [provider.new_data_at(OSLO, reading) for _ in range(300)]
    await provider.aclose()
    assert all(t >= expires + SPREAD[0] for t in times)
    assert all(t <= expires + SPREAD[1] + 2 * 60 for t in times)
    assert all(t % 3600 >= 60 for t in times)
    assert len(set(times)) == 300  # spread at random
    if minutes_to_the_hour < 0:  # well past the hour: the spread as drawn
        assert all(t <= expires + SPREAD[1] for t in times)


async def test_new_data_at_is_deterministic_with_a_seeded_rng_and_none_before_an_answer():
    draws = []
    for _ in range(2):
        provider = provider_with(Upstream(ok()), rng=random.Random(42))
        assert provider.new_data_at(OSLO, parse_compact(load_fixture(COMPACT))) is None
        [reading] = await provider.fetch([OSLO])
        draws.append([provider.new_data_at(OSLO, reading) for _ in range(5)])
        await provider.aclose()
    assert draws[0] == draws[1]


# Configuration.


def test_class_attributes():
    assert MetNorwayProvider.name == "met-norway"
    assert MetNorwayProvider.metered is False and MetNorwayProvider.real is True
    assert MetNorwayProvider.simulates is False
    assert MetNorwayProvider.resolution == 3600.0
    assert (MetNorwayProvider.default_interval, MetNorwayProvider.min_interval) == (1800.0, 60.0)
    assert MetNorwayProvider.max_batch == 1
    assert MetNorwayProvider(user_agent=UA).calls(3) == 3.0
    assert provider_class("met-norway") is MetNorwayProvider


@pytest.mark.parametrize("user_agent", [None, "", "   ", "MyWeatherApp/1.0", "weather at home", 5])
def test_a_user_agent_without_a_contact_is_refused(user_agent):
    with pytest.raises(ImproperlyConfigured, match="MET_NORWAY_USER_AGENT"):
        MetNorwayProvider(user_agent=user_agent)
    with pytest.raises(ImproperlyConfigured, match="MET_NORWAY_USER_AGENT"):
        MetNorwayProvider.from_config({**DEFAULTS, "MET_NORWAY_USER_AGENT": user_agent})


@pytest.mark.parametrize(
    "user_agent",
    [
        UA,
        "Weather at https://weather.example.org",
        "  a@b.example  ",
        "AcmeWeatherApp/0.9 github.com/acmeweatherapp",  # MET's own example
        "weather.example.org",  # a website is a contact
    ],
)
def test_a_user_agent_with_a_contact_is_used_with_our_name_appended(user_agent):
    provider = MetNorwayProvider.from_config(
        {
            **DEFAULTS,
            "MET_NORWAY_USER_AGENT": user_agent,
            "MET_NORWAY_URL": "http://127.0.0.1:9/lf",
            "HTTP_TIMEOUT": 3,
        }
    )
    assert provider.user_agent == f"{user_agent.strip()} weatherstream/{__version__}"
    assert provider.client.headers["User-Agent"] == provider.user_agent
    assert (provider.url, provider.deadline) == ("http://127.0.0.1:9/lf", 3)


async def test_a_held_forecasts_next_hour_before_expires_is_due_then_without_a_request():
    clock = FakeClock(T0)  # 10:20; the answer's steps: 10:00, 11:00, 12:00, ...
    upstream = Upstream(ok(expires=datetime(2026, 10, 3, 11, 30, tzinfo=UTC).timestamp()))
    provider = provider_with(upstream, clock=clock)
    [now] = await provider.fetch([OSLO])
    eleven = datetime(2026, 10, 3, 11, tzinfo=UTC).timestamp()
    assert provider.new_data_at(OSLO, now) == eleven + 1  # the 11:00 step, before Expires
    clock.now = eleven + 1
    [next_hour] = await provider.fetch([OSLO])
    assert next_hour.observed_at.timestamp() == eleven and len(upstream.requests) == 1
    # 12:00 begins after Expires (11:30): then it is Expires and a request, as MET asks
    assert (
        provider.new_data_at(OSLO, next_hour)
        >= datetime(2026, 10, 3, 11, 30, tzinfo=UTC).timestamp() + SPREAD[0]
    )
    await provider.aclose()


def test_the_hours_kept_stop_where_the_hourly_part_ends():
    payload = load_fixture(COMPACT)
    hours = parse_hours(payload, hours=500)
    times = [r.observed_at for r in hours]
    assert all(b - a == timedelta(hours=1) for a, b in zip(times, times[1:]))
    steps = payload["properties"]["timeseries"]
    assert len(hours) < len(steps), "the 6-hourly steps are not kept"
    assert parse_hours(payload)[0] == parse_compact(payload)
    assert len(parse_hours(payload)) == HELD_HOURS


# Forecasts, from the same answers.

OSLO_LOCAL = Place(id="3143244", latitude=59.91273, longitude=10.74609, timezone="Europe/Oslo")
LONGYEARBYEN = Place(id="2729907", latitude=78.2232, longitude=15.6267)  # no timezone: UTC days
DEC_1 = datetime(2026, 12, 1, 6, 20, tzinfo=UTC).timestamp()


def sun_times(day, place):
    return [
        None if t is None else t.isoformat().replace("+00:00", "Z")
        for t in sunrise_sunset(day, place.latitude, place.longitude)
    ]


def day_item(day, place, tmax, tmin, rain, code, summary, wind):
    sunrise, sunset = sun_times(day, place)
    return {
        "date": day.isoformat(),
        "temperature_max": tmax,
        "temperature_min": tmin,
        "precipitation_sum": rain,
        "precipitation_probability_max": None,
        "weather_code": code,
        "summary": summary,
        "wind_speed_max": wind,
        "wind_gusts_max": None,
        "sunrise": sunrise,
        "sunset": sunset,
        "uv_index_max": None,
    }


async def forecast_of(payload, place=OSLO_LOCAL, now=T0):
    provider = provider_with(Upstream(ok(payload)), clock=FakeClock(now))
    [forecasts] = await provider.fetch_forecasts([place])
    await provider.aclose()
    return forecasts


async def test_the_hourly_forecast_is_every_hourly_step_from_the_current_hour():
    f = await forecast_of(load_fixture(COMPACT))
    hourly = f.get(HOURLY)
    assert (f.source, hourly.source) == ("met-norway", "met-norway")
    assert hourly.issued_at == datetime(2026, 10, 3, 9, 41, 27, tzinfo=UTC)  # meta.updated_at
    items = hourly.items
    assert items[0] == {
        "time": "2026-10-03T10:00:00Z",
        "temperature": 10.5,
        "feels_like": None,  # compact has none: never made up
        "precipitation": 0.3,  # next_1_hours
        "precipitation_probability": None,
        "weather_code": 80,  # lightrainshowers_day
        "summary": "Slight rain showers",
        "wind_speed": 15.48,  # 4.3 m/s
        "wind_gusts": None,
        "wind_direction": 223.5,
        "cloud_cover": 87.5,
        "is_day": True,
    }
    assert len(items) == 61 >= HOURS  # the hourly part: 10:00 on the 3rd to 22:00 on the 5th
    times = [datetime.fromisoformat(i["time"]) for i in items]
    assert all(b - a == timedelta(hours=1) for a, b in zip(times, times[1:]))
    assert items[-1]["time"] == "2026-10-05T22:00:00Z" and items[-1]["precipitation"] == 0.6
    assert items[1]["weather_code"] == 61 and items[1]["is_day"] is None  # "lightrain": no suffix
    assert items[12]["weather_code"] == 3 and items[12]["precipitation"] == 0.0  # 22:00, cloudy


async def test_the_hourly_forecast_of_a_held_answer_moves_on_with_the_clock():
    clock = FakeClock(T0)
    upstream = Upstream(ok(expires=T0 + 3 * 3600))
    provider = provider_with(upstream, clock=clock)
    await provider.fetch_forecasts([OSLO_LOCAL])
    clock.now = T0 + 2 * 3600 + 600  # 12:30
    [f] = await provider.fetch_forecasts([OSLO_LOCAL])
    await provider.aclose()
    assert len(upstream.requests) == 1
    assert f.get(HOURLY).items[0]["time"] == "2026-10-03T12:00:00Z" and len(f.get(HOURLY).items) == 59


async def test_the_daily_forecast_of_local_days():
    f = await forecast_of(load_fixture(COMPACT))
    days = f.get(DAILY).items
    assert f.get(DAILY).issued_at == datetime(2026, 10, 3, 9, 41, 27, tzinfo=UTC)
    assert [d["date"] for d in days] == [f"2026-10-0{n}" for n in range(3, 10)]  # 7 of the 10
    # Today from now on (12:20 in Oslo): the hourly steps 10:00..21:00 UTC.
    assert days[0] == day_item(
        date(2026, 10, 3), OSLO_LOCAL, 13.7, 9.7, 5.9, 80, "Slight rain showers", 21.96
    )
    # All hourly (22:00 UTC on the 4th to 21:00 on the 5th): next_1_hours only, not next_6_hours.
    assert days[2] == day_item(date(2026, 10, 5), OSLO_LOCAL, 14.4, 6.0, 2.9, 80, "Slight rain showers", 14.4)
    # The last hourly step (22:00 UTC, midnight in Oslo), then 6-hourly ones: 0.6 + 2.9 + 0 + 0 + 0,
    # the highest code that of "rain" (63) over "lightrain" (61) and partly cloudy or fair.
    assert days[3] == day_item(date(2026, 10, 6), OSLO_LOCAL, 12.9, 7.1, 3.5, 63, "Moderate rain", 21.96)
    assert days[3]["sunrise"] == "2026-10-06T05:34:07Z"
    assert days[6] == day_item(date(2026, 10, 9), OSLO_LOCAL, 9.9, 4.2, 0.0, 2, "Partly cloudy", 22.68)


async def test_a_6_hour_period_across_midnight_counts_to_the_day_it_starts_in():
    payload = load_fixture(COMPACT)
    steps = payload["properties"]["timeseries"]
    evening = next(s for s in steps if s["time"] == "2026-10-06T18:00:00Z")  # 20:00 to 02:00 in Oslo
    evening["data"]["next_6_hours"]["details"]["precipitation_amount"] = 5.0
    days = (await forecast_of(payload)).get(DAILY).items
    assert (days[3]["date"], days[3]["precipitation_sum"]) == ("2026-10-06", 8.5)
    assert (days[4]["date"], days[4]["precipitation_sum"]) == ("2026-10-07", 0.2)


async def test_no_hour_counts_twice_where_an_hourly_step_has_no_next_1_hours():
    # Longyearbyen, UTC days: 06:00 has next_6_hours only (1.0 mm for 06-12), 07..17 hourly
    # (0.2 each), 18:00 next_6_hours only (0.8), then 6-hourly steps.
    f = await forecast_of(load_fixture(NO_NEXT_HOUR), LONGYEARBYEN, DEC_1)
    days = f.get(DAILY).items
    assert days == (
        day_item(date(2026, 12, 1), LONGYEARBYEN, -8.6, -9.8, 3.0, 85, "Slight snow showers", 27.72),
        day_item(date(2026, 12, 2), LONGYEARBYEN, -8.9, -11.0, 2.0, 85, "Slight snow showers", 25.2),
        day_item(date(2026, 12, 3), LONGYEARBYEN, -10.1, -10.8, 1.2, 85, "Slight snow showers", 25.2),
    )  # 1.0 + 6 x 0.2 + 0.8, not 1.0 + 11 x 0.2 + 0.8; only the days with steps
    assert days[0]["sunrise"] is None and days[0]["sunset"] is None  # polar night
    first = f.get(HOURLY).items[0]
    assert first["time"] == "2026-12-01T06:00:00Z" and first["temperature"] == -9.8
    assert (first["precipitation"], first["weather_code"], first["is_day"]) == (None, None, None)
    assert len(f.get(HOURLY).items) == 13  # 06:00..18:00

    later = await forecast_of(load_fixture(NO_NEXT_HOUR), LONGYEARBYEN, DEC_1 + 7 * 3600)  # 13:20
    assert later.get(DAILY).items[0]["precipitation_sum"] == 1.8  # 5 x 0.2 + 0.8 from 13:00
    assert later.get(DAILY).items[0]["temperature_min"] == -8.9


async def test_the_place_without_a_known_zone_has_utc_days():
    oslo_utc = Place(id="3143244", latitude=59.91273, longitude=10.74609, timezone="Nowhere/Else")
    days = (await forecast_of(load_fixture(COMPACT), oslo_utc)).get(DAILY).items
    assert days[0]["date"] == "2026-10-03" and days[0]["temperature_min"] == 7.6  # 23:00 UTC
    assert days[2]["date"] == "2026-10-05" and days[2]["precipitation_sum"] == 3.5  # to 23:00 UTC


async def test_gusts_are_used_when_the_answer_has_them():
    payload = compact_with(wind_speed_of_gust=9.1)
    f = await forecast_of(payload)
    assert f.get(HOURLY).items[0]["wind_gusts"] == pytest.approx(32.76)
    assert f.get(DAILY).items[0]["wind_gusts_max"] == pytest.approx(32.76)
    assert f.get(DAILY).items[1]["wind_gusts_max"] is None


async def test_implausible_values_are_dropped_from_the_forecast():
    payload = compact_with(air_temperature=300.0, wind_speed=-1.0)
    payload["properties"]["timeseries"][1]["data"]["next_1_hours"]["details"]["precipitation_amount"] = -2
    f = await forecast_of(payload)
    first, second = f.get(HOURLY).items[:2]
    assert first["temperature"] is None and first["wind_speed"] is None and first["cloud_cover"] == 87.5
    assert second["precipitation"] is None and second["temperature"] == 11.5
    assert f.get(DAILY).items[0]["precipitation_sum"] == 5.4  # 5.9 without the 0.5 dropped


async def test_without_updated_at_the_forecast_is_issued_when_the_answer_came():
    payload = load_fixture(COMPACT)
    del payload["properties"]["meta"]["updated_at"]
    f = await forecast_of(payload)
    assert f.get(HOURLY).issued_at == datetime.fromtimestamp(T0, UTC) == f.get(DAILY).issued_at


async def test_a_held_answer_serves_the_forecast_without_a_request():
    clock = FakeClock(T0)
    upstream = Upstream(ok())
    provider = provider_with(upstream, clock=clock)
    [reading] = await provider.fetch([OSLO_LOCAL])
    clock.now = T0 + 600
    [f] = await provider.fetch_forecasts([OSLO_LOCAL])
    assert len(upstream.requests) == 1 and reading.temperature == 10.5
    assert f.get(HOURLY).items[0]["temperature"] == 10.5

    upstream = Upstream(ok())
    other = provider_with(upstream, clock=FakeClock(T0))  # the other way round
    await other.fetch_forecasts([OSLO_LOCAL])
    await other.fetch([OSLO_LOCAL])
    await other.fetch_forecasts([OSLO_LOCAL])
    assert len(upstream.requests) == 1
    await provider.aclose()
    await other.aclose()


async def test_a_reading_and_a_forecast_fetched_at_once_share_one_request():
    async def slow(request):
        await asyncio.sleep(0.05)
        return ok()

    upstream = Upstream(slow)
    provider = provider_with(upstream)
    [reading], [forecasts], [again] = await asyncio.gather(
        provider.fetch([OSLO_LOCAL]), provider.fetch_forecasts([OSLO_LOCAL]), provider.fetch([OSLO_LOCAL])
    )
    assert len(upstream.requests) == 1
    assert reading.temperature == 10.5 and again == reading
    assert forecasts.get(HOURLY).items[0]["temperature"] == 10.5
    # Another place is a request of its own.
    await asyncio.gather(provider.fetch([BERGEN]), provider.fetch_forecasts([OSLO_LOCAL]))
    assert len(upstream.requests) == 2
    await provider.aclose()


async def test_a_failed_shared_request_fails_both():
    async def slow_error(request):
        await asyncio.sleep(0.05)
        return httpx.Response(500)

    upstream = Upstream(slow_error)
    provider = provider_with(upstream)
    results = await asyncio.gather(
        provider.fetch([OSLO_LOCAL]), provider.fetch_forecasts([OSLO_LOCAL]), return_exceptions=True
    )
    await provider.aclose()
    assert len(upstream.requests) == 1
    assert all(isinstance(r, ProviderError) and "HTTP 500" in str(r) for r in results)


async def test_304_keeps_the_forecast():
    clock = FakeClock(T0)
    upstream = Upstream(
        ok(expires=T0 + 1800), not_modified(expires=T0 + 3600), not_modified(expires=T0 + 5400)
    )
    provider = provider_with(upstream, clock=clock)
    [first] = await provider.fetch_forecasts([OSLO_LOCAL])
    clock.now = T0 + 1800  # 10:50: expired; 304
    [same] = await provider.fetch_forecasts([OSLO_LOCAL])
    assert len(upstream.requests) == 2 and upstream.requests[1].headers["If-Modified-Since"] == LAST_MODIFIED
    assert same.get(HOURLY) == first.get(HOURLY) and same.get(DAILY) == first.get(DAILY)
    clock.now = T0 + 3600  # 11:20: another 304; the held forecast from the 11:00 hour on
    [later] = await provider.fetch_forecasts([OSLO_LOCAL])
    assert len(upstream.requests) == 3
    assert later.get(HOURLY).items == first.get(HOURLY).items[1:]
    assert later.get(HOURLY).issued_at == first.get(HOURLY).issued_at
    await provider.aclose()


async def test_forecast_failures_are_those_of_readings():
    provider = provider_with(lambda r: httpx.Response(503, headers={"Retry-After": "120"}))
    with pytest.raises(ProviderError, match="HTTP 503") as info:
        await provider.fetch_forecasts([OSLO_LOCAL])
    assert info.value.retry_after == 120
    await provider.aclose()

    def handler(request):
        if request.url.params["lat"] == "60.393":
            return httpx.Response(500)
        return ok()

    provider = provider_with(handler)
    oslo, bergen = await provider.fetch_forecasts([OSLO_LOCAL, BERGEN])
    assert oslo.get(DAILY) is not None and bergen is None
    await provider.aclose()

    provider = provider_with(Upstream(httpx.Response(429, headers={"Retry-After": "60"}), ok()))
    with pytest.raises(ProviderError, match="HTTP 429"):
        await provider.fetch_forecasts([OSLO_LOCAL])
    with pytest.raises(ProviderError, match="asked to wait"):  # the whole provider waits
        await provider.fetch_forecasts([BERGEN])
    await provider.aclose()


async def test_a_bad_shape_is_no_forecast_for_that_place_without_a_traceback(caplog):
    upstream = Upstream(ok(load_fixture(ODD)))
    provider = provider_with(upstream)
    assert await provider.fetch_forecasts([OSLO_LOCAL]) == [None]
    assert await provider.fetch_forecasts([OSLO_LOCAL]) == [None]  # held till Expires
    await provider.aclose()
    assert len(upstream.requests) == 1
    assert all(record.exc_info is None for record in caplog.records)
    for bad in (
        {"time": "noon", "data": {}},
        {"time": "2026-10-03T13:00:00Z"},
        {"time": "2026-10-03T09:00:00Z", "data": {}},
    ):
        broken = load_fixture(COMPACT)
        broken["properties"]["timeseries"][3] = bad  # read up to there
        f = await forecast_of(broken)
        assert len(f.get(HOURLY).items) == 3 and len(f.get(DAILY).items) == 1


async def test_forecast_new_data_at_is_expires_plus_a_spread_never_in_the_first_minute():
    full_hour = datetime(2026, 10, 3, 11, tzinfo=UTC).timestamp()
    provider = provider_with(Upstream(ok(expires=full_hour - 30)), rng=random.Random(3))
    assert provider.forecast_new_data_at(OSLO_LOCAL, Forecasts("met-norway")) is None
    [f] = await provider.fetch_forecasts([OSLO_LOCAL])
    times = [provider.forecast_new_data_at(OSLO_LOCAL, f) for _ in range(200)]
    await provider.aclose()
    assert all(full_hour - 30 + SPREAD[0] <= t <= full_hour - 30 + SPREAD[1] + 120 for t in times)
    assert all(t % 3600 >= 60 for t in times) and len(set(times)) == 200

    provider = provider_with(Upstream(ok(expires=None)))
    [f] = await provider.fetch_forecasts([OSLO_LOCAL])
    assert provider.forecast_new_data_at(OSLO_LOCAL, f) is None
    await provider.aclose()


def test_forecasts_are_made_and_cost_a_request_a_place():
    assert MetNorwayProvider.forecasts is True
    assert MetNorwayProvider.forecast_calls(3) == 3.0
