import asyncio
import dataclasses
import json
import time

import pytest

from tests.upstream import FakeOpenMeteo, coordinate
from weatherstream import services
from weatherstream.conf import get_config
from weatherstream.engine import Engine, poll_interval
from weatherstream.geocoding import OpenMeteoGeocoder, get_geocoder
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
    engine.subscriptions.config = {**engine.config, "DEMAND_GRACE": 0}
    assert engine.demand() == []


def test_poll_interval_defaults_and_floors():
    simulated, public = SimulatedProvider(), OpenMeteoProvider()
    assert poll_interval({"POLL_INTERVAL": None}, simulated) == 60
    assert poll_interval({"POLL_INTERVAL": 1}, simulated) == 1
    assert poll_interval({"POLL_INTERVAL": None}, public) == 900
    assert poll_interval({"POLL_INTERVAL": 3600}, public) == 3600
    # Asked more often, Open-Meteo's current values still change every 15 minutes: the
    # place is fetched when they do (the rhythm), and clients are told so.
    assert poll_interval({"POLL_INTERVAL": 5}, public) == 900
    custom = OpenMeteoProvider(url="http://127.0.0.1:9/v1/forecast")
    assert poll_interval({"POLL_INTERVAL": 5}, custom) == 900


def _reading(minutes_ago, source, temperature=1.0):
    from datetime import timedelta

    from django.utils import timezone

    from weatherstream.readings import Reading

    when = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return Reading(observed_at=when, source=source, temperature=temperature)


async def test_a_simulated_reading_never_replaces_a_real_one_it_marks_it_stale(engine):
    place = get_geocoder().resolve("Vienna")
    inbox = Inbox()
    await engine.subscribe(place, inbox)
    await engine.updates.deliver([(place, _reading(14, "open-meteo", 5.0))], None)
    await engine.updates.deliver([(place, _reading(0, "simulated", 30.0))], None)  # the auto fallback
    held = engine.latest.get(place.id)
    assert (held.source, held.temperature, held.stale) == ("open-meteo", 5.0, True)
    assert not [f for f in inbox.frames if '"simulated"' in f], inbox.frames
    assert await engine.recorder.flush()  # the recorder's task stores in the background
    rows = await asyncio.to_thread(
        lambda: list(services.Observation.objects.values_list("source", flat=True))
    )
    assert rows == ["open-meteo"]


@pytest.mark.parametrize(
    ("provider", "stored", "served"),
    [
        ("open-meteo", ["simulated", "open-meteo"], "open-meteo"),  # the simulated one is newer
        ("open-meteo", ["simulated"], None),  # a strict real provider never serves it
        ("auto", ["simulated", "open-meteo"], "open-meteo"),
        ("auto", ["simulated"], "simulated"),  # marked, while nothing real is known
        ("simulated", ["open-meteo", "simulated"], "simulated"),  # the demo shows its own
    ],
)
async def test_a_new_process_takes_up_the_stored_reading_its_provider_serves(provider, stored, served):
    place = get_geocoder().resolve("Lisbon")
    await asyncio.to_thread(services.locations_ensure, places=[place])
    # The first source listed is the newest stored reading.
    readings = [(place.id, _reading(i * 10, source)) for i, source in enumerate(stored)]
    await asyncio.to_thread(services.observations_record, readings=readings)
    engine = Engine({**get_config(), "PROVIDER": provider, "POLL_INTERVAL": 3600, "UPSTREAM_BUDGET": None})
    try:
        inbox = Inbox()
        held = await engine.subscribe(place, inbox)
        assert (held.source if held else None) == served
        frame = engine.subscribed(place, 1)
        assert ('"simulated"' in frame) == (served == "simulated"), frame
    finally:
        await engine.stop()


def test_with_the_simulated_provider_nothing_goes_online_unless_asked():
    base = {**get_config(), "ONLINE_GEOCODING": None}
    assert online(Engine, {**base, "PROVIDER": "simulated"}) is False
    assert online(Engine, {**base, "PROVIDER": "open-meteo"}) is True
    assert online(Engine, {**base, "PROVIDER": "simulated", "ONLINE_GEOCODING": True}) is True


def online(cls, config):
    async def build():
        engine = cls(config)
        try:
            return any(isinstance(g, OpenMeteoGeocoder) for g in engine.geocoders.geocoders)
        finally:
            await engine.stop()

    return asyncio.run(build())


async def test_places_nobody_watches_leave_memory_and_points_leave_the_database(engine, monkeypatch):
    from datetime import timedelta

    from weatherstream.models import Location

    engine.subscriptions.config = {**engine.config, "DEMAND_GRACE": 0, "NEW_PLACES_PER_HOUR": None}
    # The engine's memory is under test here: its per-place look-ups skip the database
    # (one thread hop each), and the places are stored below in one go.
    real_ensure = services.locations_ensure
    monkeypatch.setattr(services, "observation_latest", lambda **kwargs: None)
    monkeypatch.setattr(services, "locations_ensure", lambda **kwargs: None)
    berlin = get_geocoder().resolve("Berlin")
    kept = Inbox()
    await engine.subscribe(berlin, kept)
    n = 20_000
    template = get_geocoder().at(0.0, 0.0)
    points = [
        dataclasses.replace(template, id=f"{lat:.2f},{lon:.2f}", latitude=lat, longitude=lon)
        for i in range(n)
        for lat, lon in [(-60 + (i // 600) * 0.05, -170 + (i % 600) * 0.05)]
    ]
    assert len({p.id for p in points}) == n
    inbox = Inbox()
    for chunk in range(0, n, 1000):
        batch = points[chunk : chunk + 1000]
        await asyncio.gather(*(engine.subscribe(p, inbox) for p in batch))
        for p in batch:
            engine.unsubscribe(p.id, inbox)
    assert len(engine.places) == n + 1
    engine.demand()  # the grace period (0 s) is over
    engine.sweep()
    assert set(engine.places) == {berlin.id} and engine.latest.ids() <= {berlin.id}
    await asyncio.to_thread(real_ensure, places=[berlin, *points])
    rows = await asyncio.to_thread(Location.objects.count)
    assert rows == n + 1
    # Nobody watched them for the retention period: the points go, the city stays.
    removed = 0
    while batch_removed := await asyncio.to_thread(
        services.points_prune, older_than=timedelta(0), keep={berlin.id}
    ):
        removed += batch_removed
    assert removed == n
    assert await asyncio.to_thread(lambda: list(Location.objects.values_list("id", flat=True))) == [berlin.id]


async def test_a_silent_place_is_marked_stale_by_the_server_itself(engine):
    import json
    import time

    place = get_geocoder().resolve("Vienna")
    inbox = Inbox()
    await engine.subscribe(place, inbox)
    await engine.updates.deliver([(place, _reading(0, "open-meteo", 5.0))], None)
    now = time.time()
    assert engine.mark_silence(now) == 0
    assert engine.mark_silence(now + 2 * engine.interval) == 0  # not yet two intervals overdue
    assert engine.mark_silence(now + 2 * engine.interval + 10) == 1
    frame = json.loads(inbox.frames[-1])
    assert frame["weather"]["stale"] is True and frame["weather"]["temperature"] == 5.0
    assert engine.mark_silence(now + 3 * engine.interval) == 0, "once, not at every sweep"
    await engine.updates.deliver([(place, _reading(0, "open-meteo", 6.0))], None)  # the same time, fresh
    assert json.loads(inbox.frames[-1])["weather"]["stale"] is False


async def test_hello_names_the_source_in_use_under_auto():
    import json

    engine = Engine({**get_config(), "PROVIDER": "auto", "UPSTREAM_BUDGET": None})
    try:
        assert json.loads(engine.hello().text)["provider"] == "open-meteo"
        engine.chain.offline_since = 0.0  # the network is gone: simulated readings, marked
        assert json.loads(engine.hello().text)["provider"] == "simulated"
        engine.chain.offline_since = None
        assert json.loads(engine.hello().text)["provider"] == "open-meteo"
    finally:
        await engine.stop()


async def test_a_sweep_during_a_subscribe_keeps_the_place(engine, monkeypatch):
    engine.subscriptions.config = {**engine.config, "DEMAND_GRACE": 0}
    place = get_geocoder().resolve("Oslo")
    reached = asyncio.Event()
    go_on = asyncio.Event()
    real_meet = engine.places.meet

    async def slow_meet(p):  # a subscribe paused between its look-up and registering
        await real_meet(p)
        reached.set()
        await go_on.wait()

    monkeypatch.setattr(engine.places, "meet", slow_meet)
    subscribing = asyncio.create_task(engine.subscribe(place, Inbox()))
    await asyncio.wait_for(reached.wait(), 5)
    engine.sweep()
    go_on.set()
    await asyncio.wait_for(subscribing, 5)
    assert place.id in engine.places and [p.id for p in engine.demand()] == [place.id]


async def test_a_new_poller_does_not_let_a_simulated_reading_replace_a_stored_real_one():
    place = get_geocoder().resolve("Lisbon")
    await asyncio.to_thread(services.locations_ensure, places=[place])
    await asyncio.to_thread(services.observations_record, readings=[(place.id, _reading(10, "open-meteo"))])
    engine = Engine({**get_config(), "PROVIDER": "auto", "UPSTREAM_BUDGET": None})
    try:
        assert place.id not in engine.latest  # as on a poller just elected
        await engine.updates.deliver([(place, _reading(0, "simulated", 30.0))], None)  # its network is down
        assert engine.latest.get(place.id).source == "open-meteo" and engine.latest.get(place.id).stale
    finally:
        await engine.stop()


async def test_silence_allows_for_the_upstreams_own_rhythm_and_a_repeated_old_value_stays_stale():
    import time

    engine = Engine({**get_config(), "PROVIDER": "open-meteo", "POLL_INTERVAL": 300, "UPSTREAM_BUDGET": None})
    try:
        place = get_geocoder().resolve("Vienna")
        inbox = Inbox()
        await engine.subscribe(place, inbox)
        # A healthy 15-minute slot, fetched 14 minutes into it: not silence.
        slot = _reading(14, "open-meteo")
        await engine.updates.deliver([(place, slot)], None)
        assert engine.mark_silence() == 0
        # 2 intervals (never below Open-Meteo's 15 minutes) + the 15-minute resolution
        # later, nothing new: silence.
        assert engine.interval == 900
        later = time.time() + 2 * 900 + 900 - 14 * 60 + 10
        assert engine.mark_silence(later) == 1
    finally:
        await engine.stop()


async def test_an_upstream_repeating_an_old_value_leaves_it_marked_stale():
    import json

    engine = Engine({**get_config(), "PROVIDER": "open-meteo", "SILENCE_AFTER": 60, "UPSTREAM_BUDGET": None})
    try:
        place = get_geocoder().resolve("Vienna")
        inbox = Inbox()
        await engine.subscribe(place, inbox)
        slot = _reading(5, "open-meteo")  # five minutes old: past SILENCE_AFTER
        await engine.updates.deliver([(place, slot)], None)
        assert engine.mark_silence() == 1
        await engine.updates.deliver([(place, slot)], None)  # the upstream is stuck on it
        assert json.loads(inbox.frames[-1])["weather"]["stale"] is True
        assert engine.latest.get(place.id).stale
        await engine.updates.deliver([(place, _reading(0, "open-meteo"))], None)  # something new
        assert json.loads(inbox.frames[-1])["weather"]["stale"] is False
    finally:
        await engine.stop()


# -- forecasts --------------------------------------------------------------------------


async def test_one_forecast_fetch_per_model_run_for_100_subscribers_one_frame_for_all():
    """100 subscribers of Berlin's forecasts, against the loopback Open-Meteo: one fetch
    when they come, none while no model run is newer, one more when one is (600 s after it
    became available), and every subscriber gets the very same frame text each time."""
    upstream = FakeOpenMeteo().start()
    config = {
        **get_config(),
        "PROVIDER": "open-meteo",
        "OPEN_METEO_URL": upstream.url,
        "POLL_INTERVAL": 3600,
        "FORECAST_INTERVAL": 0.2,
        "UPSTREAM_BUDGET": None,
    }
    engine = Engine(config)
    place = get_geocoder().resolve("Berlin")
    where = coordinate(place.latitude, place.longitude)
    inboxes = [Inbox() for _ in range(100)]
    try:
        for inbox in inboxes:
            await engine.subscribe(place, inbox)
            await engine.watch_forecast(place, ["hourly", "daily"], inbox)
        polling = asyncio.create_task(engine.forecast_poller.run())

        async def frames(count):
            async with asyncio.timeout(10):
                while any(len(forecast_frames(i)) < count for i in inboxes):
                    await asyncio.sleep(0.02)
            return [forecast_frames(i) for i in inboxes]

        first = await frames(2)
        assert len(upstream.forecast_fetches(where)) == 1
        assert all(f[0] is first[0][0] and f[1] is first[0][1] for f in first)  # one text for all
        await asyncio.sleep(1.0)  # five forecast intervals: no newer run, no fetch, no frame
        assert len(upstream.forecast_fetches(where)) == 1
        assert all(len(forecast_frames(i)) == 2 for i in inboxes)

        upstream.model_run_at = time.time() - 600.5  # a new run, on every server by now
        upstream.warming = 2.0
        second = await frames(4)
        await asyncio.sleep(1.0)
        assert len(upstream.forecast_fetches(where)) == 2
        assert all(len(forecast_frames(i)) == 4 for i in inboxes)
        assert all(f[2] is second[0][2] and f[3] is second[0][3] for f in second)
        hourly = [json.loads(t) for t in second[0] if '"kind":"hourly"' in t]
        assert hourly[1]["forecast"][0]["temperature"] == hourly[0]["forecast"][0]["temperature"] + 2.0
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
    finally:
        await engine.stop()
        upstream.stop()


def forecast_frames(inbox):
    return [t for t in inbox.frames if t.startswith('{"type":"forecast"')]


async def test_readings_and_forecasts_of_500_places_share_the_free_tier_stretched_alike():
    """Both pollers spend Open-Meteo's one budget: each stretches for its own calls and the
    other's share, so that over a simulated day of rounds no window of any period holds more
    than its limit, and both keep their ratio (forecasts 4 times rarer than readings)."""
    free = {"minute": 600, "hour": 5000, "day": 10000}
    engine = Engine(
        {**get_config(), "PROVIDER": "open-meteo", "UPSTREAM_BUDGET": free, "POLL_INTERVAL": None}
    )
    try:
        assert engine.interval == 900 and engine.forecasting.shares_budget
        readings = engine.chain.stretch(500, engine.forecasts_share(500))
        forecasts = engine.forecasting.stretch(500, engine.readings_share(500))
        assert readings > engine.chain.stretch(500)  # 5,029 s without forecasts: they take a share
        assert forecasts / readings == pytest.approx(4, rel=0.1)
        sent = [(i * readings, 550.0) for i in range(int(86_400 * 2 / readings) + 1)]
        sent += [(i * forecasts, 1000.0) for i in range(int(86_400 * 2 / forecasts) + 1)]
        # (A minute's limit is kept request by request: the budget refuses a batch over it,
        # and the poller retries it when the budget allows; rounds here are whole.)
        for period, limit in ((3600, 5000), (86_400, 10_000)):
            most = max(sum(c for t, c in sent if start <= t < start + period) for start, _ in sent)
            assert most <= limit, (period, most)
        # The pollers ask for these shares as they go.
        inbox = Inbox()
        place = get_geocoder().resolve("Lyon")
        await engine.subscribe(place, inbox)
        await engine.watch_forecast(place, ["daily"], inbox)
        assert engine.poller.shared() == engine.forecasts_share(1) == pytest.approx(2.0 * 900 / 3600)
        assert engine.forecast_poller.shared() == engine.readings_share(1) == pytest.approx(1.1 * 3600 / 900)
    finally:
        await engine.stop()


async def test_a_provider_without_a_budget_gives_no_share():
    engine = Engine({**get_config(), "PROVIDER": "simulated"})
    try:
        assert engine.chain.stretch(500, engine.forecasts_share(500)) == 0.0
        assert engine.forecasting.stretch(500, engine.readings_share(500)) == 0.0
    finally:
        await engine.stop()


async def test_a_layer_failure_while_announcing_forecast_demand_is_a_warning_not_an_error(caplog):
    engine = Engine({**get_config(), "POLLER": "off"})
    try:

        async def down(place):
            raise ConnectionError("redis is restarting")

        async def joined(place):
            engine.link.joined[place.id] = 0.0

        engine.link.watch = joined  # (not started: no layer channel of its own)
        engine.link.want_forecast = down
        place = get_geocoder().resolve("Porto")
        inbox = Inbox()
        await engine.subscribe(place, inbox)
        with caplog.at_level("WARNING"):
            frames = await engine.watch_forecast(place, ["hourly"], inbox)
        assert frames == [] and engine.subscriptions.forecast_hub.count(f"hourly:{place.id}") == 1
        assert "redis is restarting" in caplog.text and all(r.exc_info is None for r in caplog.records)
        # The next heartbeat announces it: the place is in the forecast demand.
        assert place.id in engine.subscriptions.forecast_watched()
    finally:
        await engine.stop()


async def test_the_forecast_poller_leaves_the_readings_gauges_alone():
    from weatherstream import metrics

    engine = Engine({**get_config(), "POLL_INTERVAL": 60})
    try:
        place = get_geocoder().resolve("Graz")
        inbox = Inbox()
        await engine.subscribe(place, inbox)
        await engine.watch_forecast(place, ["daily"], inbox)
        metrics.EFFECTIVE_INTERVAL.set(60.0)
        task = asyncio.create_task(engine.forecast_poller.run())
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert engine.forecasts.get(place.id, "daily") is not None  # it ran
        assert metrics.EFFECTIVE_INTERVAL._value.get() == 60.0  # not its 3,600 s
    finally:
        await engine.stop()


# -- stations -----------------------------------------------------------------------------


async def _station(name="Garden", lat=47.123, lon=8.456):
    from weatherstream import stations
    from weatherstream.places import Place

    place = Place(id=stations.new_id(), latitude=lat, longitude=lon, name=name, timezone="Europe/Zurich")
    await asyncio.to_thread(services.station_create, place=place, key_hash=stations.digest("k"))
    return place


def _station_reading(place, seconds_ago, temperature):
    from datetime import UTC, datetime, timedelta

    from weatherstream.places import station_source
    from weatherstream.readings import Reading

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return Reading(observed_at=at, source=station_source(place.id), temperature=temperature)


async def test_an_upload_reaches_subscribers_at_once_and_is_stored_once(engine):
    place = await _station()
    inbox = Inbox()
    assert await engine.resolve(station=place.id.upper()) == place  # ids are read in any case
    await engine.subscribe(place, inbox)
    reading = _station_reading(place, 5, 11.5)
    assert await engine.upload(place, reading) is True
    frame = json.loads(inbox.frames[-1])
    assert frame["type"] == "weather" and frame["location"] == place.id
    assert frame["weather"]["temperature"] == 11.5 and frame["weather"]["source"] == f"station:{place.id}"
    assert await engine.upload(place, reading) is False  # a repeat: sent to nobody
    older = _station_reading(place, 60, 9.0)
    assert await engine.upload(place, older) is False  # older than the latest: stored, not sent
    assert len(inbox.frames) == 1
    assert await engine.recorder.flush()
    stored = await asyncio.to_thread(
        services.observations_since, location_id=place.id, since=older.observed_at, limit=10
    )
    assert [(r.observed_at, r.temperature) for r in stored] == [
        (older.observed_at, 9.0),
        (reading.observed_at, 11.5),
    ]


async def test_a_station_is_never_fetched_from_an_upstream(engine):
    place = await _station()
    await engine.subscribe(place, Inbox())
    assert [p.id for p in engine.watched_places()] == [place.id]
    assert engine.demand() == []  # the pollers' demand: readings are uploaded
    assert engine.poller.requests == 0
    assert await engine.current(place) is None  # nothing uploaded yet: no fetch either
    assert engine.poller.requests == 0


async def test_an_unknown_or_non_station_id_is_unknown_station(engine):
    from weatherstream.places import UnknownStation

    berlin = get_geocoder().resolve("Berlin")
    await engine.subscribe(berlin, Inbox())  # a place the engine holds, but no station
    for wrong in ("st-000000000000", berlin.id, "52.52,13.41", ""):
        with pytest.raises(UnknownStation):
            await engine.resolve(station=wrong)


async def test_a_silent_station_is_marked_stale_after_its_own_setting(engine):
    engine.config = {**engine.config, "STATION_SILENCE_AFTER": 120.0}
    place = await _station()
    inbox = Inbox()
    await engine.subscribe(place, inbox)
    await engine.upload(place, _station_reading(place, 0, 4.0))
    now = time.time()
    assert engine.silence_after(place.id) == 120.0 and engine.silence_after() > 3600  # a city's: intervals
    assert engine.mark_silence(now + 100) == 0
    assert engine.mark_silence(now + 130) == 1
    frame = json.loads(inbox.frames[-1])
    assert frame["weather"]["stale"] is True and frame["weather"]["temperature"] == 4.0
    assert (await engine.current(place)).stale  # the API says so too


async def test_a_stored_station_reading_is_taken_up_on_a_simulated_server():
    engine = Engine({**get_config(), "PROVIDER": "simulated"})  # takes up no stored real reading...
    try:
        place = await _station()
        await asyncio.to_thread(services.observations_store, items=[(place, _station_reading(place, 5, 7.0))])
        inbox = Inbox()
        reading = await engine.subscribe(place, inbox)
        assert reading is not None and reading.temperature == 7.0  # ...but a station's
    finally:
        await engine.stop()


async def test_with_a_layer_an_upload_goes_to_the_location_group_once():
    engine = Engine({**get_config(), "POLLER": "off"})
    try:
        sent = []

        async def publish(location_id, reading):
            sent.append((location_id, reading.temperature))

        engine.link.publish = publish
        place = await _station()
        assert await engine.upload(place, _station_reading(place, 1, 3.0)) is True
        assert sent == [(place.id, 3.0)]
        assert engine.latest.get(place.id).temperature == 3.0  # held here too, for the next compare
        assert await engine.upload(place, _station_reading(place, 1, 3.0)) is False
        assert sent == [(place.id, 3.0)]
    finally:
        await engine.stop()


@pytest.fixture
async def layered():
    """A server with a channel layer (each test gives ``link.publish``), a station that a
    subscriber here watches, and the temperatures its recorder stores."""
    engine = Engine({**get_config(), "POLLER": "off"})
    try:
        place = await _station()

        async def joined(place):
            engine.link.joined[place.id] = 0.0

        engine.link.watch = joined
        here = Inbox()
        await engine.subscribe(place, here)
        stored = []

        async def store(items):
            stored.extend(reading.temperature for _, reading in items)

        engine.recorder.store = store
        yield engine, place, here, stored
    finally:
        await engine.stop()


def _temperatures(inbox):
    return [json.loads(f)["weather"]["temperature"] for f in inbox.frames]


async def test_with_a_layer_an_upload_goes_to_the_other_processes_before_the_local_fan_out(layered):
    """The other processes' fan-outs run while this one's does, not after it; and the
    layer's echo, when it comes back first, fans out here once."""
    engine, place, here, _ = layered
    frames_when_published = []

    async def publish(location_id, reading):
        frames_when_published.append(len(here.frames))

    engine.link.publish = publish
    assert await engine.upload(place, _station_reading(place, 2, 3.0)) is True
    assert frames_when_published == [0]  # the layer came first
    assert _temperatures(here) == [3.0]

    async def echoed(location_id, reading):  # the echo is handled before publish returns
        engine.link.on_update(location_id, reading)

    engine.link.publish = echoed
    assert await engine.upload(place, _station_reading(place, 1, 4.0)) is True
    assert _temperatures(here) == [3.0, 4.0]


async def test_with_the_layer_stalled_an_upload_reaches_local_subscribers_and_is_kept(layered):
    engine, place, here, stored = layered
    released = asyncio.Event()

    async def stalled(location_id, reading):  # Redis stopped: no answer until released
        await released.wait()

    engine.link.publish = stalled
    uploading = asyncio.create_task(engine.upload(place, _station_reading(place, 1, 5.0)))
    try:
        async with asyncio.timeout(2):
            while not (here.frames and stored):
                await asyncio.sleep(0.01)
        assert _temperatures(here) == [5.0] and stored == [5.0]
        assert not uploading.done()  # the answer waits for the layer, as before
        released.set()
        assert await uploading is True
    finally:
        uploading.cancel()


async def test_an_upload_whose_request_is_cancelled_is_still_published_and_stored(layered, caplog):
    """Django's handler cancels a view whose client hung up: an upload once begun is
    carried through all the same, and its layer's failure logged."""
    engine, place, here, stored = layered
    looked_up, failing = asyncio.Event(), asyncio.Event()
    meet = engine.places.meet

    async def slow_meet(place):  # the station's latest reading, from a slow database
        await looked_up.wait()
        await meet(place)

    async def fails_later(location_id, reading):
        await failing.wait()
        raise ConnectionError("redis went away")

    engine.places.meet = slow_meet
    engine.link.publish = fails_later
    uploading = asyncio.create_task(engine.upload(place, _station_reading(place, 1, 6.0)))
    await asyncio.sleep(0.01)
    uploading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await uploading
    looked_up.set()
    with caplog.at_level("WARNING"):
        async with asyncio.timeout(2):
            while not (here.frames and stored):
                await asyncio.sleep(0.01)
            failing.set()
            while engine._uploads:
                await asyncio.sleep(0.01)
    assert _temperatures(here) == [6.0] and stored == [6.0]
    assert "redis went away" in caplog.text and all(r.exc_info is None for r in caplog.records)


async def test_with_the_layer_down_an_upload_still_reaches_local_subscribers(layered, caplog):
    engine, place, here, _ = layered

    async def down(location_id, reading):
        raise ConnectionError("redis is restarting")

    engine.link.publish = down
    with caplog.at_level("WARNING"):
        assert await engine.upload(place, _station_reading(place, 1, 2.0)) is True
    assert _temperatures(here) == [2.0]
    assert "redis is restarting" in caplog.text and all(r.exc_info is None for r in caplog.records)


async def test_with_the_database_down_an_upload_is_published_and_kept_for_storing(
    engine, monkeypatch, caplog
):
    from django.db import OperationalError

    place = await _station()
    inbox = Inbox()
    await engine.subscribe(place, inbox)
    engine.places.forget(place.id)  # as after a sweep: the next upload meets it again

    def down(**kwargs):
        raise OperationalError("the database is restarting")

    monkeypatch.setattr(services, "locations_ensure", down)
    monkeypatch.setattr(services, "observations_store", down)
    with caplog.at_level("WARNING"):
        assert await engine.upload(place, _station_reading(place, 1, 1.5)) is True
    assert json.loads(inbox.frames[-1])["weather"]["temperature"] == 1.5
    assert not await engine.recorder.flush() and len(engine.recorder.pending) == 1  # kept, retried
    assert "the database is restarting" in caplog.text and all(r.exc_info is None for r in caplog.records)


async def test_a_resume_replays_what_the_writer_stored_while_it_looked(engine, monkeypatch):
    """The writer stores queued readings and drops them from its queue while the replay's
    query runs on a snapshot taken before: neither alone has them, both together do."""
    from datetime import timedelta

    place = await _station()
    first, second = _station_reading(place, 20, 1.0), _station_reading(place, 10, 2.0)
    engine.recorder.pending[(place.id, first.observed_at)] = (place, first)
    engine.recorder.pending[(place.id, second.observed_at)] = (place, second)
    engine.latest.put(place.id, second)
    engine.places.add(place)

    def snapshot_before_the_commit(**kwargs):
        engine.recorder.pending.clear()  # committed meanwhile, and dropped from the queue
        return []

    monkeypatch.setattr(services, "observations_after", snapshot_before_the_commit)
    _, missed = await engine.resume(place, Inbox(), first.observed_at - timedelta(minutes=1))
    assert [r.temperature for r in missed] == [1.0, 2.0]


async def test_a_stored_reading_a_resume_finds_reaches_the_others_once_though_its_layer_message_is_late():
    from datetime import timedelta

    engine = Engine({**get_config(), "POLLER": "off"})
    try:

        async def joined(place):
            engine.link.joined[place.id] = 0.0

        engine.link.watch = joined
        place = await _station()
        older, newer = _station_reading(place, 30, 1.0), _station_reading(place, 5, 2.0)
        watching = Inbox()
        await engine.subscribe(place, watching)
        engine.publisher.fan_out(place.id, older)
        # Another process took `newer`, published it and stored it; its layer message is late.
        await asyncio.to_thread(services.observations_store, items=[(place, older), (place, newer)])
        resuming = Inbox()
        _, missed = await engine.resume(place, resuming, older.observed_at - timedelta(seconds=1))
        assert [r.temperature for r in missed] == [1.0, 2.0] and resuming.frames == []  # replayed only
        engine.link.on_update(place.id, newer)  # the late layer message
        temperatures = [json.loads(f)["weather"]["temperature"] for f in watching.frames]
        assert temperatures == [1.0, 2.0], "the one already watching: each once"
        assert resuming.frames == [], "the resumed one: not again, live"
    finally:
        await engine.stop()


async def test_watched_stations_take_no_share_of_the_forecasts_budget(engine):
    place = await _station()
    await engine.subscribe(place, Inbox())
    assert engine.forecast_poller.shared() == engine.readings_share(0)
    await engine.subscribe(get_geocoder().resolve("Lyon"), Inbox())
    assert engine.forecast_poller.shared() == engine.readings_share(1)


async def test_a_resume_of_a_silent_place_leaves_it_stale_for_the_others(engine):
    from datetime import timedelta

    place = await _station()
    reading = _station_reading(place, 600, 3.0)
    await asyncio.to_thread(services.observations_store, items=[(place, reading)])
    watching = Inbox()
    await engine.subscribe(place, watching)
    engine.publisher.fan_out(place.id, reading.as_stale())  # marked silent
    _, missed = await engine.resume(place, Inbox(), reading.observed_at - timedelta(seconds=1))
    assert [(r.temperature, r.stale) for r in missed] == [(3.0, True)], "as held: stale"
    assert [json.loads(f)["weather"]["stale"] for f in watching.frames] == [True], "not made fresh again"


def _publishing_while_looking_up(engine, place, readings):
    """A stand-in for the resume's query that, as a slow one under load would, lets the
    loop publish ``readings`` before it answers (with nothing stored)."""
    loop = asyncio.get_running_loop()

    async def publish():
        for reading in readings:
            engine.publisher.fan_out(place.id, reading)

    def observations_after(**kwargs):
        asyncio.run_coroutine_threadsafe(publish(), loop).result(5)
        return []

    return observations_after


async def test_a_resume_replays_every_reading_published_while_it_looked(engine, monkeypatch):
    """Neither stored nor queued when the look-up began, and the held latest is only the
    last of them: each comes from the readings kept since the look-up's mark."""
    from datetime import timedelta

    place = await _station()
    engine.places.add(place)
    readings = [_station_reading(place, 40 - 10 * i, float(i)) for i in range(4)]
    monkeypatch.setattr(services, "observations_after", _publishing_while_looking_up(engine, place, readings))
    _, missed = await engine.resume(place, Inbox(), readings[0].observed_at - timedelta(seconds=1))
    assert [r.temperature for r in missed] == [0.0, 1.0, 2.0, 3.0]


async def test_a_resume_that_more_were_published_during_than_are_kept_is_not_recovered(engine, monkeypatch):
    from datetime import timedelta

    from weatherstream.latest import RECENT

    place = await _station()
    engine.places.add(place)
    readings = [_station_reading(place, 2 * RECENT - i, float(i)) for i in range(RECENT + 1)]
    monkeypatch.setattr(services, "observations_after", _publishing_while_looking_up(engine, place, readings))
    _, missed = await engine.resume(place, Inbox(), readings[0].observed_at - timedelta(seconds=1))
    assert missed is None, "the oldest published meanwhile is no longer kept: a gap, said so"


async def test_a_storm_of_resumes_from_one_reading_shares_its_look_ups(engine, monkeypatch):
    """A server restart makes every subscriber of a place resume from the same reading at
    once: they share look-ups (each begun after its callers asked), not one query each."""
    import time as _time
    from datetime import timedelta

    place = await _station()
    stored = [_station_reading(place, 30 - 10 * i, float(i)) for i in range(3)]
    await asyncio.to_thread(services.observations_store, items=[(place, r) for r in stored])
    real, calls = services.observations_after, []

    def slow(**kwargs):
        calls.append(kwargs)
        _time.sleep(0.05)
        return real(**kwargs)

    monkeypatch.setattr(services, "observations_after", slow)
    since = stored[0].observed_at - timedelta(seconds=1)
    results = await asyncio.gather(*(engine.resume(place, Inbox(), since) for _ in range(50)))
    assert all([r.temperature for r in missed] == [0.0, 1.0, 2.0] for _, missed in results)
    assert 1 <= len(calls) <= 2, f"{len(calls)} queries for 50 resumes of one place from one reading"


async def test_later_resumes_from_one_reading_take_up_its_look_up_with_what_came_since(monkeypatch):
    """Each subscriber of a place resumes from the same reading after a restart, over the
    whole storm: one query, then what was published here since its mark; none once the
    place was forgotten here (readings may have passed by unseen meanwhile)."""
    from datetime import timedelta

    from weatherstream.latest import RECENT

    engine = Engine({**get_config(), "POLL_INTERVAL": 3600})
    engine.subscriptions.config = {**engine.config, "DEMAND_GRACE": 0}
    inboxes = [Inbox() for _ in range(4)]
    try:
        place = await _station()
        stored = [_station_reading(place, 300 - 10 * i, float(i)) for i in range(2)]
        await asyncio.to_thread(services.observations_store, items=[(place, r) for r in stored])
        real, calls = services.observations_after, []

        def counting(**kwargs):
            calls.append(kwargs)
            return real(**kwargs)

        monkeypatch.setattr(services, "observations_after", counting)
        since = stored[0].observed_at - timedelta(seconds=1)
        _, missed = await engine.resume(place, inboxes[0], since)
        assert [r.temperature for r in missed] == [0.0, 1.0] and len(calls) == 1
        engine.publisher.fan_out(place.id, _station_reading(place, 200, 2.0))
        _, missed = await engine.resume(place, inboxes[1], since)
        assert [r.temperature for r in missed] == [0.0, 1.0, 2.0] and len(calls) == 1, "no query"
        for i in range(RECENT):
            engine.publisher.fan_out(place.id, _station_reading(place, 190 - i, 3.0 + i))
        await engine.resume(place, inboxes[2], since)
        assert len(calls) == 2, "more came than are kept: looked up again"
        for inbox in inboxes[:3]:
            engine.unsubscribe(place.id, inbox)
        engine.demand()
        engine.sweep()
        assert place.id not in engine.places
        await engine.resume(place, inboxes[3], since)
        assert len(calls) == 3, "forgotten meanwhile: looked up again"
    finally:
        await engine.stop()


async def test_a_resume_includes_what_this_process_holds_before_the_database_has_it(engine, monkeypatch):
    """A separate poller publishes a tick's readings, then stores them: a server can hold
    a reading the database does not have yet, and a newer one after it."""
    from datetime import timedelta

    place = await _station()
    engine.places.add(place)
    older, newer = _station_reading(place, 20, 1.0), _station_reading(place, 10, 2.0)
    engine.publisher.fan_out(place.id, older)  # over the layer; not stored yet anywhere
    engine.publisher.fan_out(place.id, newer)
    monkeypatch.setattr(services, "observations_after", lambda **kwargs: [])
    _, missed = await engine.resume(place, Inbox(), older.observed_at - timedelta(seconds=1))
    assert [r.temperature for r in missed] == [1.0, 2.0]


async def test_a_resumes_look_up_is_taken_up_again_only_for_a_while(engine, monkeypatch):
    from datetime import timedelta

    from weatherstream import engine as engine_module

    place = await _station()
    reading = _station_reading(place, 30, 1.0)
    await asyncio.to_thread(services.observations_store, items=[(place, reading)])
    real, calls = services.observations_after, []
    monkeypatch.setattr(services, "observations_after", lambda **kw: calls.append(kw) or real(**kw))
    since = reading.observed_at - timedelta(seconds=1)
    await engine.resume(place, Inbox(), since)
    await engine.resume(place, Inbox(), since)
    assert len(calls) == 1
    monkeypatch.setattr(engine_module, "LOOKUP_REUSE", 0.0)
    _, missed = await engine.resume(place, Inbox(), since)
    assert len(calls) == 2 and [r.temperature for r in missed] == [1.0], "too old: looked up again"


async def test_a_started_engine_is_shared_and_a_failed_or_cancelled_start_is_tried_again(monkeypatch):
    from weatherstream import engine as engine_module

    starts = []

    async def start():
        starts.append(len(starts) + 1)
        return f"engine {starts[-1]}"

    monkeypatch.setattr(engine_module, "_start_engine", start)
    loop = asyncio.get_running_loop()
    cancelled = loop.create_future()
    cancelled.cancel()
    failed = loop.create_future()
    failed.set_exception(RuntimeError("the index did not load"))
    try:
        engine_module._engines[loop] = cancelled
        assert await engine_module.get_engine() == "engine 1"
        assert await engine_module.get_engine() == "engine 1", "started: the same, not started again"
        engine_module._engines[loop] = failed
        assert await engine_module.get_engine() == "engine 2"
        assert starts == [1, 2]
    finally:
        engine_module._engines.pop(loop, None)
