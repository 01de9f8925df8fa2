"""A server process with POLLER="off" and a separate poller, linked only by the channel layer."""

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from weatherstream.budget import CallBudget
from weatherstream.bus import LayerDemand, location_group
from weatherstream.conf import get_config
from weatherstream.engine import Engine, PollerEngine
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Observation
from weatherstream.places import Place
from weatherstream.readings import Reading

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self):
        self.frames = []
        self.arrived = asyncio.Event()

    def push(self, text, prepared=None):
        self.frames.append(json.loads(text))
        self.arrived.set()

    async def next(self, timeout=5):
        await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()
        return self.frames[-1]


@pytest.fixture
async def pair():
    from channels.layers import channel_layers

    channel_layers.backends.clear()  # a fresh in-memory layer for this event loop
    config = {**get_config(), "POLLER": "off", "DEMAND_HEARTBEAT": 0.2, "POLL_INTERVAL": 1}
    with override_settings(WEATHERSTREAM=config):
        server = Engine(config)
        poller = PollerEngine(config)
        await server.start()
        await poller.start()
        yield server, poller
        await server.stop()
        await poller.stop()
    channel_layers.backends.clear()


async def test_updates_reach_the_server_through_the_layer(pair):
    server, poller = pair
    assert not server.polls and poller.polls
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    assert await server.subscribe(berlin, inbox) is None
    frame = await inbox.next()
    assert frame["type"] == "weather" and frame["location"] == berlin.id
    assert frame["weather"]["source"] == "simulated"
    second = await inbox.next()
    assert second["weather"]["observed_at"] > frame["weather"]["observed_at"]
    # The poller stored them; the server never fetched.
    assert server.poller.requests == 0 and poller.poller.requests >= 2
    assert await poller.recorder.flush()  # published first, then stored
    assert await Observation.objects.filter(location_id=berlin.id).acount() >= 2


async def test_a_location_no_server_announces_stops_being_polled(pair):
    server, poller = pair
    oslo = get_geocoder().resolve("Oslo")
    inbox = Inbox()
    await server.subscribe(oslo, inbox)
    await inbox.next()
    assert [p.id for p in poller.demand()] == [oslo.id]
    server.unsubscribe(oslo.id, inbox)
    server.subscriptions.config = {**server.config, "DEMAND_GRACE": 0}
    await asyncio.sleep(1.2)  # three heartbeats without it
    assert poller.demand() == []


def test_leases_expire_unless_renewed():
    now = [0.0]
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: now[0])
    place = get_geocoder().resolve("Rome")
    assert demand.renew({"places": [place.as_dict(population=True)]}) == [place.id]
    assert demand.renew({"places": [place.as_dict(population=True)]}) == []  # known: not urgent
    now[0] = 29
    demand.renew({"places": [place.as_dict(population=True)]})
    now[0] = 58
    assert [p.id for p in demand()] == [place.id]
    now[0] = 60
    assert demand() == []
    assert demand.renew({"places": [{"id": "x"}, "junk"]}) == []  # malformed entries ignored


def test_wire_round_trip_and_group_names():
    place = get_geocoder().at(-33.87, 151.21)
    assert Place.from_dict(place.as_dict(population=True)) == place
    assert location_group(place.id) == "weatherstream.loc.-33.87_151.21"


def test_poll_command_refuses_the_in_memory_layer():
    with pytest.raises(CommandError, match="shared channel layer"):
        call_command("weatherstream_poll")


async def test_a_lost_group_membership_is_restored_by_the_next_heartbeat(pair):
    server, poller = pair
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await server.subscribe(berlin, inbox)
    await inbox.next()
    # As if the layer's group_expiry had dropped it, or a heartbeat raced a subscribe.
    await server.link.layer.group_discard(location_group(berlin.id), server.link.channel)
    await asyncio.sleep(1.2)  # updates in flight drain; heartbeats (0.2 s) rejoin
    inbox.arrived.clear()
    frame = await inbox.next(timeout=3)
    assert frame["location"] == berlin.id


async def test_a_server_joining_late_gets_the_pollers_latest_reading_before_it_is_stored():
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    # One fetch a minute: what reaches the late server can only be the poller's latest.
    config = {**get_config(), "POLLER": "off", "DEMAND_HEARTBEAT": 0.2, "POLL_INTERVAL": 60}
    with override_settings(WEATHERSTREAM=config):
        first, late, poller = Engine(config), Engine(config), PollerEngine(config)
        stored = asyncio.Event()

        async def never_stored(items):  # the database lags behind the update
            await stored.wait()

        poller.recorder.store = never_stored
        for engine in (first, late, poller):
            await engine.start()
        try:
            berlin = get_geocoder().resolve("Berlin")
            watching, joining = Inbox(), Inbox()
            await first.subscribe(berlin, watching)
            update = await watching.next()
            # Nothing in the database yet: the poller's answer comes in the snapshot, or
            # just after it (the layer is quicker here than over Redis).
            snapshot = await late.subscribe(berlin, joining)
            got = snapshot.to_wire() if snapshot is not None else (await joining.next(timeout=5))["weather"]
            assert got == update["weather"]
            assert poller.poller.requests == 1  # not fetched again for it
        finally:
            stored.set()
            for engine in (first, late, poller):
                await engine.stop()
    channel_layers.backends.clear()


async def test_the_pollers_latest_is_fanned_out_only_when_it_is_news(pair):
    server, _ = pair
    berlin = get_geocoder().resolve("Berlin")
    inbox = Inbox()
    await server.subscribe(berlin, inbox)
    held = Reading.from_wire((await inbox.next())["weather"])
    count = len(inbox.frames)
    server.publisher.fan_out_if_news(berlin.id, held)  # already had it
    older = dataclasses.replace(held, observed_at=held.observed_at - timedelta(hours=1))
    server.publisher.fan_out_if_news(berlin.id, older)
    assert len(inbox.frames) == count
    server.publisher.fan_out_if_news(berlin.id, held.as_stale())  # the same reading, now stale: news
    assert len(inbox.frames) == count + 1 and inbox.frames[-1]["weather"]["stale"] is True


async def test_a_server_tells_its_clients_the_separate_pollers_effective_interval(pair):
    server, poller = pair
    berlin = get_geocoder().resolve("Berlin")
    # A budget of 10 calls a day: one place fits it once every 86,400 / 9 s.
    poller.poller.chain.first.budget = CallBudget({"day": 10})
    inbox = Inbox()
    await server.subscribe(berlin, inbox)
    await inbox.next()  # an update, carrying the poller's interval
    assert poller.poller.effective_interval == 9600.0
    assert server.effective_interval == 9600.0, "the server's own poller does not poll"
    assert json.loads(server.hello())["poll_interval"] == 9600.0
    assert json.loads(server.subscribed(berlin, 1))["poll_interval"] == 9600.0
    # and silence is marked by it: a reading two (stretched) intervals old is not silent
    assert not server.silent(dataclasses.replace(inbox_reading(inbox), observed_at=ago(3000)))


def inbox_reading(inbox):
    return Reading.from_wire(inbox.frames[-1]["weather"])


def ago(seconds):
    from datetime import UTC, datetime

    return datetime.now(UTC) - timedelta(seconds=seconds)
