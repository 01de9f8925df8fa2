"""Deterministic, plausible weather for any coordinates: offline use, demos, tests, benchmarks.

Every reading is marked ``source="simulated"``. The same place and second always give the
same reading. Temperature follows the season (by latitude and day of year) and the sun
(solar time from longitude); smooth value noise adds weather on top.

Its forecast (:func:`forecast`) is the same weather ahead of time, so the readings that
come later are what it said: an hourly item is :func:`simulate` at the start of its hour
(72 hours from the current one), a daily item sums up the 24 hours of a local day (the
place's ``timezone``) for 7 days from today. Also marked ``source="simulated"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as day_start
from typing import Any

from ..forecasts import (
    DAILY,
    DAYS,
    HOURLY,
    HOURS_AHEAD,
    Forecast,
    Forecasts,
    daily_item,
    hourly_item,
    local_zone,
    most,
)
from ..places import PlaceLike
from ..readings import SIMULATED, Reading
from ..sun import solar_elevation, sunrise_sunset
from .base import WeatherProvider

_MASK = (1 << 64) - 1

FORECAST_HOURS = HOURS_AHEAD  # of an hourly forecast, from the current one
HOUR = 3600.0


def _hash(*values: int) -> float:
    """splitmix64 over the values -> a float in [-1, 1)."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (v & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 29
    return (x >> 11) / float(1 << 52) - 1.0


def noise(seed: int, t: float, period: float) -> float:
    """Smooth value noise in [-1, 1] with knots every ``period`` seconds."""
    k = math.floor(t / period)
    f = t / period - k
    f = f * f * (3.0 - 2.0 * f)
    a, b = _hash(seed, k), _hash(seed, k + 1)
    return a + (b - a) * f


def _seed(lat: float, lon: float) -> int:
    return (round(lat * 100) << 20) ^ round(lon * 100)


def _sky(seed: int, ts: float, gust: float) -> tuple[float, float]:
    """Cloud cover (%) and wetness (in [-1, 1]; rain above 0.35 under more than 60% cloud)."""
    cloud = max(0.0, min(100.0, 50 + 60 * noise(seed + 2, ts, 3 * 3600) + 5 * gust))
    return cloud, noise(seed + 3, ts, 2 * 3600)


def simulate(lat: float, lon: float, ts: float, *, source: str = "simulated") -> Reading:
    seed = _seed(lat, lon)
    doy = (ts / 86400.0) % 365.2422
    north = 1.0 if lat >= 0 else -1.0
    # Annual mean falls with latitude; the seasonal swing grows with it (peak late July north).
    mean = 27.0 - 0.0065 * lat * lat - 0.05 * abs(lat)
    season = 0.2 * abs(lat) * north * math.cos(2 * math.pi * (doy - 201) / 365.2422)
    solar_hour = ((ts % 86400.0) / 3600.0 + lon / 15.0) % 24.0
    diurnal = 4.5 * math.cos(2 * math.pi * (solar_hour - 15.0) / 24.0)
    weather = noise(seed, ts, 6 * 3600)  # fronts passing over hours
    gust = noise(seed + 1, ts, 90)  # small changes minute to minute
    flicker = noise(seed + 7, ts, 3)  # and second to second, as a live sensor shows
    temperature = mean + season + diurnal + 4.0 * weather + 0.4 * gust + 0.15 * flicker

    cloud, wetness = _sky(seed, ts, gust)
    precipitation = max(0.0, (wetness - 0.35) * 4.0) if cloud > 60 else 0.0
    humidity = max(5.0, min(100.0, 65 - 2.2 * diurnal + 0.25 * (cloud - 50) + 30 * precipitation))
    wind_speed = max(0.0, 12 + 10 * noise(seed + 4, ts, 4 * 3600) + 3 * gust + 1.5 * flicker)
    wind_gusts = wind_speed * (1.4 + 0.2 * abs(gust))
    wind_direction = (225 + 120 * noise(seed + 5, ts, 8 * 3600)) % 360
    pressure = 1013 + 14 * noise(seed + 6, ts, 12 * 3600) - 3 * precipitation
    feels_like = temperature - 0.12 * wind_speed * (1 if temperature < 15 else 0.2)
    if precipitation > 0:
        intense = 65 if precipitation > 2 else 63 if precipitation > 0.8 else 61
        code = intense + 10 if temperature < 0.5 else intense
    else:
        code = 0 if cloud < 15 else 1 if cloud < 40 else 2 if cloud < 75 else 3
    return Reading(
        observed_at=datetime.fromtimestamp(math.floor(ts), UTC),
        source=source,
        temperature=round(temperature, 1),
        feels_like=round(feels_like, 1),
        humidity=round(humidity),
        wind_speed=round(wind_speed, 1),
        wind_gusts=round(wind_gusts, 1),
        wind_direction=round(wind_direction),
        precipitation=round(precipitation, 1),
        cloud_cover=round(cloud),
        pressure=round(pressure, 1),
        weather_code=code,
        is_day=solar_elevation(lat, lon, ts) > -0.833,
    )


def precipitation_probability(lat: float, lon: float, ts: float) -> int:
    """The chance of rain (%) at ``ts``: how close the sky of :func:`simulate` is to rain
    (which falls where wetness passes 0.35 under more than 60% cloud: 100% there), going
    down linearly to 0% at a wetness of -0.35 or a cloud cover of 30%."""
    seed = _seed(lat, lon)
    cloud, wetness = _sky(seed, ts, noise(seed + 1, ts, 90))
    wet = min(1.0, max(0.0, (wetness + 0.35) / 0.7))
    overcast = min(1.0, max(0.0, (cloud - 30.0) / 30.0))
    return round(100.0 * wet * overcast)


def uv_index(elevation: float) -> float:
    """The clear-sky UV index with the sun at ``elevation`` degrees: 12.5 x sin(elevation)
    ^ 2.42 (Madronich's fit to the cosine of the zenith angle), 0 below the horizon."""
    if elevation <= 0:
        return 0.0
    return round(12.5 * float(math.sin(math.radians(elevation)) ** 2.42), 1)


class _Hours:
    """The simulated hours of one place, each computed once."""

    def __init__(self, lat: float, lon: float, source: str) -> None:
        self.lat, self.lon, self.source = lat, lon, source
        self.seen: dict[float, tuple[Reading, int]] = {}

    def at(self, ts: float) -> tuple[Reading, int]:
        hour = self.seen.get(ts)
        if hour is None:
            reading = simulate(self.lat, self.lon, ts, source=self.source)
            hour = self.seen[ts] = (reading, precipitation_probability(self.lat, self.lon, ts))
        return hour

    def item(self, ts: float) -> dict[str, Any]:
        r, probability = self.at(ts)
        return hourly_item(
            r.observed_at,
            source=self.source,
            temperature=r.temperature,
            feels_like=r.feels_like,
            precipitation=r.precipitation,
            precipitation_probability=probability,
            weather_code=r.weather_code,
            wind_speed=r.wind_speed,
            wind_gusts=r.wind_gusts,
            wind_direction=r.wind_direction,
            cloud_cover=r.cloud_cover,
            is_day=r.is_day,
        )

    def day(self, day: date, zone: tzinfo) -> dict[str, Any]:
        start = datetime.combine(day, day_start(), zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), day_start(), zone).timestamp()
        times = [start + i * HOUR for i in range(round((end - start) / HOUR))]
        hours = [self.at(t) for t in times]
        readings = [r for r, _ in hours]
        sunrise, sunset = sunrise_sunset(day, self.lat, self.lon)
        rain = [r.precipitation for r in readings if r.precipitation is not None]
        return daily_item(
            day,
            sunrise=sunrise,
            sunset=sunset,
            source=self.source,
            temperature_max=most(r.temperature for r in readings),
            temperature_min=most((r.temperature for r in readings), min),
            precipitation_sum=round(sum(rain), 1) if rain else None,
            precipitation_probability_max=max(p for _, p in hours),
            weather_code=most(r.weather_code for r in readings),
            wind_speed_max=most(r.wind_speed for r in readings),
            wind_gusts_max=most(r.wind_gusts for r in readings),
            uv_index_max=uv_index(max(solar_elevation(self.lat, self.lon, t) for t in times)),
        )


def forecast(place: PlaceLike, now: float, *, source: str = SIMULATED) -> Forecasts:
    """The simulated forecast for ``place`` at ``now``, issued at the start of the hour:
    hourly, :func:`simulate` at the start of each hour from the current one; daily, for
    each local day from today, the highest and lowest temperature, the precipitation
    summed, the highest weather code, wind and gusts, chance of rain of its hours, the UV
    index of its highest sun (:func:`uv_index`, clear sky) and its sunrise and sunset."""
    hours = _Hours(place.latitude, place.longitude, source)
    hour = math.floor(now / HOUR) * HOUR
    issued_at = datetime.fromtimestamp(hour, UTC)
    zone = local_zone(place)
    today = datetime.fromtimestamp(now, zone).date()
    hourly = tuple(hours.item(hour + i * HOUR) for i in range(FORECAST_HOURS))
    daily = tuple(hours.day(today + timedelta(days=i), zone) for i in range(DAYS))
    kinds = {
        HOURLY: Forecast(HOURLY, issued_at, source, hourly),
        DAILY: Forecast(DAILY, issued_at, source, daily),
    }
    return Forecasts(source, kinds)


class SimulatedProvider(WeatherProvider):
    name = "simulated"
    real = False
    simulates = True
    default_interval = 60.0
    min_interval = 1.0
    max_batch = 1000
    forecasts = True

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SimulatedProvider:
        return cls()

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        now = self.clock()
        return [simulate(p.latitude, p.longitude, now) for p in places]

    async def fetch_forecasts(self, places: Sequence[PlaceLike]) -> list[Forecasts | None]:
        now = self.clock()
        return [forecast(p, now) for p in places]

    def forecast_new_data_at(self, place: PlaceLike, forecasts: Forecasts) -> float | None:
        """The start of the hour after the one it was issued in."""
        issued = [f.issued_at.timestamp() for f in forecasts.kinds.values()]
        return max(issued) + HOUR if issued else None
