"""Shared by the baseline servers: a fake reading shaped like the product's.

The product's ``weather`` frame is ~376 bytes; the frames built from these dicts
are within a few bytes of that, so every design moves the same bytes.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any


def location_id(lat: float, lon: float) -> str:
    return f"{round(lat, 2):.2f},{round(lon, 2):.2f}"


def place(lat: float, lon: float) -> dict[str, Any]:
    lid = location_id(lat, lon)
    return {
        "id": lid,
        "name": lid.replace(",", ", "),
        "country": "XX",
        "region": "Nowhere",
        "lat": round(lat, 2),
        "lon": round(lon, 2),
        "timezone": "Etc/UTC",
    }


def reading(rng: random.Random, at: float | None = None) -> dict[str, Any]:
    """A made-up reading observed now, to the second; or at ``at``, to the millisecond (a
    --same-tick tick's own time: two late ticks in one second stay apart)."""
    return {
        "temperature": round(rng.uniform(-10, 35), 1),
        "feels_like": round(rng.uniform(-10, 35), 1),
        "humidity": rng.randint(10, 100),
        "wind_speed": round(rng.uniform(0, 40), 1),
        "wind_gusts": round(rng.uniform(0, 60), 1),
        "wind_direction": rng.randint(0, 359),
        "precipitation": 0.0,
        "cloud_cover": rng.randint(0, 100),
        "pressure": round(rng.uniform(990, 1030), 1),
        "weather_code": 3,
        "is_day": True,
        "summary": "Overcast",
        "observed_at": (
            datetime.fromtimestamp(int(time.time()), UTC).isoformat()
            if at is None
            else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z"),
        "source": "simulated",
        "stale": False,
    }


def parse_subscribe(msg: dict[str, Any]) -> tuple[float, float] | None:
    if "lat" in msg and "lon" in msg:
        return float(msg["lat"]), float(msg["lon"])
    return None


def station_place(sid: str) -> dict[str, Any]:
    return {
        "id": sid,
        "name": sid,
        "country": "XX",
        "region": "Nowhere",
        "lat": 0.0,
        "lon": 0.0,
        "timezone": "",
    }


def _number(params: dict[str, str], name: str) -> float | None:
    try:
        return float(params[name])
    except (KeyError, ValueError):
        return None


def station_reading(sid: str, params: dict[str, str]) -> dict[str, Any]:
    """A Weather Underground upload's reading in the product's units and wire shape (the
    conversions of weatherstream/uploads.py; no checks)."""
    tempf, wind, gust = (
        _number(params, "tempf"),
        _number(params, "windspeedmph"),
        _number(params, "windgustmph"),
    )
    baromin, rainin = _number(params, "baromin"), _number(params, "rainin")
    when = params.get("dateutc", "now").replace("+", " ")
    observed = datetime.now(UTC) if when == "now" else datetime.fromisoformat(when).replace(tzinfo=UTC)
    return {
        "temperature": None if tempf is None else round((tempf - 32.0) * 5.0 / 9.0, 2),
        "feels_like": None,
        "humidity": _number(params, "humidity"),
        "wind_speed": None if wind is None else round(wind * 1.609344, 2),
        "wind_gusts": None if gust is None else round(gust * 1.609344, 2),
        "wind_direction": _number(params, "winddir"),
        "precipitation": None if rainin is None else round(rainin * 25.4, 2),
        "cloud_cover": None,
        "pressure": None if baromin is None else round(baromin * 33.8638866667, 2),
        "weather_code": None,
        "is_day": True,
        "summary": None,
        "observed_at": observed.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "source": f"station:{sid}",
        "stale": False,
    }
