"""Updates.deliver: what a polling process does with a fetch's results. What is news is
published and then handed to the recorder; a failure marks the last good reading stale,
once; a real reading is kept over the simulated fallback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from tests.conftest import forecast_at
from weatherstream import services
from weatherstream.forecasts import Forecast, Forecasts
from weatherstream.latest import Latest, LatestForecasts
from weatherstream.places import Place
from weatherstream.providers import ProviderError
from weatherstream.readings import Reading
from weatherstream.updates import ForecastUpdates, Updates

T0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)
BERLIN = Place("berlin", 52.5, 13.4)
PARIS = Place("paris", 48.9, 2.4)
DOWN = ProviderError("HTTP 503")

# The database is a fake (the fixture below), but channels' thread hop checks the
# thread's connection: without the mark, that check would fail as a database outage.
pytestmark = pytest.mark.django_db(transaction=True)


def at(minute: int, source: str = "open-meteo", temperature: float = 1.0) -> Reading:
    return Reading(observed_at=T0 + timedelta(minutes=minute), source=source, temperature=temperature)


class FakePublisher:
    """As both real publishers: hold the update as the place's latest, then send it."""

    def __init__(self, latest: Latest, log: list):
        self.latest, self.log = latest, log

    async def publish(self, place_id, reading):
        self.latest.put(place_id, reading)
        self.log.append(("publish", place_id, reading))


class FakeRecorder:
    def __init__(self, log: list):
        self.log = log

    def add(self, items):
        self.log.append(("store", list(items)))


class Rig:
    def __init__(self, *, reload_unknown: bool = False):
        self.log: list = []  # in order: ("publish", place id, reading), ("store", items)
        self.latest = Latest()
        self.silence = False  # what the runtime's silent() answers
        self.updates = Updates(
            latest=self.latest,
            publisher=FakePublisher(self.latest, self.log),
            recorder=FakeRecorder(self.log),
            silent=lambda reading: self.silence,
            reload_unknown=reload_unknown,
        )

    def published(self):
        return [entry[1:] for entry in self.log if entry[0] == "publish"]

    def stored(self):
        return [entry[1] for entry in self.log if entry[0] == "store"]

    def hold(self, place_id, reading):
        self.latest.put(place_id, reading)


@pytest.fixture
def database(monkeypatch):
    """The stored latest reading of each place (a fake), and the ids asked."""
    stored: dict[str, Reading | Exception] = {}
    asked: list[str] = []

    def observation_latest(*, location_id, real=True, simulated=True):
        asked.append(location_id)
        answer = stored.get(location_id)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(services, "observation_latest", observation_latest)
    return stored, asked


async def test_news_is_published_before_it_is_stored_in_one_batch(database):
    rig = Rig()
    berlin, paris = at(0, temperature=1.0), at(0, temperature=2.0)
    await rig.updates.deliver([(BERLIN, berlin), (PARIS, paris)], None)
    assert rig.log == [
        ("publish", "berlin", berlin),
        ("publish", "paris", paris),
        ("store", [(BERLIN, berlin), (PARIS, paris)]),
    ]
    assert rig.latest.get("berlin") is berlin and rig.latest.get("paris") is paris
    assert database[1] == ["berlin", "paris"], "held nothing: compared with what is stored"


async def test_nothing_newer_is_neither_published_nor_stored(database):
    rig = Rig()
    reading = at(15)
    rig.hold("berlin", reading)
    await rig.updates.deliver([(BERLIN, reading)], None)  # the upstream has nothing newer
    await rig.updates.deliver([(BERLIN, at(15, temperature=9.0))], None)  # the same time
    await rig.updates.deliver([(BERLIN, at(0))], None)  # older
    assert rig.log == []
    assert rig.latest.get("berlin") is reading


async def test_only_the_news_of_a_batch_is_published_and_stored(database):
    rig = Rig()
    rig.hold("berlin", at(15))
    paris = at(0)
    await rig.updates.deliver([(BERLIN, at(15)), (PARIS, paris)], None)
    assert rig.log == [("publish", "paris", paris), ("store", [(PARIS, paris)])]


async def test_a_real_reading_replaces_a_newer_simulated_one(database):
    rig = Rig()
    rig.hold("berlin", at(15, "simulated", 30.0))
    real = at(0, "open-meteo", 5.0)  # older, real
    await rig.updates.deliver([(BERLIN, real)], None)
    assert rig.log == [("publish", "berlin", real), ("store", [(BERLIN, real)])]


async def test_the_simulated_fallback_never_replaces_a_real_reading_it_marks_it_stale_once(database):
    rig = Rig()
    real = at(0, "open-meteo", 5.0)
    rig.hold("berlin", real)
    await rig.updates.deliver([(BERLIN, at(15, "simulated", 30.0))], None)  # the auto fallback
    assert rig.log == [("publish", "berlin", real.as_stale())], "the real one, stale; nothing stored"
    await rig.updates.deliver([(BERLIN, at(30, "simulated", 31.0))], None)
    assert len(rig.log) == 1, "marked stale once"
    assert rig.latest.get("berlin") == real.as_stale()


async def test_a_failure_marks_the_last_good_reading_stale_once(database):
    rig = Rig()
    good = at(0)
    rig.hold("berlin", good)
    for _ in range(3):
        await rig.updates.deliver([(BERLIN, None), (PARIS, None)], DOWN)
    assert rig.log == [("publish", "berlin", good.as_stale())]  # paris: nothing to mark
    assert database[1] == [], "a server's poller does not look in the database for paris"
    fresh = at(15)
    await rig.updates.deliver([(BERLIN, fresh)], None)  # it answers again
    assert rig.published()[-1] == ("berlin", fresh) and rig.stored() == [[(BERLIN, fresh)]]


async def test_a_place_without_a_usable_reading_goes_stale_the_others_are_published(database):
    rig = Rig()
    good = at(0)
    rig.hold("berlin", good)
    paris = at(15)
    await rig.updates.deliver([(BERLIN, None), (PARIS, paris)], None)
    assert rig.log == [
        ("publish", "berlin", good.as_stale()),
        ("publish", "paris", paris),
        ("store", [(PARIS, paris)]),
    ]


async def test_an_old_value_repeated_by_the_upstream_stays_stale(database):
    rig = Rig()
    slot = at(0)
    rig.hold("berlin", slot.as_stale())  # marked stale: the place fell silent
    rig.silence = True
    await rig.updates.deliver([(BERLIN, slot)], None)  # the upstream is stuck on it
    assert rig.log == [] and rig.latest.get("berlin").stale
    rig.silence = False  # the same value, no longer silent (e.g. a longer SILENCE_AFTER)
    await rig.updates.deliver([(BERLIN, slot)], None)
    assert rig.log == [("publish", "berlin", slot), ("store", [(BERLIN, slot)])]


async def test_whether_the_upstream_fell_silent_is_asked_of_the_repeated_reading(database):
    rig = Rig()
    slot = at(0)
    rig.hold("berlin", slot.as_stale())
    asked = []
    rig.updates.silent = lambda reading: asked.append(reading) or True
    await rig.updates.deliver([(BERLIN, slot)], None)
    assert asked == [slot] and rig.log == []


async def test_a_repeated_old_value_holds_back_only_its_own_place(database):
    rig = Rig()
    slot = at(0)
    rig.hold("berlin", slot.as_stale())
    rig.silence = True
    paris = at(15)
    await rig.updates.deliver([(BERLIN, slot), (PARIS, paris)], None)
    assert rig.log == [("publish", "paris", paris), ("store", [(PARIS, paris)])]


async def test_a_place_not_held_is_compared_with_what_is_stored(database):
    """A poller just elected holds nothing: what is stored is not news again."""
    stored, asked = database
    reading = at(0)
    stored["berlin"] = reading
    rig = Rig()
    await rig.updates.deliver([(BERLIN, reading)], None)
    assert asked == ["berlin"] and rig.log == []
    newer = at(15)
    await rig.updates.deliver([(BERLIN, newer)], None)
    assert asked == ["berlin"], "held now: not looked up again"
    assert rig.log == [("publish", "berlin", newer), ("store", [(BERLIN, newer)])]


async def test_a_stored_real_reading_is_kept_over_a_new_pollers_simulated_one(database):
    stored, _ = database
    real = at(0, "open-meteo")
    stored["berlin"] = real
    rig = Rig()
    await rig.updates.deliver([(BERLIN, at(15, "simulated"))], None)
    assert rig.log == [("publish", "berlin", real.as_stale())]


async def test_with_the_database_down_news_still_goes_out(database, caplog):
    stored, _ = database
    stored["berlin"] = ConnectionError("database down")
    rig = Rig()
    reading = at(0)
    with caplog.at_level(logging.WARNING, logger="weatherstream.updates"):
        await rig.updates.deliver([(BERLIN, reading)], None)
    assert rig.log == [("publish", "berlin", reading), ("store", [(BERLIN, reading)])]
    [record] = caplog.records
    assert record.getMessage() == "loading the latest reading of berlin failed (database down)"


@pytest.mark.parametrize("reload_unknown", [True, False])
async def test_a_failure_at_a_place_not_held_marks_what_is_stored_stale_on_a_separate_poller(
    database, reload_unknown
):
    stored, asked = database
    good = at(0)
    stored["berlin"] = good
    rig = Rig(reload_unknown=reload_unknown)
    await rig.updates.deliver([(BERLIN, None)], DOWN)
    if reload_unknown:  # the separate poller: servers may hold it
        assert asked == ["berlin"] and rig.log == [("publish", "berlin", good.as_stale())]
    else:  # a server's embedded poller: it loaded what it serves when it met the place
        assert asked == [] and rig.log == []


# ForecastUpdates.deliver (issue 15): each forecast that changed is published, then stored.


forecast = forecast_at


def fetched(*forecasts: Forecast) -> Forecasts:
    return Forecasts(source=forecasts[0].source, kinds={f.kind: f for f in forecasts})


class FakeForecastPublisher:
    """As both real publishers: hold the forecast as the place's latest of its kind, then
    send it."""

    def __init__(self, latest: LatestForecasts, log: list):
        self.latest, self.log = latest, log

    async def publish(self, place_id, reading):  # pragma: no cover - readings are not delivered here
        raise AssertionError("a forecast poller publishes no reading")

    async def publish_forecast(self, place_id, forecast):
        self.latest.put(place_id, forecast)
        self.log.append(("publish", place_id, forecast))


class ForecastRig:
    def __init__(self, *, real: bool = True, simulated: bool = True):
        self.log: list = []  # in order: ("publish", place id, forecast), ("store", items)
        self.latest = LatestForecasts(real=real, simulated=simulated)
        self.updates = ForecastUpdates(
            latest=self.latest, publisher=FakeForecastPublisher(self.latest, self.log)
        )

    def published(self):
        return [entry[1:] for entry in self.log if entry[0] == "publish"]

    def stored(self):
        return [entry[1] for entry in self.log if entry[0] == "store"]


@pytest.fixture
def forecast_database(monkeypatch):
    """The stored forecasts (a fake): (place id, kind) -> forecast, or an exception to
    raise; what was asked; and what storing raises (None: it stores into the rig's log)."""

    db = SimpleNamespace(stored={}, asked=[], store_error=None, log=None)

    def forecast_latest(*, location_id, kind, real=True, simulated=True):
        db.asked.append((location_id, kind))
        answer = db.stored.get((location_id, kind))
        if isinstance(answer, Exception):
            raise answer
        if answer is not None and not (real if answer.real else simulated):
            return None
        return answer

    def forecasts_store(*, items, fetched_at=None):
        if db.store_error is not None:
            raise db.store_error
        db.log.append(("store", list(items)))

    monkeypatch.setattr(services, "forecast_latest", forecast_latest)
    monkeypatch.setattr(services, "forecasts_store", forecasts_store)
    return db


def rig_on(db, **kwargs) -> ForecastRig:
    rig = ForecastRig(**kwargs)
    db.log = rig.log
    return rig


async def test_new_forecasts_are_published_each_kind_then_stored_in_one_batch(forecast_database):
    rig = rig_on(forecast_database)
    hourly, daily, paris = forecast(kind="hourly"), forecast(kind="daily"), forecast(value=2.0)
    await rig.updates.deliver([(BERLIN, fetched(hourly, daily)), (PARIS, fetched(paris))], None)
    assert rig.log == [
        ("publish", "berlin", hourly),
        ("publish", "berlin", daily),
        ("publish", "paris", paris),
        ("store", [(BERLIN, hourly), (BERLIN, daily), (PARIS, paris)]),
    ]
    assert rig.latest.get("berlin", "hourly") is hourly and rig.latest.get("berlin", "daily") is daily
    assert sorted(forecast_database.asked) == [
        ("berlin", "daily"),
        ("berlin", "hourly"),
        ("paris", "daily"),
        ("paris", "hourly"),
    ], "held nothing: compared with what is stored"


async def test_a_repeated_forecast_is_neither_published_nor_stored(forecast_database):
    rig = rig_on(forecast_database)
    result = fetched(forecast(kind="hourly"), forecast(kind="daily"))
    await rig.updates.deliver([(BERLIN, result)], None)
    del rig.log[:]
    await rig.updates.deliver([(BERLIN, result)], None)  # the upstream has nothing new
    # the same forecasts again, issued later: they say nothing new
    await rig.updates.deliver(
        [(BERLIN, fetched(forecast(60, kind="hourly"), forecast(60, kind="daily")))], None
    )
    await rig.updates.deliver([(BERLIN, fetched(forecast(-60, kind="hourly", value=5.0)))], None)  # older
    assert rig.log == []
    assert rig.latest.get("berlin", "hourly") is result.get("hourly")


async def test_only_the_kind_that_changed_is_published_and_stored(forecast_database):
    rig = rig_on(forecast_database)
    hourly = forecast(kind="hourly")
    await rig.updates.deliver([(BERLIN, fetched(hourly, forecast(kind="daily")))], None)
    del rig.log[:]
    daily = forecast(60, kind="daily", value=7.0)
    await rig.updates.deliver([(BERLIN, fetched(forecast(60, kind="hourly"), daily))], None)
    assert rig.log == [("publish", "berlin", daily), ("store", [(BERLIN, daily)])]
    assert rig.latest.get("berlin", "hourly") is hourly and rig.latest.get("berlin", "daily") is daily


async def test_a_simulated_forecast_never_replaces_a_real_one(forecast_database):
    rig = rig_on(forecast_database)
    real = forecast(0, "open-meteo", value=5.0)
    await rig.updates.deliver([(BERLIN, fetched(real))], None)
    del rig.log[:]
    await rig.updates.deliver(
        [(BERLIN, fetched(forecast(60, "simulated", value=30.0)))], None
    )  # the fallback
    assert rig.log == [] and rig.latest.get("berlin", "hourly") is real
    newer_real = forecast(-60, "met-norway", value=6.0)  # a real one replaces a simulated one, not this
    simulated_rig = rig_on(forecast_database)
    await simulated_rig.updates.deliver([(PARIS, fetched(forecast(60, "simulated")))], None)
    await simulated_rig.updates.deliver([(PARIS, fetched(newer_real))], None)
    assert simulated_rig.published()[-1] == ("paris", newer_real), "a real one beats a newer simulated one"


async def test_a_place_not_held_is_compared_with_its_stored_forecasts(forecast_database):
    """A poller just elected holds nothing: what is stored is not news again."""
    stored = forecast(kind="hourly")
    forecast_database.stored["berlin", "hourly"] = stored
    rig = rig_on(forecast_database)
    await rig.updates.deliver([(BERLIN, fetched(forecast(kind="hourly")))], None)
    assert rig.log == []
    assert forecast_database.asked == [("berlin", "hourly"), ("berlin", "daily")]
    newer = forecast(60, kind="hourly", value=3.0)
    await rig.updates.deliver([(BERLIN, fetched(newer))], None)
    assert len(forecast_database.asked) == 2, "held now: not looked up again"
    assert rig.log == [("publish", "berlin", newer), ("store", [(BERLIN, newer)])]


async def test_a_stored_real_forecast_is_kept_over_a_new_pollers_simulated_one(forecast_database):
    forecast_database.stored["berlin", "hourly"] = forecast(0, "open-meteo")
    rig = rig_on(forecast_database)
    await rig.updates.deliver([(BERLIN, fetched(forecast(60, "simulated", value=9.0)))], None)
    assert rig.log == []


async def test_a_database_failure_while_storing_is_logged_not_raised(forecast_database, caplog):
    rig = rig_on(forecast_database)
    forecast_database.store_error = ConnectionError("database down")
    hourly, daily = forecast(kind="hourly"), forecast(kind="daily")
    with caplog.at_level(logging.WARNING, logger="weatherstream.updates"):
        await rig.updates.deliver([(BERLIN, fetched(hourly, daily))], None)
    assert rig.log == [("publish", "berlin", hourly), ("publish", "berlin", daily)], "clients got them"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "storing 2 forecast(s) failed (database down)"
    forecast_database.store_error = None  # back: the next changed forecast is stored
    newer = forecast(60, kind="hourly", value=4.0)
    await rig.updates.deliver([(BERLIN, fetched(newer))], None)
    assert rig.stored() == [[(BERLIN, newer)]]


async def test_with_the_database_down_changed_forecasts_still_go_out(forecast_database, caplog):
    forecast_database.stored["berlin", "hourly"] = ConnectionError("database down")
    forecast_database.store_error = ConnectionError("database down")
    rig = rig_on(forecast_database)
    hourly = forecast()
    with caplog.at_level(logging.WARNING, logger="weatherstream.updates"):
        await rig.updates.deliver([(BERLIN, fetched(hourly))], None)
    assert rig.log == [("publish", "berlin", hourly)]
    assert [r.getMessage() for r in caplog.records] == [
        "loading the forecasts of berlin failed (database down)",
        "storing 1 forecast(s) failed (database down)",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_places_without_forecasts_are_skipped(forecast_database):
    rig = rig_on(forecast_database)
    held = forecast()
    await rig.updates.deliver([(BERLIN, fetched(held))], None)
    del rig.log[:], forecast_database.asked[:]
    paris = forecast(value=2.0)
    await rig.updates.deliver([(BERLIN, None), (PARIS, fetched(paris))], None)
    assert rig.log == [("publish", "paris", paris), ("store", [(PARIS, paris)])]
    del rig.log[:], forecast_database.asked[:]
    await rig.updates.deliver([(BERLIN, None), (PARIS, None)], DOWN)  # the fetch failed
    assert rig.log == [] and forecast_database.asked == [], "nothing published, stored nor looked up"
    assert rig.latest.get("berlin", "hourly") is held, "the last forecast stays"
    await rig.updates.deliver([(BERLIN, at(0))], None)  # not forecasts: nothing usable
    await rig.updates.deliver([], None)
    assert rig.log == []
