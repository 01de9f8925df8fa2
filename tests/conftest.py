from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from weatherstream.readings import Reading

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def reading() -> Reading:
    return Reading(
        observed_at=datetime(2026, 10, 3, 10, 30, tzinfo=UTC),
        source="open-meteo",
        temperature=17.7,
        feels_like=17.6,
        humidity=66,
        wind_speed=3.6,
        wind_gusts=11.9,
        wind_direction=259,
        precipitation=0.0,
        cloud_cover=73,
        pressure=1030.4,
        weather_code=2,
        is_day=True,
    )


@pytest.fixture(scope="session", autouse=True)
def geonames_index():
    """Build the offline GeoNames index once (a few seconds) before any test needs it."""
    from weatherstream.geocoding import get_geocoder

    geocoder = get_geocoder()
    geocoder.load()
    return geocoder
