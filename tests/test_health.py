"""Readiness with a separate poller: ready only while some poller holds the lease."""

import asyncio

import pytest
from django.test import AsyncClient, override_settings

from weatherstream.conf import get_config
from weatherstream.election import LEASE_KEY
from weatherstream.engine import shutdown_engine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def engine_per_test():
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    await shutdown_engine()
    channel_layers.backends.clear()


async def test_ready_only_while_a_poller_holds_the_lease(redis_server, redis_client):
    config = {**get_config(), "POLLER": "off", "REDIS_URL": redis_server.url}
    with override_settings(WEATHERSTREAM=config):
        client = AsyncClient()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["database"] == "ok"
        assert "no poller holds the lease" in down.json()["checks"]["poller"]
        await redis_client.set(LEASE_KEY, "elsewhere:1:x", px=5000)
        up = await client.get("/readyz")
        assert up.status_code == 200 and up.json()["status"] == "ok"


async def test_not_ready_when_redis_is_unreachable():
    config = {**get_config(), "POLLER": "off", "REDIS_URL": "redis://127.0.0.1:1/0"}
    with override_settings(WEATHERSTREAM=config):
        down = await AsyncClient().get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["poller"] != "ok"


async def test_healthz_asks_nothing():
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_ready_through_the_pubsub_layer_for_requests_at_the_same_moment(redis_server, redis_client):
    config = {**get_config(), "POLLER": "off", "REDIS_URL": redis_server.url}
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [redis_server.url]},
    }
    with override_settings(WEATHERSTREAM=config, CHANNEL_LAYERS={"default": layer}):
        await redis_client.set(LEASE_KEY, "elsewhere:1:x", px=10000)
        client = AsyncClient()
        for _ in range(3):
            responses = await asyncio.wait_for(asyncio.gather(*(client.get("/readyz") for _ in range(4))), 10)
            assert [r.json()["checks"] for r in responses] == [
                {"database": "ok", "channel_layer": "ok", "poller": "ok"}
            ] * 4
            assert {r.status_code for r in responses} == {200}
