"""The channel layer's readiness check against a real redis-server, with channels_redis's
pub/sub layer (the one deployments use) and its list-based layer: probes that do not
depend on each other, answer within TIMEOUT, clean up after themselves, and say "ok" again
a few seconds after Redis restarts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from dataclasses import dataclass
from functools import partial

import pytest
import redis.asyncio as redis
from channels.layers import channel_layers, get_channel_layer
from django.test import override_settings

from scripts.engines import Redis
from weatherstream import health

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
CORE = "channels_redis.core.RedisChannelLayer"
LAYERS = [pytest.param(PUBSUB, id="pubsub"), pytest.param(CORE, id="core")]
SLACK = 0.5  # seconds a loaded machine may add to TIMEOUT


@contextlib.asynccontextmanager
async def layer_on(url: str, backend: str):
    channel_layers.backends.clear()
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": {"hosts": [url]}}}):
        layer = get_channel_layer()
        try:
            yield layer
        finally:
            await until(lambda: not health._tasks, 2 * health.TIMEOUT + SLACK, "the probes' tasks end")
            await layer.flush()
            # A socket that redis-py orphaned (two tasks reconnecting one PubSub connection
            # at once after a restart) is closed when collected: here, not at a random later
            # moment (CPython 3.11.7 can fail a parse that such a finalizer interrupts).
            gc.collect()
    channel_layers.backends.clear()


async def until(condition, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within:g}s"
        await asyncio.sleep(0.02)


async def check() -> str:
    return await health.outcome(health.channel_layer())


async def probe_channels(client: redis.Redis) -> list[bytes]:
    return await client.pubsub_channels(f"*{health.PROBE_PREFIX}*")


def in_process(layer) -> list[str]:
    """The probe channels the layer still keeps in this process."""
    if hasattr(layer, "receive_buffer"):  # the list-based layer
        names = list(layer.receive_buffer)
    else:
        loop_layer = layer._get_layer()
        names = [*loop_layer.channels]
        for shard in loop_layer._shards:  # and what redis-py re-subscribes after a reconnect
            names += [*shard._subscribed_to, *(n.decode() for n in getattr(shard._pubsub, "channels", ()))]
    return [n for n in names if health.PROBE_PREFIX in n]


async def at_rest(layer, client: redis.Redis) -> None:
    """No probe channel left, in Redis or in the layer, once the probes have ended."""
    await until(lambda: not health._tasks, 2 * health.TIMEOUT + SLACK, "the probes' tasks end")
    deadline = time.monotonic() + 3
    while await probe_channels(client) or in_process(layer):
        assert time.monotonic() < deadline, (await probe_channels(client), in_process(layer))
        await asyncio.sleep(0.05)


@pytest.fixture
async def shared(redis_server, redis_client):
    yield redis_server.url, redis_client


@pytest.mark.parametrize("backend", LAYERS)
async def test_probes_at_the_same_moment_each_pass(shared, backend):
    url, client = shared
    async with asyncio.timeout(30), layer_on(url, backend) as layer:
        for _ in range(5):
            assert await asyncio.gather(check(), check()) == ["ok", "ok"]
            assert await asyncio.gather(*(check() for _ in range(20))) == ["ok"] * 20
        await at_rest(layer, client)


@pytest.mark.parametrize("backend", LAYERS)
async def test_subscriptions_do_not_grow_with_the_number_of_probes(shared, backend):
    url, client = shared
    async with asyncio.timeout(30), layer_on(url, backend) as layer:
        for probes in (1, 10, 50):
            for _ in range(probes):
                assert await check() == "ok"
            await at_rest(layer, client)
        during = []
        probing = asyncio.gather(*(check() for _ in range(10)))
        while not probing.done():
            during.append(len(await probe_channels(client)))
        assert await probing == ["ok"] * 10
        assert max(during) <= 10
        await at_rest(layer, client)


@pytest.mark.parametrize("backend", LAYERS)
async def test_a_probe_cancelled_midway_does_not_fail_the_next(shared, backend):
    url, client = shared
    async with asyncio.timeout(60), layer_on(url, backend) as layer:
        # cancelled at each step of its round trip: after n turns of the event loop, then
        # after a while (a round trip takes from a millisecond to the pub/sub layer's 0.1 s
        # poll when nothing else is subscribed)
        ticks = [(n, 0.0) for n in range(40)]
        delays = [(1, d / 1000) for d in (0.5, 1, 2, 3, 5, 10, 20, 50, 80)]
        for turns, delay in ticks + delays:
            cancelled = asyncio.ensure_future(health.channel_layer())
            for _ in range(turns):
                await asyncio.sleep(0)
            await asyncio.sleep(delay)
            cancelled.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cancelled
            assert await check() == "ok", f"after a probe cancelled at {turns} turns + {delay}s"
        await at_rest(layer, client)


@pytest.mark.parametrize("backend", LAYERS)
async def test_a_probe_that_timed_out_does_not_fail_the_next(shared, backend):
    """Redis holds every PUBLISH (and write) for a while: each probe in that while answers
    "no answer" within TIMEOUT; the first probe after it passes."""
    url, client = shared
    async with asyncio.timeout(30), layer_on(url, backend) as layer:
        assert await check() == "ok"
        await client.execute_command("CLIENT", "PAUSE", int((health.TIMEOUT + 1) * 1000), "WRITE")
        try:
            started = time.monotonic()
            results = await asyncio.gather(check(), check())
            took = time.monotonic() - started
        finally:
            await client.execute_command("CLIENT", "UNPAUSE")
        assert results == [f"no answer within {health.TIMEOUT:g}s"] * 2
        assert took <= health.TIMEOUT + SLACK
        for _ in range(5):
            assert await check() == "ok"
        await at_rest(layer, client)


async def test_a_probe_channel_that_redis_py_subscribed_again_is_forgotten(shared):
    """redis-py re-subscribes, on each reconnect, every channel whose UNSUBSCRIBE it has not
    seen confirmed (one sent as Redis went away, or the one that reconnected): channels the
    layer no longer knows. The next probe unsubscribes such a probe channel."""
    url, client = shared
    async with asyncio.timeout(30), layer_on(url, PUBSUB) as layer:
        assert await check() == "ok"
        loop_layer = layer._get_layer()
        shard = loop_layer._shards[0]
        stray = f"{loop_layer.prefix}{health.PROBE_PREFIX}{'0' * 12}{'1' * 32}"
        async with shard._lock:  # as the reconnect does, behind the layer's back
            await shard._pubsub.subscribe(stray)
        await until(lambda: stray.encode() in shard._pubsub.channels, 2, "subscribed")
        assert await probe_channels(client) == [stray.encode()]
        assert await check() == "ok"
        await at_rest(layer, client)


async def test_a_reply_that_arrives_after_its_probe_gave_up_reaches_no_other_probe(shared):
    """With the list-based layer, a probe's messages wait in a Redis list of the probe's own
    (they expire there), so no later probe takes them into this process's memory."""
    url, client = shared
    async with asyncio.timeout(30), layer_on(url, CORE) as layer:
        gone = await layer.new_channel(f"{health.PROBE_PREFIX}{'0' * 12}")  # a probe's, given up
        await layer.send(gone, {"type": "ready", "token": "late"})
        assert await check() == "ok"
        await at_rest(layer, client)


@dataclass
class Probe:
    started: float
    ended: float
    result: str


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, which it stops and starts on the same port."""
    server = Redis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", LAYERS)
async def test_ok_again_within_seconds_after_each_redis_restart(own_redis, backend):
    probes: list[Probe] = []

    async def probe() -> None:
        started = time.monotonic()
        result = await check()
        probes.append(Probe(started, time.monotonic(), result))

    async def probe_every_100ms(running: set[asyncio.Task[None]]) -> None:
        while True:  # like a load balancer with a short interval, probes overlap
            task = asyncio.ensure_future(probe())
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(0.1)

    def since(moment: float, ok: bool | None = None) -> list[Probe]:
        """The probes started at or after ``moment`` (those that passed, or failed)."""
        return [p for p in probes if p.started >= moment and ok in (None, p.result == "ok")]

    running: set[asyncio.Task[None]] = set()
    recovered: list[float] = []
    client = redis.Redis.from_url(own_redis.url)
    async with client, asyncio.timeout(150), layer_on(own_redis.url, backend) as layer:
        prober = asyncio.ensure_future(probe_every_100ms(running))
        try:
            await until(partial(since, time.monotonic(), ok=True), 10, "ok at first")
            for restart in range(5):
                await asyncio.to_thread(own_redis.stop)
                down = time.monotonic()
                # while Redis is down, a probe reports the failure within TIMEOUT
                failed = partial(since, down, ok=False)
                await until(failed, health.TIMEOUT + SLACK, f"restart {restart}: a failure while down")
                assert failed()[0].ended - failed()[0].started <= health.TIMEOUT + SLACK
                await asyncio.sleep(max(0.0, down + 1 - time.monotonic()))  # ~1 s down
                await asyncio.to_thread(own_redis.start)
                back = time.monotonic()
                passed = partial(since, back, ok=True)
                await until(passed, 10, f"restart {restart}: ok again after Redis returned")
                recovered.append(passed()[0].ended - back)
                # and it stays ok until the next stop
                await asyncio.sleep(1 + health.TIMEOUT)
                steady = [p for p in since(passed()[0].ended) if p.ended <= time.monotonic()]
                assert steady and all(p.result == "ok" for p in steady), (restart, steady)
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
            await until(lambda: not running, health.TIMEOUT + SLACK, "the last probes end")
        assert all(p.ended - p.started <= health.TIMEOUT + SLACK for p in probes), max(
            p.ended - p.started for p in probes
        )
        assert not any("another message" in p.result for p in probes)
        for _ in range(3):  # the next probes forget what earlier ones left while Redis was down
            assert await check() == "ok"
        await at_rest(layer, client)
    assert len(recovered) == 5 and max(recovered) < 10, recovered
