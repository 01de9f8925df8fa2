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
    assert json.loads(server.hello().text)["poll_interval"] == 9600.0
    assert json.loads(server.subscribed(berlin, 1))["poll_interval"] == 9600.0
    # and silence is marked by it: a reading two (stretched) intervals old is not silent
    assert not server.silent(dataclasses.replace(inbox_reading(inbox), observed_at=ago(3000)))


def inbox_reading(inbox):
    return Reading.from_wire(inbox.frames[-1]["weather"])


def ago(seconds):
    from datetime import UTC, datetime

    return datetime.now(UTC) - timedelta(seconds=seconds)


# Forecasts over the layer (issue 15), against a fake layer that records what is sent.

BERLIN = Place("2950159", 52.52, 13.41, name="Berlin", country="DE", timezone="Europe/Berlin", population=9)
PARIS = Place("2988507", 48.85, 2.35, name="Paris", country="FR", timezone="Europe/Paris", population=8)


class FakeLayer:
    """A channel layer that keeps what is sent, and hands out what the test puts in."""

    def __init__(self):
        self.sent: list[tuple] = []  # ("group_send", group, message) / ("send", channel, message)
        self.groups: dict[str, set[str]] = {}
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def new_channel(self, prefix=""):
        return prefix + "fake!1"

    async def group_add(self, group, channel):
        self.groups.setdefault(group, set()).add(channel)

    async def group_discard(self, group, channel):
        self.groups.get(group, set()).discard(channel)

    async def group_send(self, group, message):
        self.sent.append(("group_send", group, message))

    async def send(self, channel, message):
        self.sent.append(("send", channel, message))

    async def receive(self, channel):
        return await self.inbox.get()


def a_forecast(kind="hourly", source="open-meteo", value=1.0):
    from datetime import UTC, datetime

    from weatherstream.forecasts import Forecast, daily_item, hourly_item

    t = datetime(2026, 10, 3, 10, 0, tzinfo=UTC)
    item = (
        hourly_item(t, temperature=value, is_day=True) if kind == "hourly" else daily_item(t.date(), sunset=t)
    )
    return Forecast(kind=kind, issued_at=t, source=source, items=(item,))


def link_on(layer, *, places=(), forecast_ids=(), on_forecast=None, **kwargs):
    from weatherstream.bus import LayerLink

    return LayerLink(
        layer,
        demand=lambda: list(places),
        on_update=lambda place_id, reading: None,
        on_forecast=on_forecast,
        forecast_demand=lambda: set(forecast_ids),
        heartbeat=3600,
        **kwargs,
    )


async def test_an_announcement_marks_the_places_whose_forecast_is_watched_here():
    layer = FakeLayer()
    link = link_on(layer, places=[BERLIN, PARIS], forecast_ids={PARIS.id, "elsewhere"})
    link.channel = "server!1"
    await link.announce()
    [(how, group, message)] = layer.sent
    assert (how, group, message["type"]) == ("group_send", "weatherstream.poller", "demand")
    assert message["places"] == [
        {**BERLIN.as_dict(population=True), "watchers": 0},
        {**PARIS.as_dict(population=True), "watchers": 0, "forecast": True},
    ]
    assert "forecast" not in message["places"][0]
    assert all(Place.from_dict(entry) in (BERLIN, PARIS) for entry in message["places"])


async def test_without_forecast_demand_nothing_is_marked():
    from weatherstream.bus import LayerLink

    layer = FakeLayer()
    link = LayerLink(layer, demand=lambda: [BERLIN], on_update=lambda *a: None, heartbeat=3600)
    link.channel = "server!1"
    await link.announce()
    assert [m["places"] for _, _, m in layer.sent] == [[{**BERLIN.as_dict(population=True), "watchers": 0}]]
    await link.watch(PARIS)  # a first subscriber: the same, without a forecast mark
    assert layer.sent[-1][2]["places"] == [{**PARIS.as_dict(population=True), "watchers": 0}]


async def test_a_first_subscriber_announces_the_place_with_its_forecast_when_watched():
    layer = FakeLayer()
    link = link_on(layer, forecast_ids={BERLIN.id})
    link.channel = "server!1"
    await link.watch(BERLIN)
    await link.watch(PARIS)
    assert [m["places"] for _, _, m in layer.sent] == [
        [{**BERLIN.as_dict(population=True), "watchers": 0, "forecast": True}],
        [{**PARIS.as_dict(population=True), "watchers": 0}],
    ]
    assert all(m["reply_to"] == "server!1" for _, _, m in layer.sent)


async def test_want_forecast_tells_the_poller_at_once_with_a_reply_to():
    layer = FakeLayer()
    link = link_on(layer)  # not in forecast demand yet: it is asked for explicitly
    link.channel = "server!1"
    await link.want_forecast(BERLIN)
    assert layer.sent == [
        (
            "group_send",
            "weatherstream.poller",
            {
                "type": "demand",
                "server": "server!1",
                "places": [{**BERLIN.as_dict(population=True), "watchers": 0, "forecast": True}],
                "reply_to": "server!1",
            },
        )
    ]
    assert layer.groups == {}, "the place's group is joined by watch(), not here"


async def stop(tasks):
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_received_forecast_reaches_on_forecast_as_a_forecast():
    layer, got = FakeLayer(), []
    arrived = asyncio.Event()

    def on_forecast(place_id, forecast):
        got.append((place_id, forecast))
        arrived.set()

    link = link_on(layer, on_forecast=on_forecast)
    tasks = await link.start()
    try:
        daily = a_forecast("daily", value=3.0)
        await layer.inbox.put({"type": "forecast", "location": BERLIN.id, "forecast": daily.to_wire()})
        await asyncio.wait_for(arrived.wait(), 5)
        assert got == [(BERLIN.id, daily)]
        assert link.interval is None, "a forecast carries no poll interval"
    finally:
        await stop(tasks)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "forecast", "location": "2950159"},  # no forecast
        {"type": "forecast", "forecast": "PLACEHOLDER"},  # no location
        {"type": "forecast", "location": "2950159", "forecast": None},
        {"type": "forecast", "location": "2950159", "forecast": {"kind": "hourly"}},
        {"type": "forecast", "location": "2950159", "forecast": "replaced: kind weekly"},
        {"type": "forecast", "location": "2950159", "forecast": "replaced: naive issued_at"},
        {"type": "forecast", "location": "2950159", "forecast": "replaced: items not a list"},
        {"type": "forecast", "location": "2950159", "forecast": "replaced: items not objects"},
        {"type": "forecast", "location": "2950159", "forecast": "replaced: issued_at not a time"},
    ],
)
async def test_a_malformed_forecast_is_dropped_with_a_warning(message, caplog):
    import logging

    wire = a_forecast().to_wire()
    broken = {
        "PLACEHOLDER": wire,
        "replaced: kind weekly": {**wire, "kind": "weekly"},
        "replaced: naive issued_at": {**wire, "issued_at": "2026-10-03T10:00:00"},
        "replaced: items not a list": {**wire, "forecast": {"0": {}}},
        "replaced: items not objects": {**wire, "forecast": [1, 2]},
        "replaced: issued_at not a time": {**wire, "issued_at": 1795500000},
    }
    if isinstance(message.get("forecast"), str):
        message = {**message, "forecast": broken[message["forecast"]]}
    layer, got = FakeLayer(), []
    link = link_on(layer, on_forecast=lambda place_id, forecast: got.append(place_id))
    tasks = await link.start()
    try:
        with caplog.at_level(logging.WARNING, logger="weatherstream.bus"):
            await layer.inbox.put(message)
            good = a_forecast(value=2.0)  # the next one still goes through: nothing raised
            await layer.inbox.put({"type": "forecast", "location": PARIS.id, "forecast": good.to_wire()})
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
        assert got == [PARIS.id]
        assert not any(t.done() for t in tasks), "the receiving task is still running"
        warnings = [r for r in caplog.records if r.name == "weatherstream.bus"]
        assert [r.levelname for r in warnings] == ["WARNING"]
        assert warnings[0].getMessage() == f"dropping a malformed forecast for {message.get('location')!r}"
    finally:
        await stop(tasks)


async def test_a_failing_on_forecast_is_logged_and_receiving_goes_on(caplog):
    import logging

    layer, got = FakeLayer(), []

    def on_forecast(place_id, forecast):
        got.append(place_id)
        if place_id == BERLIN.id:
            raise RuntimeError("bug")

    link = link_on(layer, on_forecast=on_forecast)
    tasks = await link.start()
    try:
        with caplog.at_level(logging.ERROR, logger="weatherstream.bus"):
            for place in (BERLIN, PARIS):
                await layer.inbox.put(
                    {"type": "forecast", "location": place.id, "forecast": a_forecast().to_wire()}
                )
            for _ in range(100):
                if len(got) == 2:
                    break
                await asyncio.sleep(0.01)
        assert got == [BERLIN.id, PARIS.id]
        [record] = [r for r in caplog.records if r.name == "weatherstream.bus"]
        assert record.getMessage() == "fanning out a forecast failed" and record.exc_info[0] is RuntimeError
    finally:
        await stop(tasks)


async def test_a_server_without_on_forecast_ignores_forecasts():
    layer, updates = FakeLayer(), []
    from weatherstream.bus import LayerLink

    link = LayerLink(layer, demand=list, on_update=lambda *a: updates.append(a), heartbeat=3600)
    tasks = await link.start()
    try:
        await layer.inbox.put({"type": "forecast", "location": BERLIN.id, "forecast": a_forecast().to_wire()})
        await layer.inbox.put({"type": "forecast", "location": BERLIN.id})  # not even looked at
        while not layer.inbox.empty():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert updates == [] and not any(t.done() for t in tasks)
    finally:
        await stop(tasks)


def entry(place, forecast=None):
    data = place.as_dict(population=True)
    if forecast is not None:
        data["forecast"] = forecast
    return data


def test_forecast_leases_are_renewed_by_announcements_marked_forecast_and_expire():
    now = [0.0]
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: now[0])
    assert demand.renew({"places": [entry(BERLIN, True), entry(PARIS)]}) == [BERLIN.id, PARIS.id]
    assert demand.urgent_forecasts == [BERLIN.id]
    assert [p.id for p in demand.forecasts()] == [BERLIN.id] and demand.forecasts() == [BERLIN]
    assert [p.id for p in demand()] == [BERLIN.id, PARIS.id], "a forecast is a reading's demand too"
    now[0] = 29
    demand.renew({"places": [entry(BERLIN, True), entry(PARIS)]})  # renewed: not urgent again
    assert demand.urgent_forecasts == []
    now[0] = 40
    demand.renew({"places": [entry(BERLIN), entry(PARIS)]})  # the forecast no longer watched
    assert [p.id for p in demand.forecasts()] == [BERLIN.id], "its lease runs to its end"
    now[0] = 58.9
    assert [p.id for p in demand.forecasts()] == [BERLIN.id]
    now[0] = 59
    assert demand.forecasts() == []
    assert [p.id for p in demand()] == [BERLIN.id, PARIS.id], "the readings' leases were renewed at 40"
    assert demand.forecast_leases == {}, "forgotten, not only filtered out"


@pytest.mark.parametrize("mark", [False, "true", 1, None, {"hourly": True}])
def test_only_forecast_true_marks_a_forecast(mark):
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: 0.0)
    demand.renew({"places": [entry(BERLIN, mark)]})
    assert demand.urgent_forecasts == [] and demand.forecasts() == []
    assert demand() == [BERLIN]


def test_urgent_forecasts_are_those_new_to_the_poller_in_the_last_announcement():
    now = [0.0]
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: now[0])
    demand.renew({"places": [entry(BERLIN)]})  # readings only
    assert demand.renew({"places": [entry(BERLIN, True)]}) == [], "its reading is known"
    assert demand.urgent_forecasts == [BERLIN.id], "its forecast is new"
    demand.renew({"places": [entry(PARIS, True), entry(BERLIN, True)]})
    assert demand.urgent_forecasts == [PARIS.id]
    demand.renew({"places": ["junk", {"id": "x"}]})  # malformed entries ignored
    assert demand.urgent_forecasts == [], "of the last announcement only"
    now[0] = 31  # Berlin's forecast lease is over (the poller's turn found it gone): new again
    assert demand.forecasts() == []
    demand.renew({"places": [entry(BERLIN, True)]})
    assert demand.urgent_forecasts == [BERLIN.id]


async def test_listen_calls_on_urgent_forecast_for_forecasts_new_to_the_poller():
    layer = FakeLayer()
    demand = LayerDemand(layer, ttl=3600)
    urgent, urgent_forecasts, joined = [], [], []
    done = asyncio.Event()

    async def on_join(channel, ids):
        joined.append((channel, ids))
        done.set()

    listening = asyncio.ensure_future(demand.listen(urgent.append, on_join, urgent_forecasts.append))
    try:
        await layer.inbox.put({"type": "demand", "places": [entry(BERLIN), entry(PARIS, True)]})
        await layer.inbox.put(
            {"type": "demand", "places": [entry(BERLIN, True), entry(PARIS, True)], "reply_to": "server!1"}
        )
        await asyncio.wait_for(done.wait(), 5)
        assert urgent == [BERLIN.id, PARIS.id]
        assert urgent_forecasts == [PARIS.id, BERLIN.id]
        assert joined == [("server!1", [BERLIN.id, PARIS.id])]
        assert layer.groups == {"weatherstream.poller": {"weatherstream.poller.fake!1"}}
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_listen_without_on_urgent_forecast_still_leases_forecasts():
    layer = FakeLayer()
    demand = LayerDemand(layer, ttl=3600)
    urgent = []
    listening = asyncio.ensure_future(demand.listen(urgent.append))
    try:
        await layer.inbox.put({"type": "demand", "places": [entry(BERLIN, True)]})
        for _ in range(100):
            if urgent:
                break
            await asyncio.sleep(0.01)
        assert urgent == [BERLIN.id] and demand.forecasts() == [BERLIN]
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_publish_forecast_goes_to_the_places_group_or_to_one_channel():
    layer = FakeLayer()
    demand = LayerDemand(layer, ttl=30, interval=lambda: 60.0)
    hourly = a_forecast("hourly", value=17.5)
    await demand.publish_forecast("52.52,13.41", hourly)
    await demand.publish_forecast(BERLIN.id, hourly, to="server!1")
    message = {"type": "forecast", "location": "52.52,13.41", "forecast": hourly.to_wire()}
    assert layer.sent == [
        ("group_send", "weatherstream.loc.52.52_13.41", message),
        ("send", "server!1", {**message, "location": BERLIN.id}),
    ]
    from weatherstream.forecasts import Forecast

    assert Forecast.from_wire(layer.sent[0][2]["forecast"]) == hourly  # what a server reads back
    assert json.loads(json.dumps(layer.sent[0][2])) == layer.sent[0][2]  # plain JSON over Redis


# -- stations -----------------------------------------------------------------------------


def a_station(lat=46.2, lon=6.1):
    from weatherstream import services, stations

    place = Place(id=stations.new_id(), latitude=lat, longitude=lon, name="Roof", timezone="Europe/Zurich")
    services.station_create(place=place, key_hash=stations.digest("k"))
    return place


def test_a_station_gets_no_readings_lease_but_its_forecast_is_leased():
    demand = LayerDemand(layer=None, ttl=30)
    station = Place(id="st-0123456789ab", latitude=46.2, longitude=6.1, name="Roof")
    berlin = get_geocoder().resolve("Berlin")
    urgent = demand.renew({"places": [entry(station, True), entry(berlin)]})
    assert urgent == [berlin.id] and [p.id for p in demand()] == [berlin.id]
    assert [p.id for p in demand.forecasts()] == [station.id]  # from its coordinates


async def test_an_upload_on_one_server_reaches_the_other_through_the_layer_once(pair):
    from channels.layers import get_channel_layer

    other, poller = pair
    config = {**get_config(), "POLLER": "off", "DEMAND_HEARTBEAT": 0.2, "POLL_INTERVAL": 1}
    receiving = Engine(config)  # the process the station uploads to: nobody watches it there
    await receiving.start()
    try:
        place = await asyncio.to_thread(a_station)
        inbox = Inbox()
        await other.subscribe(place, inbox)
        assert place.id in other.link.joined
        reading = Reading(observed_at=ago(1), source=f"station:{place.id}", temperature=15.5)
        assert await receiving.upload(place, reading)
        frame = await inbox.next()
        assert frame["type"] == "weather" and frame["weather"]["temperature"] == 15.5
        await asyncio.sleep(0.5)
        assert len([f for f in inbox.frames if f["type"] == "weather"]) == 1
        # Watched in the receiving process too: its subscriber gets the next one once,
        # at once, and the layer's echo is no news there.
        here = Inbox()
        await receiving.subscribe(place, here)
        later = Reading(observed_at=ago(0), source=f"station:{place.id}", temperature=16.0)
        assert await receiving.upload(place, later)
        assert [f["weather"]["temperature"] for f in here.frames if f["type"] == "weather"] == [16.0]
        await asyncio.sleep(0.5)  # the echo has come back by now
        assert [f["weather"]["temperature"] for f in here.frames if f["type"] == "weather"] == [16.0]
        assert [f["weather"]["temperature"] for f in inbox.frames if f["type"] == "weather"] == [15.5, 16.0]
        assert get_channel_layer() is receiving.link.layer  # one layer, as in a cluster
        await asyncio.sleep(2.5)  # two poll intervals: the poller fetched nothing for it
        sources = [f["weather"]["source"] for f in (*inbox.frames, *here.frames) if f["type"] == "weather"]
        assert sources == [f"station:{place.id}"] * 3
    finally:
        await receiving.stop()


# -- watchers -----------------------------------------------------------------------------------


def test_the_poller_sums_each_servers_share_and_sends_only_changes_until_they_expire():
    now = [0.0]
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: now[0])
    demand.renew(
        {"server": "a", "places": [{**entry(BERLIN), "watchers": 3}, {**entry(PARIS), "watchers": 1}]}
    )
    demand.renew({"server": "b", "places": [{**entry(BERLIN), "watchers": 2}]})
    assert sorted(demand.watcher_changes()) == [(BERLIN.id, {"a": 3, "b": 2}), (PARIS.id, {"a": 1})]
    demand.renew({"server": "b", "places": [{**entry(BERLIN), "watchers": 2}]})
    assert demand.watcher_changes() == [], "the same shares are not sent again"
    now[0] = 20
    demand.renew(
        {"server": "a", "places": [{**entry(BERLIN), "watchers": 4}, {**entry(PARIS), "watchers": 1}]}
    )
    assert demand.watcher_changes() == [(BERLIN.id, {"a": 4, "b": 2})]
    now[0] = 31  # b's announcement expired; a's was renewed at 20
    assert demand.watcher_changes() == [(BERLIN.id, {"a": 4})]
    now[0] = 51
    assert sorted(demand.watcher_changes()) == [(BERLIN.id, {}), (PARIS.id, {})], "all gone: told once"
    assert demand.watcher_changes() == []


@pytest.mark.parametrize("count", [-1, True, "3", None, 2.5])
def test_a_malformed_count_of_watchers_is_ignored(count):
    demand = LayerDemand(layer=None, ttl=30, clock=lambda: 0.0)
    demand.renew({"server": "a", "places": [{**entry(BERLIN), "watchers": count}]})
    assert demand.watcher_changes() == [] and [p.id for p in demand()] == [BERLIN.id]


async def test_only_the_leading_poller_sends_the_shares_to_the_places_group():
    layer = FakeLayer()
    demand = LayerDemand(layer=layer, ttl=30, clock=lambda: 0.0)
    demand.leading = lambda: False
    demand.renew({"server": "a", "places": [{**entry(BERLIN), "watchers": 3}]})
    await demand.publish_watchers()
    assert layer.sent == []
    demand.leading = lambda: True
    await demand.publish_watchers()
    assert layer.sent == [
        (
            "group_send",
            location_group(BERLIN.id),
            {"type": "watchers", "location": BERLIN.id, "shares": {"a": 3}},
        )
    ]


async def test_a_server_announces_its_own_counts_and_takes_the_pollers_shares():
    from weatherstream.bus import LayerLink

    layer = FakeLayer()
    told = []
    link = LayerLink(
        layer,
        demand=lambda: [BERLIN],
        on_update=lambda *a: None,
        watchers={BERLIN.id: 5}.get,
        on_watchers=lambda place_id, shares: told.append((place_id, shares)),
        heartbeat=3600,
    )
    link.channel = "server!1"
    await link.announce()
    [(_, _, message)] = layer.sent
    assert message["server"] == "server!1" and message["places"][0]["watchers"] == 5
    link._watchers({"type": "watchers", "location": BERLIN.id, "shares": {"server!1": 5, "x": 2, "bad": "1"}})
    link._watchers({"type": "watchers", "location": 7, "shares": {}})  # malformed: dropped
    assert told == [(BERLIN.id, {"server!1": 5, "x": 2})]


async def test_an_announcement_looks_only_at_its_places_and_expiries_at_most_once_a_second():
    layer = FakeLayer()
    now = [100.0]
    demand = LayerDemand(layer=layer, ttl=30, clock=lambda: now[0])
    demand.renew(
        {"server": "a", "places": [{**entry(BERLIN), "watchers": 1}, {**entry(PARIS), "watchers": 1}]}
    )
    await demand.publish_watchers([BERLIN.id, PARIS.id])  # the first: a full look
    assert {m["location"] for _, _, m in layer.sent} == {BERLIN.id, PARIS.id}
    layer.sent.clear()
    now[0] = 100.5
    demand.renew({"server": "b", "places": [{**entry(PARIS), "watchers": 2}]})
    demand.watching[BERLIN.id]["a"] = (5, now[0] + 30)  # changed, but not in this announcement
    await demand.publish_watchers([PARIS.id])
    assert [m["location"] for _, _, m in layer.sent] == [PARIS.id]
    now[0] = 101.6  # a second on: everything is looked at
    await demand.publish_watchers([PARIS.id])
    assert [m["location"] for _, _, m in layer.sent] == [PARIS.id, BERLIN.id]
