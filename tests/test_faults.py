"""Upstream faults, injected under a real engine, for each real provider (Open-Meteo,
MET Norway) and for a chain of both: each fault keeps subscribers on the last good
reading marked stale (with its age), or has the next provider serve, loses no stored
observation, backs off, and the next good answer reaches the same subscribers without
any action of theirs.

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
MET_UA = "weather.example.org admin@example.org"


class Inbox:
    def __init__(self):
        self.frames = []

    def push(self, text, prepared=None):
        self.frames.append(json.loads(text))

    def last(self):
        return self.frames[-1]["weather"]


def answer(minutes_ago: int = 0, **current) -> httpx.Response:
    """Open-Meteo's recorded answer, its values from ``minutes_ago``."""
    payload = load_fixture("open-meteo/forecast_current.json")
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    payload.update(utc_offset_seconds=0)
    payload["current"]["time"] = when.replace(tzinfo=None).isoformat(timespec="minutes")
    payload["current"].update(current)
    return httpx.Response(200, json=payload)


def met_answer(minutes_ago: int = 0, **details) -> httpx.Response:
    """MET Norway's answer (built from its schema), its first time step ``minutes_ago``;
    already expired, so that the next fetch asks again, with a new Last-Modified."""
    payload = load_fixture("met-norway/compact_built_from_schema.json")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = payload["properties"]["timeseries"][0]
    first["time"] = (now - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    first["data"]["instant"]["details"].update(details)
    headers = {
        "Expires": format_datetime(now - timedelta(seconds=1), usegmt=True),
        "Last-Modified": format_datetime(now - timedelta(minutes=minutes_ago), usegmt=True),
    }
    return httpx.Response(200, json=payload, headers=headers)


ANSWERS = {"open-meteo": answer, "met-norway": met_answer}


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
# The same faults in MET Norway's shapes, where they differ.
MET_FAULTS = {
    **FAULTS,
    "no current block": lambda r: httpx.Response(
        200, json=load_fixture("met-norway/odd_shape_no_time_steps_built_from_schema.json")
    ),
    "temperature out of physical range": lambda r: met_answer(air_temperature=900.0),
}
FAULTS_OF = {"open-meteo": FAULTS, "met-norway": MET_FAULTS}


def scripted(provider, script: dict, key: str = "handler") -> None:
    """Have ``provider`` send its requests to ``script[key]``."""
    provider.client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: script[key](r)), headers=provider.client.headers
    )


@pytest.fixture(params=["open-meteo", "met-norway"])
async def rig(request):
    """An engine on one real provider whose transport the test scripts."""
    name = request.param
    config = {
        **get_config(),
        "PROVIDER": name,
        "MET_NORWAY_USER_AGENT": MET_UA,
        "POLL_INTERVAL": INTERVAL,
        "HTTP_TIMEOUT": 1.0,
    }
    engine = Engine(config)  # not started: the test drives the poller itself
    engine.poller.clock = FakeClock(1000.0)  # still: its due_in() is the wait it chose
    good = ANSWERS[name]
    script = {"handler": lambda request: good(minutes_ago=15), "good": good, "faults": FAULTS_OF[name]}
    await engine.provider.client.aclose()
    scripted(engine.provider, script)
    yield engine, script
    await engine.stop()


async def stored(engine) -> int:
    """Rows stored, once the engine's recorder has written what it was handed."""
    assert await engine.recorder.flush()
    return await Observation.objects.acount()


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_serves_the_last_good_reading_stale_then_recovers(rig, fault):
    engine, script = rig
    good_answer = script["good"]
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    await engine.poller.fetch([berlin])
    good = inbox.last()
    assert good["stale"] is False and await stored(engine) == 1

    script["handler"] = script["faults"][fault]
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

    if engine.provider.name == "met-norway" and "429" in fault:
        # MET's terms: after a 429, no request for any place before its Retry-After.
        asked = []
        script["handler"] = lambda request: asked.append(request) or good_answer(minutes_ago=0)
        await engine.poller.fetch([berlin])
        assert asked == [] and inbox.last()["stale"] is True
        waited = engine.provider.hold_until - time.time() + 1
        engine.provider.clock = lambda: time.time() + waited  # the wait is over

    script["handler"] = lambda request: good_answer(minutes_ago=0)
    await engine.poller.fetch([berlin])
    fresh = inbox.last()
    assert fresh["stale"] is False and "age" not in fresh and fresh["observed_at"] > good["observed_at"]
    assert await stored(engine) == 2
    assert engine.poller.failures(berlin.id) == 0


@pytest.mark.parametrize("rig", ["open-meteo"], indirect=True)  # the one with batches
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


# -- a chain: Open-Meteo first, MET Norway next ---------------------------------------------


@pytest.fixture
async def chain_rig():
    config = {
        **get_config(),
        "PROVIDER": ["open-meteo", "met-norway"],
        "MET_NORWAY_USER_AGENT": MET_UA,
        "POLL_INTERVAL": INTERVAL,
        "HTTP_TIMEOUT": 1.0,
    }
    engine = Engine(config)
    engine.poller.clock = FakeClock(1000.0)
    script = {
        "open-meteo": lambda r: answer(minutes_ago=15),
        "met-norway": lambda r: met_answer(minutes_ago=5),
    }
    for upstream in engine.chain.upstreams:
        await upstream.provider.client.aclose()
        scripted(upstream.provider, script, upstream.name)
    yield engine, script
    await engine.stop()


@pytest.mark.parametrize("fault", FAULTS)
async def test_when_the_first_provider_fails_the_second_serves_then_the_first_takes_back_over(
    chain_rig, fault
):
    engine, script = chain_rig
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    await engine.poller.fetch([berlin])
    assert inbox.last()["source"] == "open-meteo" and await stored(engine) == 1

    script["open-meteo"] = FAULTS[fault]
    await engine.poller.fetch([berlin])
    served = inbox.last()
    assert served["source"] == "met-norway" and served["stale"] is False, "the next real provider serves"
    assert await stored(engine) == 2, "both readings stored, nothing replaced"

    script["open-meteo"] = lambda r: answer(minutes_ago=0)
    await engine.poller.fetch([berlin])
    back = inbox.last()
    assert back["source"] == "open-meteo" and back["observed_at"] > served["observed_at"]
    assert await stored(engine) == 3
    assert json.loads(engine.hello().text)["provider"] == "open-meteo"


async def test_when_every_provider_fails_the_last_good_reading_is_served_stale(chain_rig):
    engine, script = chain_rig
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    await engine.poller.fetch([berlin])
    good = inbox.last()
    script["open-meteo"] = FAULTS["HTTP 503"]
    script["met-norway"] = FAULTS["HTTP 429, Retry-After seconds"]
    await engine.poller.fetch([berlin])
    stale = inbox.last()
    assert stale["stale"] is True and stale["source"] == good["source"] == "open-meteo"
    assert await stored(engine) == 1
    assert engine.poller.due_in(berlin.id) >= RETRY_BASE / 2  # backed off, never simulated


async def test_an_open_circuit_hands_places_to_the_second_without_calling_the_first(chain_rig):
    engine, script = chain_rig
    calls = {"open-meteo": 0}

    def failing(request):
        calls["open-meteo"] += 1
        return httpx.Response(500)

    script["open-meteo"] = failing
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await engine.subscribe(berlin, inbox)
    threshold = engine.config["BREAKER_FAILURES"]
    for _ in range(threshold + 3):
        await engine.poller.fetch([berlin])
        assert inbox.last()["source"] == "met-norway"
    assert calls["open-meteo"] == threshold, "no call while its circuit is open"
    assert json.loads(engine.hello().text)["provider"] == "met-norway"
