"""The poller lease and the shared fetch schedule, against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import override_settings

from weatherstream.election import RedisLease, redis_url_from_settings
from weatherstream.poller import Poller
from weatherstream.providers.simulated import SimulatedProvider


@pytest.fixture
async def leases(redis_server, redis_client):
    made = []

    def make(ttl=0.6):
        lease = RedisLease(redis_server.url, ttl=ttl)
        made.append(lease)
        return lease

    yield make
    for lease in made:
        await lease.aclose()


async def test_one_holder_at_a_time(leases):
    a, b = leases(), leases()
    assert await a.take() and a.held()
    assert not await b.take() and not b.held()
    assert await a.take(), "the holder renews"
    await a.release()
    assert not a.held()
    assert await b.take()


async def test_a_dead_holder_is_replaced_once_its_lease_expires(leases):
    a, b = leases(ttl=0.5), leases(ttl=0.5)
    assert await a.take()
    started = time.monotonic()
    while not await b.take():  # a stops renewing, as if killed
        await asyncio.sleep(0.05)
    waited = time.monotonic() - started
    assert 0.3 < waited < 1.5  # the TTL (0.5 s), plus polling and a loaded machine
    assert not await a.take(), "the old holder does not get it back"
    assert not a.held()


async def test_held_turns_false_before_the_key_expires(leases):
    a = leases(ttl=0.5)
    assert await a.take()
    await asyncio.sleep(0.46)
    assert not a.held()


async def test_only_the_holder_claims_fetch_slots(leases):
    a, b = leases(), leases()
    assert await a.take()
    assert await b.claim(["x"], 10.0) is None
    assert await a.claim(["x", "y"], 10.0) == {}
    skip = await a.claim(["x", "y", "z"], 10.0)
    assert set(skip) == {"x", "y"} and all(9.0 < s <= 10.0 for s in skip.values())


async def test_a_new_holder_inherits_the_schedule(leases):
    a, b = leases(ttl=0.5), leases(ttl=0.5)
    assert await a.take()
    assert await a.claim(["x"], 5.0) == {}
    await a.release()
    assert await b.take()
    skip = await b.claim(["x", "y"], 5.0)
    assert list(skip) == ["x"] and 4.0 < skip["x"] <= 5.0


async def test_reschedule_brings_a_retry_forward(leases):
    a = leases()
    assert await a.take()
    assert await a.claim(["x"], 60.0) == {}
    await a.reschedule({"x": 0.1})
    await asyncio.sleep(0.15)
    assert await a.claim(["x"], 60.0) == {}


async def test_forecast_slots_are_apart_from_the_readings_slots(leases, redis_client):
    a = leases()
    assert await a.take()
    forecasts = a.forecasts()
    assert await a.claim(["x"], 60.0) == {}  # x's reading slot
    assert await forecasts.claim(["x", "y"], 600.0) == {}, "its forecast slot is not claimed"
    skip = await forecasts.claim(["x", "y", "z"], 600.0)
    assert set(skip) == {"x", "y"} and all(599.0 < s <= 600.0 for s in skip.values())
    skip = await a.claim(["x", "y"], 60.0)  # y's forecast slot is not its reading slot
    assert list(skip) == ["x"] and 59.0 < skip["x"] <= 60.0
    keys = sorted(k.decode() for k in await redis_client.keys("weatherstream:poller:*"))
    assert keys == [
        "weatherstream:poller:due:x",
        "weatherstream:poller:due:y",
        "weatherstream:poller:forecast-due:x",
        "weatherstream:poller:forecast-due:y",
        "weatherstream:poller:forecast-due:z",
        "weatherstream:poller:leader",
    ]


async def test_forecast_slots_are_rescheduled_apart_from_the_readings_slots(leases):
    a = leases()
    assert await a.take()
    forecasts = a.forecasts()
    assert await a.claim(["x"], 60.0) == {}
    assert await forecasts.claim(["x"], 60.0) == {}
    await forecasts.reschedule({"x": 0.1})  # the forecast is due again soon, the reading is not
    await asyncio.sleep(0.15)
    assert await forecasts.claim(["x"], 60.0) == {}
    assert list(await a.claim(["x"], 60.0)) == ["x"]
    await a.reschedule({"x": 0.1})  # and the other way round
    await asyncio.sleep(0.15)
    assert await a.claim(["x"], 60.0) == {}
    assert list(await forecasts.claim(["x"], 60.0)) == ["x"]
    await forecasts.reschedule({})  # nothing to do


async def test_only_the_holder_claims_forecast_slots_and_a_new_holder_inherits_them(leases):
    a, b = leases(ttl=0.5), leases(ttl=0.5)
    assert await a.take()
    assert await b.forecasts().claim(["x"], 10.0) is None
    assert await a.forecasts().claim(["x"], 10.0) == {}
    await a.release()
    assert await a.forecasts().claim(["y"], 10.0) is None and not a.held()
    assert await b.take()
    skip = await b.forecasts().claim(["x", "y"], 10.0)
    assert list(skip) == ["x"] and 9.0 < skip["x"] <= 10.0


async def test_without_redis_nobody_holds_the_lease(redis_server, caplog):
    lease = RedisLease("redis://127.0.0.1:1/0", ttl=1.0, key="test:lease:unreachable")  # port 1: nobody
    with caplog.at_level("INFO", logger="weatherstream.election"):
        assert not await lease.take() and not lease.held()
        assert not await lease.take()
        unreachable, lease.redis = lease.redis, RedisLease(redis_server.url, ttl=1.0).redis
        await unreachable.aclose()  # (as if Redis were back)
        assert await lease.take() and lease.held()
    # A standby that cannot reach Redis says so once, and again when Redis answers.
    failed = [r for r in caplog.records if "taking the poller lease failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelname == "WARNING"
    assert "Connect" in failed[0].getMessage() or "refused" in failed[0].getMessage()
    assert any("Redis answers the poller lease again" in r.getMessage() for r in caplog.records)
    await lease.aclose()


class Place:
    def __init__(self, pid, lat=52.5, lon=13.4):
        self.id, self.latitude, self.longitude = pid, lat, lon


class CountingProvider(SimulatedProvider):
    def __init__(self, log, name):
        super().__init__()
        self.log, self.who = log, name

    async def fetch(self, places):
        self.log.extend((time.monotonic(), self.who, p.id) for p in places)
        return await super().fetch(places)


async def test_handover_fetches_no_location_twice_in_one_interval(leases):
    log = []
    places = [Place("berlin"), Place("oslo", 59.9, 10.7)]
    interval = 1.5

    async def deliver(results, error):
        pass

    def poller(name, lease):
        return Poller(
            provider=CountingProvider(log, name),
            interval=interval,
            demand=lambda: places,
            deliver=deliver,
            schedule=lease,
        )

    async def hold(lease):  # what Engine._lead does while a poller is alive
        while True:
            await lease.take()
            await asyncio.sleep(lease.ttl / 3)

    a_lease, b_lease = leases(ttl=0.3), leases(ttl=0.3)
    assert await a_lease.take()
    a = [asyncio.create_task(hold(a_lease)), asyncio.create_task(poller("a", a_lease).run())]
    while not log:  # a's first fetch
        await asyncio.sleep(0.02)
    for task in a:  # a dies right after its first fetch
        task.cancel()
    while not await b_lease.take():
        await asyncio.sleep(0.1)
    b = [asyncio.create_task(hold(b_lease)), asyncio.create_task(poller("b", b_lease).run())]
    await asyncio.sleep(2 * interval)
    for task in b:
        task.cancel()
    await asyncio.gather(*a, *b, return_exceptions=True)
    for pid in ("berlin", "oslo"):
        times = [(t, who) for t, who, p in log if p == pid]
        assert [who for _, who in times][:2] == ["a", "b"], times
        gaps = [later[0] - earlier[0] for earlier, later in zip(times, times[1:])]
        assert gaps and min(gaps) >= interval - 0.1, times


def test_redis_url_comes_from_the_channel_layer():
    layer = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}
    with override_settings(CHANNEL_LAYERS={"default": {**layer, "CONFIG": {"hosts": ["redis://r:1/2"]}}}):
        assert redis_url_from_settings() == "redis://r:1/2"
    with override_settings(CHANNEL_LAYERS={"default": {**layer, "CONFIG": {"hosts": [("r", 7)]}}}):
        assert redis_url_from_settings() == "redis://r:7"
    assert redis_url_from_settings() is None  # the tests' in-memory layer
