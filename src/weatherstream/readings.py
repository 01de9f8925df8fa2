"""The reading a provider returns, and its wire form (the protocol's ``weather`` object)."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# WMO weather interpretation codes (the WMO 4677 subset Open-Meteo uses, and 68, 69, 83,
# 84 for MET Norway's sleet: rain and snow mixed).
WMO_CODES: dict[int, str] = {
    0: "Clear sky",
    1: "Mainly clear",
    2: "Partly cloudy",
    3: "Overcast",
    45: "Fog",
    48: "Depositing rime fog",
    51: "Light drizzle",
    53: "Moderate drizzle",
    55: "Dense drizzle",
    56: "Light freezing drizzle",
    57: "Dense freezing drizzle",
    61: "Slight rain",
    63: "Moderate rain",
    65: "Heavy rain",
    66: "Light freezing rain",
    67: "Heavy freezing rain",
    68: "Slight rain or drizzle and snow",
    69: "Moderate or heavy rain or drizzle and snow",
    71: "Slight snow fall",
    73: "Moderate snow fall",
    75: "Heavy snow fall",
    77: "Snow grains",
    80: "Slight rain showers",
    81: "Moderate rain showers",
    82: "Violent rain showers",
    83: "Slight showers of rain and snow mixed",
    84: "Moderate or heavy showers of rain and snow mixed",
    85: "Slight snow showers",
    86: "Heavy snow showers",
    95: "Thunderstorm",
    96: "Thunderstorm with slight hail",
    99: "Thunderstorm with heavy hail",
}

# Fields of Reading that carry a measured value, in wire order.
MEASUREMENTS = (
    "temperature",
    "feels_like",
    "humidity",
    "wind_speed",
    "wind_gusts",
    "wind_direction",
    "precipitation",
    "cloud_cover",
    "pressure",
    "weather_code",
    "is_day",
)

# Values outside these bounds are not weather but a fault: every provider drops them (None).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "temperature": (-100.0, 70.0),
    "feels_like": (-110.0, 80.0),
    "humidity": (0.0, 100.0),
    "wind_speed": (0.0, 500.0),
    "wind_gusts": (0.0, 600.0),
    "wind_direction": (0.0, 360.0),
    "precipitation": (0.0, 500.0),
    "cloud_cover": (0.0, 100.0),
    "pressure": (850.0, 1100.0),
    "weather_code": (0.0, 99.0),
    # forecasts only (forecasts.CHECKED_AS)
    "precipitation_probability": (0.0, 100.0),
    "precipitation_sum": (0.0, 2000.0),
    "uv_index": (0.0, 25.0),
}


def plausible(field: str, value: float) -> bool:
    """Whether ``value`` (in our units, see :class:`Reading`) can be weather for ``field``:
    finite, and within :data:`PLAUSIBLE` where the field has bounds."""
    if not math.isfinite(value):
        return False
    bounds = PLAUSIBLE.get(field)
    return bounds is None or bounds[0] <= value <= bounds[1]


# The source of readings that are made up, never observed (providers/simulated.py).
SIMULATED = "simulated"


def is_real(source: str) -> bool:
    """A reading from a real source (a weather service, a station), not a simulated one."""
    return source != SIMULATED


def supersedes(new: Reading, held: Reading | None) -> bool:
    """Whether ``new`` replaces ``held`` as a place's latest reading.

    A real reading always beats a simulated one, whatever their times; between two of
    the same kind the later one wins, and a fresh one replaces a stale copy of itself.
    """
    if held is None:
        return True
    if new.real != held.real:
        return new.real
    if new.observed_at != held.observed_at:
        return new.observed_at > held.observed_at
    return held.stale and not new.stale


def iso(when: datetime) -> str:
    """An aware datetime as the protocol writes times: ISO 8601 in UTC, "Z"."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: Any) -> datetime:
    """The inverse of :func:`iso` (ValueError for anything else)."""
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"a time without a zone: {text!r}")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 in a zone east of UTC
        raise ValueError(f"a time out of range: {text!r}") from None


def summary_for(code: int | None) -> str | None:
    if code is None:
        return None
    return WMO_CODES.get(code, f"Weather code {code}")


@dataclass(frozen=True, slots=True)
class Reading:
    """Current weather at one place. Units: °C, %, km/h, degrees, mm, hPa (sea level)."""

    observed_at: datetime  # aware, UTC
    source: str
    temperature: float | None = None
    feels_like: float | None = None
    humidity: float | None = None
    wind_speed: float | None = None
    wind_gusts: float | None = None
    wind_direction: float | None = None
    precipitation: float | None = None
    cloud_cover: float | None = None
    pressure: float | None = None
    weather_code: int | None = None
    is_day: bool | None = None
    stale: bool = False

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError("observed_at must be timezone-aware")

    @property
    def real(self) -> bool:
        return is_real(self.source)

    def as_stale(self) -> Reading:
        return dataclasses.replace(self, stale=True)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {name: getattr(self, name) for name in MEASUREMENTS}
        wire["summary"] = summary_for(self.weather_code)
        wire["observed_at"] = iso(self.observed_at)
        wire["source"] = self.source
        wire["stale"] = self.stale
        if self.stale:  # how old the last good value is, in seconds, when this was sent
            wire["age"] = max(0, round(time.time() - self.observed_at.timestamp()))
        return wire

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Reading:
        """The inverse of :meth:`to_wire` (for updates that crossed the channel layer)."""
        observed_at = parse_iso(str(data["observed_at"]))
        return cls(
            observed_at=observed_at,
            source=str(data["source"]),
            stale=bool(data.get("stale", False)),
            **{name: data.get(name) for name in MEASUREMENTS},
        )

    @classmethod
    def from_observation(cls, obs: Any) -> Reading:
        return cls(
            observed_at=obs.observed_at.astimezone(UTC),
            source=obs.source,
            **{name: getattr(obs, name) for name in MEASUREMENTS},
        )
