"""The Prometheus metrics: what a scrape shows, how several processes' values combine
through PROMETHEUS_MULTIPROC_DIR, and what moves the metrics no other module's tests
look at (frames and fan-out: test_publishing; upstream requests, circuit and lag:
test_poller)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.clock import FakeClock
from weatherstream import metrics
from weatherstream.conf import DEFAULTS, get_config
from weatherstream.engine import Engine
from weatherstream.places import Place
from weatherstream.poller import Poller
from weatherstream.providers import WeatherProvider
from weatherstream.providers.simulated import simulate
from weatherstream.readings import Reading
from weatherstream.recorder import Recorder
from weatherstream.upstream import load_chain

T0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)

FAMILIES = {
    "weatherstream_connections": "gauge",
    "weatherstream_subscriptions": "gauge",
    "weatherstream_frames_sent": "counter",
    "weatherstream_fanout_seconds": "histogram",
    "weatherstream_upstream_requests": "counter",
    "weatherstream_upstream_calls": "counter",
    "weatherstream_upstream_request_seconds": "histogram",
    "weatherstream_effective_interval_seconds": "gauge",
    "weatherstream_poller_lag_seconds": "gauge",
    "weatherstream_circuit_open": "gauge",
    "weatherstream_watched_locations": "gauge",
    "weatherstream_storage_buffered": "gauge",
    "weatherstream_storage_dropped": "counter",
    "weatherstream_silence_stale_frames": "counter",
}


def families(text: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Inbox:
    def push(self, text, prepared=None):
        pass


def at(minute: int) -> Reading:
    return Reading(observed_at=T0 + timedelta(minutes=minute), source="open-meteo", temperature=1.0)


def test_a_scrape_shows_every_metric_with_its_type(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    load_chain({**DEFAULTS, "PROVIDER": ["open-meteo", "simulated"]})  # as a runtime starts
    text, content_type = metrics.exposition()
    assert content_type == CONTENT_TYPE_LATEST
    shown = families(text)
    assert {name: shown[name].type for name in FAMILIES if name in shown} == FAMILIES
    outcomes = {
        s.labels["outcome"]
        for s in shown["weatherstream_upstream_requests"].samples
        if s.labels["provider"] == "open-meteo"
    }
    assert outcomes == {"ok", "error", "refused"}, "every outcome present from the start"


def test_a_scrape_shows_the_current_values(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    before = value("weatherstream_silence_stale_frames_total")
    metrics.STALE_MARKED.inc(3)
    [sample] = [
        s
        for s in families(metrics.exposition()[0])["weatherstream_silence_stale_frames"].samples
        if s.name.endswith("_total")
    ]
    assert sample.value == before + 3


WORKER = textwrap.dedent(
    """
    import sys
    from weatherstream import metrics

    frames, connections, lag = sys.argv[1:]
    metrics.FRAMES.inc(int(frames))
    metrics.CONNECTIONS.inc(int(connections))
    metrics.POLLER_LAG.set(float(lag))
    metrics.FANOUT_SECONDS.observe(0.002)
    """
)


def test_several_processes_values_are_combined_through_the_shared_directory(tmp_path, monkeypatch):
    shared = tmp_path / "not" / "there" / "yet"  # a poller on a machine of its own: made at import
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for args in (["2", "1", "1.5"], ["3", "4", "0.5"]):
        subprocess.run([sys.executable, "-c", WORKER, *args], env=env, check=True, timeout=60)
    assert shared.is_dir() and len(os.listdir(shared)) >= 2
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    shown = families(metrics.exposition()[0])

    def sample(family: str, name: str) -> float:
        [value] = [s.value for s in shown[family].samples if s.name == name]
        return value

    # Not this process's values: only what the two workers wrote.
    assert sample("weatherstream_frames_sent", "weatherstream_frames_sent_total") == 5  # summed
    assert sample("weatherstream_connections", "weatherstream_connections") == 5  # livesum
    assert sample("weatherstream_poller_lag_seconds", "weatherstream_poller_lag_seconds") == 1.5  # max
    assert sample("weatherstream_fanout_seconds", "weatherstream_fanout_seconds_count") == 2


async def test_the_recorder_counts_what_waits_and_what_it_drops():
    down = {"yes": True}

    async def store(items):
        if down["yes"]:
            raise ConnectionError("database down")

    recorder = Recorder(limit=2, store=store)
    dropped = value("weatherstream_storage_dropped_total")
    place = Place("berlin", 52.5, 13.4)
    try:
        recorder.add([(place, at(0)), (place, at(15)), (place, at(30))])
        assert value("weatherstream_storage_buffered") == 2  # the limit: the oldest dropped
        assert value("weatherstream_storage_dropped_total") - dropped == 1
        assert await recorder.flush() is False
        assert value("weatherstream_storage_buffered") == 2
        down["yes"] = False
        assert await recorder.flush() is True
        assert value("weatherstream_storage_buffered") == 0
        assert value("weatherstream_storage_dropped_total") - dropped == 1
    finally:
        await recorder.close()


async def test_the_watched_locations_gauge_is_what_the_poller_was_asked_for():
    demand = [Place(str(i), i, i) for i in range(3)]

    class Provider(WeatherProvider):
        name = "fake"

        async def fetch(self, places):
            return [simulate(p.latitude, p.longitude, T0.timestamp()) for p in places]

    async def deliver(results, error):
        pass

    clock = FakeClock()
    poller = Poller(provider=Provider(), interval=60, demand=lambda: demand, deliver=deliver, clock=clock)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.02)
        assert value("weatherstream_watched_locations") == 3
        demand.pop()
        poller.request("0")  # wakes it for another turn
        await asyncio.sleep(0.02)
        assert value("weatherstream_watched_locations") == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_each_place_a_server_marks_stale_itself_is_counted():
    engine = Engine({**get_config(), "POLL_INTERVAL": 60, "SILENCE_AFTER": 120})
    try:
        now = T0.timestamp() + 121 * 60  # both readings are more than two minutes old
        for place_id in ("berlin", "paris"):
            engine.subscriptions.add(place_id, Inbox())
            engine.latest.put(place_id, at(0))
        engine.latest.put("rome", at(0))  # nobody watches it here: not marked
        before = value("weatherstream_silence_stale_frames_total")
        assert engine.mark_silence(now) == 2
        assert value("weatherstream_silence_stale_frames_total") - before == 2
        assert engine.mark_silence(now) == 0  # marked already
        assert value("weatherstream_silence_stale_frames_total") - before == 2
    finally:
        await engine.stop()
