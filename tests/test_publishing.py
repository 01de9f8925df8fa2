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

from tests.conftest import forecast_at
from weatherstream import publishing as publishing_module
from weatherstream.hub import Hub
from weatherstream.latest import Latest, LatestForecasts
from weatherstream.publishing import HubPublisher, LayerPublisher
from weatherstream.readings import Reading
from weatherstream.subscriptions import forecast_key

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


# Forecasts (issue 15): one frame for all the subscribers of a place's forecast of a kind.


forecast = forecast_at


@pytest.fixture
def forecast_publisher():
    forecasts = LatestForecasts()
    publisher = HubPublisher(Hub(), Latest(), forecast_hub=Hub(), forecasts=forecasts)
    return publisher, forecasts


def test_fan_out_forecast_sends_one_frame_to_the_subscribers_of_its_kind_only(forecast_publisher):
    publisher, forecasts = forecast_publisher
    a, b, daily, readings, elsewhere = Inbox(), Inbox(), Inbox(), Inbox(), Inbox()
    publisher.forecast_hub.add(forecast_key("hourly", "berlin"), a)
    publisher.forecast_hub.add(forecast_key("hourly", "berlin"), b)
    publisher.forecast_hub.add(forecast_key("daily", "berlin"), daily)
    publisher.forecast_hub.add(forecast_key("hourly", "paris"), elsewhere)
    publisher.hub.add("berlin", readings)
    hourly = forecast(value=17.7)
    publisher.fan_out_forecast("berlin", hourly)
    assert len(a.texts) == len(b.texts) == 1
    assert daily.texts == readings.texts == elsewhere.texts == []
    assert a.texts[0] is b.texts[0]  # one frame for all
    assert a.texts[0] is forecasts.frame("berlin", "hourly")  # the one held: made once
    assert json.loads(a.texts[0]) == {"type": "forecast", "location": "berlin", **hourly.to_wire()}
    assert forecasts.get("berlin", "hourly") is hourly
    new_daily = forecast(kind="daily")
    publisher.fan_out_forecast("berlin", new_daily)
    assert [json.loads(t)["kind"] for t in daily.texts] == ["daily"] and len(a.texts) == 1
    assert readings.texts == [] and forecasts.get("berlin", "daily") is new_daily


def test_a_repeated_forecast_is_dropped(forecast_publisher):
    publisher, forecasts = forecast_publisher
    inbox = Inbox()
    publisher.forecast_hub.add(forecast_key("hourly", "berlin"), inbox)
    first = forecast(60, value=1.0)
    publisher.fan_out_forecast("berlin", first)  # nothing held yet
    publisher.fan_out_forecast("berlin", first)  # held already (e.g. again over the layer)
    publisher.fan_out_forecast("berlin", forecast(60, value=1.0))  # an equal one
    publisher.fan_out_forecast("berlin", forecast(0, value=2.0))  # issued earlier
    publisher.fan_out_forecast("berlin", forecast(120, value=3.0, source="simulated"))  # not over a real one
    assert len(inbox.texts) == 1 and forecasts.get("berlin", "hourly") is first
    newer = forecast(120, value=3.0)
    publisher.fan_out_forecast("berlin", newer)
    assert [json.loads(t)["forecast"][0]["temperature"] for t in inbox.texts] == [1.0, 3.0]
    assert forecasts.get("berlin", "hourly") is newer


def test_fan_out_forecast_counts_the_frames_sent(forecast_publisher):
    publisher, _ = forecast_publisher
    for _ in range(3):
        publisher.forecast_hub.add(forecast_key("daily", "berlin"), Inbox())
    publisher.forecast_hub.add(forecast_key("hourly", "berlin"), Inbox())
    frames = sample("weatherstream_frames_sent_total")
    publisher.fan_out_forecast("berlin", forecast(kind="daily"))
    assert sample("weatherstream_frames_sent_total") - frames == 3
    publisher.fan_out_forecast("berlin", forecast(kind="daily"))  # a repeat: nothing sent
    assert sample("weatherstream_frames_sent_total") - frames == 3


def test_fan_out_forecast_to_nobody_here_holds_it(forecast_publisher):
    publisher, forecasts = forecast_publisher
    frames = sample("weatherstream_frames_sent_total")
    daily = forecast(kind="daily")
    publisher.fan_out_forecast("berlin", daily)
    assert forecasts.get("berlin", "daily") is daily  # the next subscriber gets it
    assert forecasts.frame("berlin", "daily") is not None
    assert sample("weatherstream_frames_sent_total") == frames


async def test_publish_forecast_is_a_fan_out(forecast_publisher):
    publisher, forecasts = forecast_publisher
    inbox = Inbox()
    publisher.forecast_hub.add(forecast_key("hourly", "berlin"), inbox)
    hourly = forecast()
    await publisher.publish_forecast("berlin", hourly)
    assert [json.loads(t)["forecast"] for t in inbox.texts] == [list(hourly.items)]
    assert forecasts.get("berlin", "hourly") is hourly


def test_a_hub_publisher_without_forecast_hub_holds_forecasts_of_its_own():
    publisher = HubPublisher(Hub(), Latest())
    hourly = forecast()
    publisher.fan_out_forecast("berlin", hourly)
    assert publisher.forecasts.get("berlin", "hourly") is hourly
    assert publisher.forecast_hub is not publisher.hub


class FakeForecastDemand(FakeDemand):
    """FakeDemand, with forecasts: what was published, to whom, and the forecast of its
    kind the process held at that moment."""

    def __init__(self, latest: Latest, forecasts: LatestForecasts, fail: Exception | None = None):
        super().__init__(latest, fail)
        self.forecasts = forecasts

    async def publish_forecast(self, location_id, forecast, *, to=None):
        held = self.forecasts.get(location_id, forecast.kind)
        self.published.append((location_id, forecast, to, held))
        if self.fail is not None:
            raise self.fail


async def test_the_layer_publisher_holds_the_forecast_then_sends_it_to_the_places_group():
    latest, forecasts = Latest(), LatestForecasts()
    demand = FakeForecastDemand(latest, forecasts)
    publisher = LayerPublisher(demand, latest, forecasts)
    hourly = forecast()
    await publisher.publish_forecast("berlin", hourly)
    assert demand.published == [("berlin", hourly, None, hourly)]  # held before it went out
    assert forecasts.get("berlin", "hourly") is hourly


async def test_a_failing_layer_loses_the_forecast_but_not_the_one_held(caplog):
    latest, forecasts = Latest(), LatestForecasts()
    demand = FakeForecastDemand(latest, forecasts, fail=ConnectionError("redis down"))
    publisher = LayerPublisher(demand, latest, forecasts)
    daily = forecast(kind="daily")
    with caplog.at_level(logging.WARNING, logger="weatherstream.publishing"):
        await publisher.publish_forecast("berlin", daily)  # does not raise
    assert len(demand.published) == 1 and forecasts.get("berlin", "daily") is daily
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "publishing a forecast of berlin failed (redis down)"


async def test_send_latest_sends_a_joining_server_the_held_forecasts_on_its_own_channel():
    latest, forecasts = Latest(), LatestForecasts()
    demand = FakeForecastDemand(latest, forecasts)
    publisher = LayerPublisher(demand, latest, forecasts)
    reading = at(0)
    latest.put("berlin", reading)
    hourly, daily, paris_daily = (
        forecast(kind="hourly"),
        forecast(kind="daily"),
        forecast(kind="daily", value=2.0),
    )
    forecasts.put("berlin", hourly)
    forecasts.put("berlin", daily)
    forecasts.put("paris", paris_daily)  # a forecast held, no reading
    await publisher.send_latest("server-1", ["paris", "nowhere", "berlin"])
    assert [(pid, what, to) for pid, what, to, _ in demand.published] == [
        ("paris", paris_daily, "server-1"),
        ("berlin", reading, "server-1"),
        ("berlin", hourly, "server-1"),
        ("berlin", daily, "server-1"),
    ]


async def test_send_latest_without_forecasts_held_sends_only_readings():
    latest = Latest()
    demand = FakeForecastDemand(latest, LatestForecasts())
    publisher = LayerPublisher(demand, latest)  # forecasts of its own: none held
    latest.put("berlin", at(0))
    await publisher.send_latest("server-1", ["berlin"])
    assert [what for _, what, _, _ in demand.published] == [latest.get("berlin")]
