"""Where a process's updates go: HubPublisher (a server's own subscribers) and
LayerPublisher (the separate poller's channel layer). Both hold an update as the place's
latest before sending it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from weatherstream import publishing as publishing_module
from weatherstream.hub import Hub
from weatherstream.latest import Latest
from weatherstream.publishing import HubPublisher, LayerPublisher
from weatherstream.readings import Reading

T0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)


def at(minute: int, temperature: float = 1.0) -> Reading:
    return Reading(observed_at=T0 + timedelta(minutes=minute), source="open-meteo", temperature=temperature)


class Inbox:
    def __init__(self):
        self.texts = []

    def push(self, text, prepared=None):
        self.texts.append(text)

    def weather(self):
        return [json.loads(t)["weather"] for t in self.texts]


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@pytest.fixture
def hub_publisher():
    latest = Latest()
    return HubPublisher(Hub(), latest), latest


def test_fan_out_sends_one_text_to_every_subscriber_of_the_place_and_holds_it(hub_publisher):
    publisher, latest = hub_publisher
    a, b, elsewhere = Inbox(), Inbox(), Inbox()
    publisher.hub.add("berlin", a)
    publisher.hub.add("berlin", b)
    publisher.hub.add("paris", elsewhere)
    reading = at(0, temperature=17.7)
    publisher.fan_out("berlin", reading)
    assert len(a.texts) == len(b.texts) == 1 and elsewhere.texts == []
    assert a.texts[0] is b.texts[0]  # one text for all
    frame = json.loads(a.texts[0])
    assert (frame["type"], frame["location"], frame["weather"]) == ("weather", "berlin", reading.to_wire())
    assert latest.get("berlin") is reading
    assert json.loads(latest.text("berlin")) == reading.to_wire()


def test_fan_out_counts_the_frames_and_times_the_fan_out(hub_publisher):
    publisher, _ = hub_publisher
    for _ in range(3):
        publisher.hub.add("berlin", Inbox())
    frames, fanouts = sample("weatherstream_frames_sent_total"), sample("weatherstream_fanout_seconds_count")
    publisher.fan_out("berlin", at(0))
    assert sample("weatherstream_frames_sent_total") - frames == 3
    assert sample("weatherstream_fanout_seconds_count") - fanouts == 1


def test_fan_out_observes_how_long_it_took(hub_publisher, monkeypatch):
    publisher, _ = hub_publisher
    publisher.hub.add("berlin", Inbox())
    ticks = iter([100.0, 100.25])  # its start, then its end
    monkeypatch.setattr(publishing_module, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    total = sample("weatherstream_fanout_seconds_sum")
    publisher.fan_out("berlin", at(0))
    assert sample("weatherstream_fanout_seconds_sum") - total == pytest.approx(0.25)


def test_fan_out_to_a_place_nobody_watches_here_holds_it_and_counts_nothing(hub_publisher):
    publisher, latest = hub_publisher
    frames, fanouts = sample("weatherstream_frames_sent_total"), sample("weatherstream_fanout_seconds_count")
    reading = at(0)
    publisher.fan_out("berlin", reading)
    assert latest.get("berlin") is reading  # the next subscriber gets it
    assert sample("weatherstream_frames_sent_total") == frames
    assert sample("weatherstream_fanout_seconds_count") == fanouts


async def test_publish_is_a_fan_out(hub_publisher):
    publisher, latest = hub_publisher
    inbox = Inbox()
    publisher.hub.add("berlin", inbox)
    reading = at(0)
    await publisher.publish("berlin", reading)
    assert inbox.weather() == [reading.to_wire()] and latest.get("berlin") is reading


def test_fan_out_if_news_sends_only_what_is_not_held(hub_publisher):
    publisher, latest = hub_publisher
    inbox = Inbox()
    publisher.hub.add("berlin", inbox)
    first = at(15, temperature=1.0)
    publisher.fan_out_if_news("berlin", first)  # nothing held yet
    publisher.fan_out_if_news("berlin", first)  # held already
    publisher.fan_out_if_news("berlin", at(0, temperature=2.0))  # older
    assert inbox.weather() == [first.to_wire()] and latest.get("berlin") is first
    publisher.fan_out_if_news("berlin", first.as_stale())  # the poller marked it stale
    publisher.fan_out_if_news("berlin", first.as_stale())
    newer = at(30, temperature=3.0)
    publisher.fan_out_if_news("berlin", newer)
    assert [w["stale"] for w in inbox.weather()] == [False, True, False]
    assert latest.get("berlin") is newer


class FakeDemand:
    """The channel layer's side of the poller (bus.LayerDemand): what was published, to
    whom, and what the process held as the place's latest at that moment."""

    def __init__(self, latest: Latest, fail: Exception | None = None):
        self.latest = latest
        self.fail = fail
        self.published = []

    async def publish(self, location_id, reading, *, to=None):
        self.published.append((location_id, reading, to, self.latest.get(location_id)))
        if self.fail is not None:
            raise self.fail


async def test_the_layer_publisher_holds_the_update_then_sends_it_to_the_places_group():
    latest = Latest()
    demand = FakeDemand(latest)
    publisher = LayerPublisher(demand, latest)
    reading = at(0)
    await publisher.publish("berlin", reading)
    assert demand.published == [("berlin", reading, None, reading)]  # held before it went out
    assert latest.get("berlin") is reading


async def test_a_failing_layer_loses_the_update_but_not_the_latest_reading(caplog):
    latest = Latest()
    demand = FakeDemand(latest, fail=ConnectionError("redis down"))
    publisher = LayerPublisher(demand, latest)
    reading = at(0)
    with caplog.at_level(logging.WARNING, logger="weatherstream.publishing"):
        await publisher.publish("berlin", reading)  # does not raise
    assert len(demand.published) == 1 and latest.get("berlin") is reading
    [record] = caplog.records
    assert record.getMessage() == "publishing an update of berlin failed (redis down)"


async def test_send_latest_sends_a_joining_server_what_is_held_on_its_own_channel():
    latest = Latest()
    demand = FakeDemand(latest)
    publisher = LayerPublisher(demand, latest)
    berlin, paris = at(0), at(15).as_stale()
    latest.put("berlin", berlin)
    latest.put("paris", paris)
    await publisher.send_latest("server-1", ["paris", "nowhere", "berlin"])
    assert [(pid, r, to) for pid, r, to, _ in demand.published] == [
        ("paris", paris, "server-1"),
        ("berlin", berlin, "server-1"),
    ]
