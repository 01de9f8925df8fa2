from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from weatherstream.forecasts import Forecast, daily_item, hourly_item
from weatherstream.readings import Reading

if TYPE_CHECKING:
    from weatherstream.geocoding import OfflineGeocoder
    from weatherstream.places import Place

FIXTURES = Path(__file__).parent / "fixtures"
TEST_DB = os.environ.get("WEATHERSTREAM_TEST_DB", "postgres")


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


def forecast_at(
    minute: int = 0, source: str = "open-meteo", kind: str = "hourly", value: float = 1.0
) -> Forecast:
    """A one-item forecast issued ``minute`` minutes after 10:30 UTC on 3 October 2026,
    its temperature (or day's maximum) ``value``."""
    t0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)
    item = (
        hourly_item(t0 + timedelta(hours=1), temperature=value)
        if kind == "hourly"
        else daily_item(t0.date(), temperature_max=value)
    )
    return Forecast(kind=kind, issued_at=t0 + timedelta(minutes=minute), source=source, items=(item,))


@pytest.fixture(scope="session", autouse=True)
def geonames_index():
    """Build the offline GeoNames index once (a few seconds) before any test needs it."""
    from weatherstream.geocoding import get_geocoder

    geocoder = get_geocoder()
    geocoder.load()
    return geocoder


# Geocoding tests (test_geocoding_*.py).


@pytest.fixture(scope="module")
def geocoder() -> OfflineGeocoder:
    """The process-wide geocoder over the real GeoNames data, loaded once."""
    from weatherstream.geocoding import get_geocoder

    instance = get_geocoder()
    instance.load()
    return instance


def _id(place: Place | None) -> str | None:
    return None if place is None else place.id


# Real Redis and PostgreSQL, started on loopback for the tests that need them. Missing
# binaries fail those tests (`make test` installs them); they are never skipped.


@pytest.fixture(scope="session")
def redis_server():
    from scripts.engines import Redis, missing

    assert "redis-server" not in missing(), "redis-server is not installed: run `make test`"
    folder = Path(tempfile.mkdtemp(prefix="weatherstream-redis-"))
    server = Redis(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    from scripts.engines import Postgres, missing

    assert "postgresql" not in missing(), "PostgreSQL is not installed: run `make test`"
    folder = Path(tempfile.mkdtemp(prefix="weatherstream-pg-", dir="/tmp"))
    folder.chmod(0o755)  # as root, the server runs as the postgres user
    server = Postgres(folder / "pg").start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, django_db_modify_db_settings_parallel_suffix):
    """The database the suite runs on: PostgreSQL (the production database, started on
    loopback like the other engines) unless WEATHERSTREAM_TEST_DB=sqlite, the smaller
    second pass `make test` runs on SQLite in memory."""
    import dj_database_url
    from django.conf import settings

    if TEST_DB == "sqlite":
        return
    assert TEST_DB == "postgres", f"WEATHERSTREAM_TEST_DB must be postgres or sqlite, not {TEST_DB!r}"
    server = request.getfixturevalue("postgres_server")
    wanted = dj_database_url.parse(server.url())
    database = settings.DATABASES["default"]  # in place: Django's connections share this dict
    for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"):
        database[key] = wanted[key]
    database["OPTIONS"] = {}
    from django.db import connections

    del connections["default"]  # a wrapper made before this is SQLite's: make it anew


@pytest.fixture(scope="session")
def django_db_keepdb(request):
    """On the suite's own PostgreSQL the test database goes with the server at the end; not
    dropping it spares a teardown that a worker thread's open connection would refuse."""
    return TEST_DB == "postgres" or request.config.getvalue("reuse_db")


@pytest.fixture
async def redis_client(redis_server):
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The product's server as `make run` starts it (simulated, one-second interval), per
    test module; tests may stop and start it again on the same port."""
    from tests.test_server import Server

    server = Server(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.stop()


async def stop_engine(deadline: float = 20.0) -> None:
    """Stop this loop's engine within ``deadline`` seconds; past it, fail and show what
    every task was waiting on (a hung stop is a bug, not something to wait out)."""
    import asyncio
    import io

    from weatherstream.engine import shutdown_engine

    stopping = asyncio.ensure_future(shutdown_engine())
    done, _ = await asyncio.wait({stopping}, timeout=deadline)  # not cancelled: it may not end
    if not done:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        raise AssertionError(f"the engine did not stop within {deadline} s:\n{stacks.getvalue()}")
    stopping.result()
