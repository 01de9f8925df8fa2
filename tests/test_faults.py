"""Upstream faults, injected under a real engine: each one keeps subscribers on the last
good reading marked stale (with its age), loses no stored observation, backs off, and
the next good answer reaches the same subscribers without any action of theirs.

Faults come from httpx.MockTransport, and from a misbehaving HTTP server on loopback for
what a mock cannot show (a body that trickles in past the deadline).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import load_fixture
from weatherstream.conf import get_config
from weatherstream.engine import Engine
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Observation
from weatherstream.poller import RETRY_BASE

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 60.0


class Inbox:
    def __init__(self):
        self.frames = []

    def push(self, text, prepared=None):
        self.frames.append(json.loads(text))

    def last(self):
        return self.frames[-1]["weather"]


def answer(minutes_ago: int = 0, **current) -> httpx.Response:
    payload = load_fixture("open-meteo/forecast_current.json")
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    payload.update(utc_offset_seconds=0)
    payload["current"]["time"] = when.replace(tzinfo=None).isoformat(timespec="minutes")
    payload["current"].update(current)
    return httpx.Response(200, json=payload)


def raise_(exc):
    def handler(request):
        raise exc("injected", request=request)

    return handler


FAULTS = {
    "connect timeout": raise_(httpx.ConnectTimeout),
    "connect refused": raise_(httpx.ConnectError),
    "read timeout": raise_(httpx.ReadTimeout),
    "HTTP 500": lambda r: httpx.Response(500, text="Internal Server Error"),
    "HTTP 502": lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"),
    "HTTP 503": lambda r: httpx.Response(503, json={"error": True, "reason": "maintenance"}),
    "HTTP 429, Retry-After seconds": lambda r: httpx.Response(429, headers={"Retry-After": "120"}),
    "HTTP 429, Retry-After date": lambda r: httpx.Response(
        429, headers={"Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=150), usegmt=True)}
    ),
    "malformed JSON": lambda r: httpx.Response(200, text='{"latitude": 52.5, "current": {'),
    "JSON that is not an object": lambda r: httpx.Response(200, json=[1, 2]),
    "no current block": lambda r: httpx.Response(
        200, json=load_fixture("open-meteo/forecast_no_current.json")
    ),
    "temperature out of physical range": lambda r: answer(temperature_2m=900.0),
}


@pytest.fixture
async def rig():
    """An engine on the open-meteo provider whose transport the test scripts."""
    config = {**get_config(), "PROVIDER": "open-meteo", "POLL_INTERVAL": INTERVAL, "HTTP_TIMEOUT": 1.0}
    engine = Engine(config)  # not started: the test drives the poller itself
    engine.poller.clock = FakeClock(1000.0)  # still: its due_in() is the wait it chose
    script = {"handler": lambda request: answer(minutes_ago=15)}
    await engine.provider.client.aclose()
    engine.provider.client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: script["handler"](r)))
    yield engine, script
    await engine.stop()


async def stored(engine) -> int:
    """Rows stored, once the engine's recorder has written what it was handed."""
    assert await engine.recorder.flush()
    return await Observation.objects.acount()


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_serves_the_last_good_reading_stale_then_recovers(rig, fault):
    engine, script = rig
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    await engine.poller.fetch([berlin])
    good = inbox.last()
    assert good["stale"] is False and await stored(engine) == 1

    script["handler"] = FAULTS[fault]
    await engine.poller.fetch([berlin])
    stale = inbox.last()
    assert stale["stale"] is True and stale["age"] >= 15 * 60
    assert {k: v for k, v in stale.items() if k not in ("stale", "age")} == {
        k: v for k, v in good.items() if k != "stale"
    }
    assert await stored(engine) == 1, "nothing stored was lost or replaced"
    retry_in = engine.poller.due_in(berlin.id)
    if "Retry-After seconds" in fault:
        assert retry_in == 120
    elif "Retry-After date" in fault:
        assert 140 <= retry_in <= 150
    else:  # bounded, exponential backoff with jitter: RETRY_BASE/2 .. RETRY_BASE at first
        assert RETRY_BASE / 2 <= retry_in <= RETRY_BASE

    script["handler"] = lambda request: answer(minutes_ago=0)
    await engine.poller.fetch([berlin])
    fresh = inbox.last()
    assert fresh["stale"] is False and "age" not in fresh and fresh["observed_at"] > good["observed_at"]
    assert await stored(engine) == 2
    assert engine.poller.failures(berlin.id) == 0


async def test_one_unusable_location_does_not_fail_the_others_in_its_batch(rig):
    engine, script = rig
    places = [get_geocoder().resolve(c) for c in ("Berlin", "Oslo")]

    def two(request):
        good = json.loads(answer().content)
        return httpx.Response(200, json=[{"garbage": True, "current": {"time": "noon"}}, good])

    script["handler"] = two
    inboxes = [Inbox(), Inbox()]
    for place, inbox in zip(places, inboxes):
        await engine.subscribe(place, inbox)
    results = await engine.poller.fetch(places)
    assert results[places[0].id] is None and results[places[1].id] is not None
    assert inboxes[1].last()["stale"] is False


async def test_a_replayed_answer_adds_no_row(rig):
    engine, script = rig
    berlin = get_geocoder().resolve("Berlin")
    await engine.subscribe(berlin, Inbox())
    for _ in range(3):
        await engine.poller.fetch([berlin])
        assert await engine.recorder.flush()
        engine.latest.readings.clear()  # as after a restart: the engine has forgotten what it stored
    assert await stored(engine) == 1


async def trickle_server(delay: float):
    """Answers every request with headers at once and then one body byte per ``delay``."""
    body = json.dumps(load_fixture("open-meteo/forecast_current.json")).encode()

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(delay)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_a_body_trickling_past_the_deadline_is_a_failure_not_a_hang(rig):
    engine, _ = rig
    server = await trickle_server(delay=0.05)  # each read is quick; the whole takes ~40 s
    port = server.sockets[0].getsockname()[1]
    await engine.provider.client.aclose()
    engine.provider.client = httpx.AsyncClient(timeout=httpx.Timeout(1.0))
    engine.provider.url = f"http://127.0.0.1:{port}/v1/forecast"
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    started = time.monotonic()
    results = await engine.poller.fetch([berlin])
    took = time.monotonic() - started
    server.close()
    assert results == {berlin.id: None}
    assert took < 2.0, f"the 1 s deadline did not hold: {took:.1f}s"
    assert engine.poller.failures(berlin.id) == 1
