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


def reading(rng: random.Random) -> dict[str, Any]:
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
        "observed_at": datetime.fromtimestamp(int(time.time()), UTC).isoformat().replace("+00:00", "Z"),
        "source": "simulated",
        "stale": False,
    }


def parse_subscribe(msg: dict[str, Any]) -> tuple[float, float] | None:
    if "lat" in msg and "lon" in msg:
        return float(msg["lat"]), float(msg["lon"])
    return None
