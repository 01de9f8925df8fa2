from __future__ import annotations

import json
import shutil
import tempfile
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
