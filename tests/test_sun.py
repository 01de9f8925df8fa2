import math
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import load_fixture
from weatherstream import sun
from weatherstream.providers import simulated
from weatherstream.sun import HORIZON, solar_elevation, sunrise_sunset

ENSCHEDE = (52.276, 6.8729997)  # the grid cell of the Open-Meteo capture
LONGYEARBYEN = (78.2232, 15.6267)


def ts(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def test_sunrise_and_sunset_agree_with_open_meteos_to_the_minute():
    # The real capture's daily sunrise/sunset (local times, utc_offset_seconds 7200).
    daily = load_fixture("open-meteo/forecast_hourly_daily.json")["daily"]
    for day, rise, set_ in zip(daily["time"], daily["sunrise"], daily["sunset"]):
        theirs = [datetime.fromisoformat(t).replace(tzinfo=UTC) - timedelta(hours=2) for t in (rise, set_)]
        ours = sunrise_sunset(date.fromisoformat(day), *ENSCHEDE)
        for a, b in zip(ours, theirs):
            assert abs((a - b).total_seconds()) < 90, (day, a, b)


def test_times_are_aware_utc_to_the_second_around_the_local_noon():
    rise, set_ = sunrise_sunset(date(2026, 10, 3), *ENSCHEDE)
    assert rise == datetime(2026, 10, 3, 5, 36, 46, tzinfo=UTC)
    assert set_ == datetime(2026, 10, 3, 17, 5, 23, tzinfo=UTC)
    # Sydney (UTC+10): the sunrise of 3 October local is on 2 October in UTC.
    rise, set_ = sunrise_sunset(date(2026, 10, 3), -33.87, 151.21)
    assert rise.date() == date(2026, 10, 2) and (rise + timedelta(hours=10)).date() == date(2026, 10, 3)
    assert rise < set_ and set_ - rise < timedelta(hours=13)


def test_the_equinox_day_is_longer_than_12_hours_by_refraction_and_the_suns_radius():
    rise, set_ = sunrise_sunset(date(2026, 3, 20), 0.0, 0.0)
    assert timedelta(hours=12, minutes=5) < set_ - rise < timedelta(hours=12, minutes=9)


def noaa_elevation(lat, lon, when):
    """The sun's elevation by NOAA's formulas (declination, equation of time, hour angle)."""
    declination, equation = sun._declination_and_equation_of_time(when.timestamp())
    minutes = when.hour * 60 + when.minute + when.second / 60
    hour_angle = math.radians((minutes + equation + 4 * lon) / 4 - 180)
    la, de = math.radians(lat), math.radians(declination)
    return math.degrees(
        math.asin(math.sin(la) * math.sin(de) + math.cos(la) * math.cos(de) * math.cos(hour_angle))
    )


@pytest.mark.parametrize(
    ("day", "lat", "lon"),
    [
        (date(2026, 3, 20), 0.0, 0.0),
        (date(2026, 10, 3), *ENSCHEDE),
        (date(2026, 1, 15), -33.87, 151.21),
        (date(2026, 7, 1), 64.1, -21.9),
    ],
)
def test_the_suns_centre_is_0_833_degrees_below_the_horizon_then(day, lat, lon):
    assert HORIZON == 0.833
    for when in sunrise_sunset(day, lat, lon):
        assert noaa_elevation(lat, lon, when) == pytest.approx(-HORIZON, abs=0.01)


@pytest.mark.parametrize("day", [date(2026, 6, 21), date(2026, 12, 21)])
def test_polar_day_and_night_have_neither(day):
    assert sunrise_sunset(day, *LONGYEARBYEN) == (None, None)


def test_polar_day_and_night_are_what_the_elevation_says():
    noon_june = solar_elevation(*LONGYEARBYEN, ts(2026, 6, 21, 11))
    midnight_june = solar_elevation(*LONGYEARBYEN, ts(2026, 6, 21, 23))
    noon_december = solar_elevation(*LONGYEARBYEN, ts(2026, 12, 21, 11))
    assert noon_june > midnight_june > 0 > -HORIZON > noon_december


def test_days_lengthen_towards_june_in_the_north_and_shorten_in_the_south():
    def length(day, lat, lon):
        rise, set_ = sunrise_sunset(day, lat, lon)
        return set_ - rise

    assert length(date(2026, 6, 1), *ENSCHEDE) > length(date(2026, 3, 1), *ENSCHEDE) + timedelta(hours=3)
    assert length(date(2026, 6, 1), -33.87, 151.21) < length(date(2026, 3, 1), -33.87, 151.21)


def test_solar_elevation_has_one_home():
    assert simulated.solar_elevation is sun.solar_elevation
    assert solar_elevation(0, 0, ts(2026, 3, 20, 12)) > 80
    assert solar_elevation(52.52, 13.4, ts(2026, 6, 21, 23)) < 0
