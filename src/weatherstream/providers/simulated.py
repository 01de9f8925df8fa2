"""Deterministic, plausible weather for any coordinates: offline use, demos, tests, benchmarks.

Every reading is marked ``source="simulated"``. The same place and second always give the
same reading. Temperature follows the season (by latitude and day of year) and the sun
(solar time from longitude); smooth value noise adds weather on top.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..places import PlaceLike
from ..readings import Reading
from .base import WeatherProvider

_MASK = (1 << 64) - 1


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


def solar_elevation(lat: float, lon: float, ts: float) -> float:
    """The sun's elevation in degrees (a textbook approximation, good to a degree or two)."""
    day = ts / 86400.0
    doy = (day % 365.2422) + 1
    decl = -23.44 * math.cos(math.radians(360.0 / 365.0 * (doy + 10)))
    solar_hour = (ts % 86400.0) / 3600.0 + lon / 15.0
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    la, de = math.radians(lat), math.radians(decl)
    sin_el = math.sin(la) * math.sin(de) + math.cos(la) * math.cos(de) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


def simulate(lat: float, lon: float, ts: float, *, source: str = "simulated") -> Reading:
    seed = (round(lat * 100) << 20) ^ round(lon * 100)
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

    cloud = max(0.0, min(100.0, 50 + 60 * noise(seed + 2, ts, 3 * 3600) + 5 * gust))
    wetness = noise(seed + 3, ts, 2 * 3600)
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


class SimulatedProvider(WeatherProvider):
    name = "simulated"
    real = False
    simulates = True
    default_interval = 60.0
    min_interval = 1.0
    max_batch = 1000

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SimulatedProvider:
        return cls()

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        now = self.clock()
        return [simulate(p.latitude, p.longitude, now) for p in places]
