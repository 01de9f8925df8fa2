import asyncio

import pytest

from weatherstream import services
from weatherstream.conf import get_config
from weatherstream.engine import Engine, poll_interval
from weatherstream.geocoding import get_geocoder
from weatherstream.providers.openmeteo import OpenMeteoProvider
from weatherstream.providers.simulated import SimulatedProvider

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self):
        self.frames = []

    def push(self, text, prepared=None):
        self.frames.append(text)


@pytest.fixture
async def engine():
    engine = Engine({**get_config(), "POLL_INTERVAL": 3600})  # not started: no poller task
    yield engine
    await engine.stop()


async def test_concurrent_first_subscribers_share_one_lookup(engine, monkeypatch):
    calls = []
    real = services.observation_latest

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "observation_latest", counting)
    place = get_geocoder().resolve("Vienna")
    inboxes = [Inbox() for _ in range(50)]
    await asyncio.gather(*(engine.subscribe(place, inbox) for inbox in inboxes))
    assert len(calls) == 1
    assert engine.hub.count(place.id) == 50
    await engine.subscribe(place, Inbox())
    assert len(calls) == 1


async def test_demand_keeps_a_released_place_for_the_grace_period(engine):
    place = get_geocoder().resolve("Prague")
    inbox = Inbox()
    await engine.subscribe(place, inbox)
    engine.unsubscribe(place.id, inbox)
    assert [p.id for p in engine.demand()] == [place.id]
    engine.config = {**engine.config, "DEMAND_GRACE": 0}
    assert engine.demand() == []


def test_poll_interval_defaults_and_floors():
    simulated, public = SimulatedProvider(), OpenMeteoProvider()
    assert poll_interval({"POLL_INTERVAL": None}, simulated) == 60
    assert poll_interval({"POLL_INTERVAL": 1}, simulated) == 1
    assert poll_interval({"POLL_INTERVAL": None}, public) == 900
    assert poll_interval({"POLL_INTERVAL": 5}, public) == 60
    custom = OpenMeteoProvider(url="http://127.0.0.1:9/v1/forecast")
    assert poll_interval({"POLL_INTERVAL": 5}, custom) == 5
