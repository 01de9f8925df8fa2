from datetime import UTC, date, datetime

from weatherstream.forecasts import DAILY, HOURLY, HOURLY_FIELDS, HOURS, Forecasts
from weatherstream.places import Place
from weatherstream.providers.simulated import (
    FORECAST_HOURS,
    SimulatedProvider,
    precipitation_probability,
    simulate,
    solar_elevation,
    uv_index,
)
from weatherstream.readings import SIMULATED, WMO_CODES
from weatherstream.sun import sunrise_sunset

BERLIN = (52.52, 13.405)
SYDNEY = (-33.87, 151.21)


def ts(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def test_deterministic_and_marked_simulated():
    a = simulate(*BERLIN, ts(2026, 7, 1, 12))
    b = simulate(*BERLIN, ts(2026, 7, 1, 12))
    assert a == b
    assert a.source == "simulated"
    assert a.observed_at == datetime(2026, 7, 1, 12, tzinfo=UTC)


def test_seasons_follow_the_hemisphere():
    def mean(lat, lon, month):
        return sum(
            simulate(lat, lon, ts(2026, month, d, h)).temperature
            for d in range(1, 29)
            for h in range(0, 24, 3)
        ) / (28 * 8)

    assert mean(*BERLIN, 7) > mean(*BERLIN, 1) + 10
    assert mean(*SYDNEY, 1) > mean(*SYDNEY, 7) + 5
    assert mean(1.3, 103.8, 1) > mean(*BERLIN, 1) + 20  # the tropics are warm


def test_afternoon_warmer_than_dawn_in_solar_time():
    afternoon = [simulate(*BERLIN, ts(2026, 5, d, 14)).temperature for d in range(1, 29)]
    dawn = [simulate(*BERLIN, ts(2026, 5, d, 3)).temperature for d in range(1, 29)]
    assert sum(afternoon) / 28 > sum(dawn) / 28 + 5


def test_is_day_follows_the_sun():
    assert simulate(*BERLIN, ts(2026, 6, 21, 11)).is_day is True
    assert simulate(*BERLIN, ts(2026, 6, 21, 23)).is_day is False
    assert solar_elevation(0, 0, ts(2026, 3, 20, 12)) > 80


def test_values_plausible_and_smooth():
    prev = None
    for second in range(0, 7200, 7):
        r = simulate(*BERLIN, ts(2026, 11, 24, 6) + second)
        assert -40 < r.temperature < 45
        assert 0 <= r.humidity <= 100 and 0 <= r.cloud_cover <= 100
        assert 0 <= r.wind_direction < 360 and r.wind_gusts >= r.wind_speed >= 0
        assert 950 < r.pressure < 1060
        assert r.weather_code in {0, 1, 2, 3, 61, 63, 65, 71, 73, 75}
        if prev is not None:
            assert abs(r.temperature - prev.temperature) < 0.5  # no jumps between seconds
        prev = r


async def test_provider_uses_its_clock_for_every_place():
    provider = SimulatedProvider(clock=lambda: ts(2026, 1, 1, 0))
    readings = await provider.fetch([Place("a", *BERLIN), Place("b", *SYDNEY)])
    assert [r.observed_at for r in readings] == [datetime(2026, 1, 1, tzinfo=UTC)] * 2
    assert readings[0].temperature != readings[1].temperature


# Forecasts.

NOW = ts(2026, 10, 3, 10, 20, 7)
BERLIN_PLACE = Place("2950159", *BERLIN, timezone="Europe/Berlin")
AUCKLAND = Place("2193733", -36.85, 174.76, timezone="Pacific/Auckland")


async def forecasts_at(now, *places):
    return await SimulatedProvider(clock=lambda: now).fetch_forecasts(list(places))


async def test_the_forecast_is_deterministic_and_marked_simulated():
    [a], [b] = await forecasts_at(NOW, BERLIN_PLACE), await forecasts_at(NOW, BERLIN_PLACE)
    assert a == b
    assert a.source == SIMULATED and not a.real
    assert SimulatedProvider.forecasts is True
    for kind in (HOURLY, DAILY):
        assert a.get(kind).source == SIMULATED
        assert a.get(kind).issued_at == datetime(2026, 10, 3, 10, tzinfo=UTC)  # the start of the hour
    [same_hour] = await forecasts_at(NOW + 1500, BERLIN_PLACE)
    assert same_hour == a  # the same all hour


async def test_an_hour_of_the_forecast_is_the_reading_of_that_hour():
    [f] = await forecasts_at(NOW, BERLIN_PLACE)
    hours = f.get(HOURLY).items
    assert len(hours) == FORECAST_HOURS == 72 >= HOURS
    assert [h["time"] for h in hours[:2]] == ["2026-10-03T10:00:00Z", "2026-10-03T11:00:00Z"]
    assert hours[-1]["time"] == "2026-10-06T09:00:00Z"
    for item, hour in ((hours[0], ts(2026, 10, 3, 10)), (hours[30], ts(2026, 10, 4, 16))):
        reading = simulate(*BERLIN, hour).to_wire()
        assert item["time"] == reading["observed_at"]
        for name in HOURLY_FIELDS[1:]:
            if name != "precipitation_probability":
                assert item[name] == reading[name], name
        assert item["precipitation_probability"] == precipitation_probability(*BERLIN, hour)


def test_the_chance_of_rain_is_certain_where_it_rains_and_follows_the_sky():
    rainy = dry = 0
    for hour in range(24 * 60):
        t = ts(2026, 10, 1) + hour * 3600
        reading = simulate(*BERLIN, t)
        chance = precipitation_probability(*BERLIN, t)
        assert 0 <= chance <= 100
        if reading.precipitation > 0:
            rainy += 1
            assert chance == 100
        if reading.cloud_cover <= 25:
            dry += 1
            assert chance == 0
    assert rainy > 10 and dry > 10


async def test_a_day_of_the_forecast_sums_up_the_hours_of_the_local_day():
    [f] = await forecasts_at(NOW, BERLIN_PLACE)
    days = f.get(DAILY).items
    assert [d["date"] for d in days] == [f"2026-10-0{n}" for n in range(3, 10)]
    start = ts(2026, 10, 4) - 2 * 3600  # midnight in Berlin (CEST)
    hours = [start + i * 3600 for i in range(24)]
    readings = [simulate(*BERLIN, t) for t in hours]
    rise, set_ = sunrise_sunset(date(2026, 10, 4), *BERLIN)
    assert days[1] == {
        "date": "2026-10-04",
        "temperature_max": max(r.temperature for r in readings),
        "temperature_min": min(r.temperature for r in readings),
        "precipitation_sum": round(sum(r.precipitation for r in readings), 1),
        "precipitation_probability_max": float(max(precipitation_probability(*BERLIN, t) for t in hours)),
        "weather_code": max(r.weather_code for r in readings),
        "summary": WMO_CODES[max(r.weather_code for r in readings)],
        "wind_speed_max": max(r.wind_speed for r in readings),
        "wind_gusts_max": max(r.wind_gusts for r in readings),
        "sunrise": rise.isoformat().replace("+00:00", "Z"),
        "sunset": set_.isoformat().replace("+00:00", "Z"),
        "uv_index_max": uv_index(max(solar_elevation(*BERLIN, t) for t in hours)),
    }
    assert 2.5 < days[1]["uv_index_max"] < 4.5  # early October at 52.5 degrees north


async def test_local_days_follow_the_places_zone():
    [auckland] = await forecasts_at(ts(2026, 10, 3, 13), AUCKLAND)  # already the 4th there (+13)
    assert auckland.get(DAILY).items[0]["date"] == "2026-10-04"
    [utc] = await forecasts_at(ts(2026, 10, 3, 13), Place("p", -36.85, 174.76))
    assert utc.get(DAILY).items[0]["date"] == "2026-10-03"
    assert auckland.get(HOURLY) == utc.get(HOURLY)  # hours are the same, in UTC


def test_uv_index_follows_the_sun():
    assert uv_index(90) == 12.5 and uv_index(0) == 0.0 and uv_index(-10) == 0.0
    assert uv_index(30) < uv_index(60) < uv_index(90)
    assert (uv_index(30), uv_index(60)) == (2.3, 8.8)  # 12.5 x sin(elevation) ^ 2.42


async def test_a_new_forecast_each_hour():
    provider = SimulatedProvider(clock=lambda: NOW)
    [f] = await provider.fetch_forecasts([BERLIN_PLACE])
    assert provider.forecast_new_data_at(BERLIN_PLACE, f) == ts(2026, 10, 3, 11)
    assert provider.forecast_new_data_at(BERLIN_PLACE, Forecasts(SIMULATED)) is None
    [next_hour] = await forecasts_at(ts(2026, 10, 3, 11), BERLIN_PLACE)
    assert next_hour.get(HOURLY).items[:71] == f.get(HOURLY).items[1:]  # the same weather, an hour on
