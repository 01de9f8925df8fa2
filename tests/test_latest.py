"""Latest: the reading each place holds, which one wins, and its JSON text made once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import forecast_at
from weatherstream import protocol, services
from weatherstream.forecasts import Forecast
from weatherstream.latest import Latest, LatestForecasts
from weatherstream.readings import Reading

T0 = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)


def at(minute: int, source: str = "open-meteo", temperature: float = 1.0) -> Reading:
    return Reading(observed_at=T0 + timedelta(minutes=minute), source=source, temperature=temperature)


@pytest.fixture
def stored(monkeypatch):
    """What the database answers for a place's latest reading (a fake), and how it was
    asked. The tests using it still need the django_db mark: channels' thread hop checks
    the thread's connection."""
    answers: dict[str, Reading] = {}
    asked: list[dict] = []

    def observation_latest(**kwargs):
        asked.append(kwargs)
        return answers.get(kwargs["location_id"])

    monkeypatch.setattr(services, "observation_latest", observation_latest)
    return answers, asked


def test_put_holds_the_reading_and_returns_its_json_text():
    latest, reading = Latest(), at(0, temperature=17.7)
    assert latest.get("berlin") is None and "berlin" not in latest and latest.text("berlin") is None
    text = latest.put("berlin", reading)
    assert json.loads(text) == reading.to_wire()
    assert latest.get("berlin") is reading and "berlin" in latest and latest.ids() == {"berlin"}
    assert latest.text("berlin") is text  # made once, not serialized again


def test_put_replaces_whatever_was_held():
    """put() holds what it is given: which one wins is decided before (is_news, supersedes)."""
    latest = Latest()
    latest.put("berlin", at(10, temperature=1.0))
    older = at(0, temperature=2.0)
    text = latest.put("berlin", older)
    assert latest.get("berlin") is older and latest.text("berlin") is text
    assert json.loads(text)["temperature"] == 2.0


def test_a_stale_readings_text_is_made_anew_so_its_age_moves(monkeypatch):
    now = {"t": T0.timestamp() + 600}
    monkeypatch.setattr("time.time", lambda: now["t"])
    latest = Latest()
    put = json.loads(latest.put("berlin", at(0).as_stale()))
    assert put["stale"] is True and put["age"] == 600
    now["t"] += 90
    assert json.loads(latest.text("berlin"))["age"] == 690
    now["t"] += 10
    assert json.loads(latest.text("berlin"))["age"] == 700


def test_a_fresh_readings_text_is_kept():
    latest = Latest()
    latest.put("berlin", at(0))
    first = latest.text("berlin")
    assert latest.text("berlin") is first
    assert "age" not in json.loads(first)


@pytest.mark.parametrize(
    ("held", "new", "news"),
    [
        (None, at(0), True),  # nothing held
        (at(0), at(15), True),  # newer
        (at(15), at(0), False),  # older
        (at(0), at(0, temperature=9.0), False),  # the same time: nothing newer
        (at(0), at(0).as_stale(), True),  # the held reading marked stale
        (at(0).as_stale(), at(0).as_stale(), False),  # marked stale already
        (at(0).as_stale(), at(0), True),  # the stale one fresh again
        (at(15), at(0).as_stale(), False),  # an older reading marked stale
        (at(0), at(15).as_stale(), True),  # a newer one, even stale
        (at(15, "simulated"), at(0), True),  # a real reading beats a newer simulated one
        (at(0), at(15, "simulated"), False),  # a simulated one never replaces a real one
        (at(0, "simulated"), at(15, "simulated"), True),  # between simulated ones, the newer
        (at(0), at(0, "simulated").as_stale(), False),  # a stale simulated one at the same time
    ],
)
def test_is_news(held, new, news):
    latest = Latest()
    if held is not None:
        latest.put("berlin", held)
    assert latest.is_news("berlin", new) is news
    assert latest.get("berlin") is held  # is_news only says, it holds nothing


def test_forget_drops_the_reading_and_its_text():
    latest = Latest()
    latest.put("berlin", at(0))
    latest.put("paris", at(0))
    latest.forget("berlin")
    latest.forget("nowhere")  # unknown: nothing happens
    assert latest.get("berlin") is None and latest.text("berlin") is None and latest.ids() == {"paris"}


def test_a_forgotten_place_leaves_no_text_behind():
    """The engine's sweep forgets the places nobody watches: memory follows demand."""
    latest = Latest()
    latest.put("berlin", at(0))
    latest.text("berlin")
    latest.forget("berlin")
    assert latest._texts == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("real", "simulated"), [(True, True), (True, False), (False, True)])
async def test_reload_asks_the_database_for_the_kinds_this_process_serves(stored, real, simulated):
    _, asked = stored
    await Latest(real=real, simulated=simulated).reload("berlin")
    assert asked == [{"location_id": "berlin", "real": real, "simulated": simulated}]


@pytest.mark.django_db(transaction=True)
async def test_by_default_reload_takes_up_both_kinds(stored):
    _, asked = stored
    await Latest().reload("berlin")
    assert asked == [{"location_id": "berlin", "real": True, "simulated": True}]


@pytest.mark.django_db(transaction=True)
async def test_reload_takes_up_a_stored_reading_that_supersedes_the_held_one(stored):
    answers, _ = stored
    latest = Latest()
    await latest.reload("berlin")  # nothing stored
    assert "berlin" not in latest
    answers["berlin"] = at(0, temperature=3.0)
    await latest.reload("berlin")
    assert latest.get("berlin") is answers["berlin"]
    latest.put("berlin", at(0, temperature=3.0))
    answers["berlin"] = at(15, temperature=4.0)  # e.g. stored by another poller meanwhile
    await latest.reload("berlin")
    assert latest.get("berlin") is answers["berlin"]
    assert json.loads(latest.text("berlin"))["temperature"] == 4.0  # the old text is gone


@pytest.mark.django_db(transaction=True)
async def test_reload_keeps_the_held_reading_over_an_older_or_the_same_stored_one(stored):
    answers, _ = stored
    latest = Latest()
    held = at(15).as_stale()  # marked stale here; the database only has it fresh
    latest.put("berlin", held)
    answers["berlin"] = at(15)
    await latest.reload("berlin")
    assert latest.get("berlin") is held, "the same reading stays marked stale"
    answers["berlin"] = at(0)
    await latest.reload("berlin")
    assert latest.get("berlin") is held
    real = at(0)
    latest.put("berlin", real)
    answers["berlin"] = at(30, "simulated")
    await latest.reload("berlin")
    assert latest.get("berlin") is real, "a stored simulated reading never replaces a real one"


# LatestForecasts (issue 15): the latest forecast of each kind of each place, and its frame.


forecast = forecast_at


@pytest.fixture
def stored_forecasts(monkeypatch):
    """What the database answers for a place's latest forecast of a kind (a fake), and
    how it was asked. The tests using it need the django_db mark (channels' thread hop)."""
    answers: dict[tuple[str, str], Forecast] = {}
    asked: list[dict] = []

    def forecast_latest(**kwargs):
        asked.append(kwargs)
        return answers.get((kwargs["location_id"], kwargs["kind"]))

    monkeypatch.setattr(services, "forecast_latest", forecast_latest)
    return answers, asked


def test_put_holds_the_forecast_and_returns_its_frame():
    latest, hourly = LatestForecasts(), forecast(value=17.7)
    assert latest.get("berlin", "hourly") is None and latest.frame("berlin", "hourly") is None
    assert latest.ids() == set()
    frame = latest.put("berlin", hourly)
    assert frame == protocol.forecast_frame(location_id="berlin", forecast=hourly.to_wire())
    assert json.loads(frame) == {"type": "forecast", "location": "berlin", **hourly.to_wire()}
    assert latest.get("berlin", "hourly") is hourly and latest.ids() == {"berlin"}
    assert latest.frame("berlin", "hourly") is frame  # made once, not serialized again
    assert latest.get("berlin", "daily") is None and latest.frame("berlin", "daily") is None


def test_the_kinds_of_a_place_are_held_apart():
    latest = LatestForecasts()
    hourly, daily = forecast(kind="hourly"), forecast(kind="daily", value=9.0)
    hourly_frame = latest.put("berlin", hourly)
    daily_frame = latest.put("berlin", daily)
    latest.put("paris", forecast(kind="daily"))
    assert latest.get("berlin", "hourly") is hourly and latest.get("berlin", "daily") is daily
    assert latest.frame("berlin", "hourly") is hourly_frame and latest.frame("berlin", "daily") is daily_frame
    assert json.loads(daily_frame)["kind"] == "daily" and json.loads(hourly_frame)["kind"] == "hourly"
    assert latest.ids() == {"berlin", "paris"}
    assert latest.get("paris", "hourly") is None


def test_put_replaces_whatever_forecast_was_held():
    """put() holds what it is given: which one wins is decided before (is_news)."""
    latest = LatestForecasts()
    latest.put("berlin", forecast(10, value=1.0))
    older = forecast(0, value=2.0)
    frame = latest.put("berlin", older)
    assert latest.get("berlin", "hourly") is older and latest.frame("berlin", "hourly") is frame
    assert json.loads(frame)["forecast"][0]["temperature"] == 2.0


@pytest.mark.parametrize(
    ("held", "new", "news"),
    [
        (None, forecast(0), True),  # nothing held
        (forecast(0), forecast(60, value=2.0), True),  # a newer one that says something else
        (forecast(0), forecast(60), False),  # issued later, saying the same: nothing to send
        (forecast(60), forecast(0, value=2.0), False),  # issued earlier: never
        (forecast(0), forecast(0), False),  # the same forecast again (a repeat)
        (forecast(0), forecast(0, value=2.0), True),  # the same time, other items
        (forecast(0), forecast(0, source="met-norway"), True),  # the same time, another source
        (forecast(60, "simulated"), forecast(0), True),  # a real one beats a newer simulated one
        (forecast(0), forecast(60, "simulated", value=2.0), False),  # never the other way
        (forecast(0, "simulated"), forecast(60, "simulated", value=2.0), True),
        (forecast(0, kind="daily"), forecast(0), True),  # another kind: nothing held of it
    ],
)
def test_forecast_is_news(held, new, news):
    latest = LatestForecasts()
    if held is not None:
        latest.put("berlin", held)
    assert latest.is_news("berlin", new) is news
    assert latest.get("berlin", held.kind if held else "hourly") is held  # it only says
    assert latest.is_news("paris", new) is True  # another place holds nothing


def test_forget_drops_every_kind_of_the_place_and_their_frames():
    latest = LatestForecasts()
    latest.put("berlin", forecast(kind="hourly"))
    latest.put("berlin", forecast(kind="daily"))
    paris = forecast(kind="daily")
    latest.put("paris", paris)
    latest.forget("berlin")
    latest.forget("nowhere")  # unknown: nothing happens
    assert latest.ids() == {"paris"} and latest.get("paris", "daily") is paris
    for kind in ("hourly", "daily"):
        assert latest.get("berlin", kind) is None and latest.frame("berlin", kind) is None
    assert set(latest._frames) == {("paris", "daily")}  # memory follows demand
    assert latest.frame("paris", "daily") is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("real", "simulated"), [(True, True), (True, False), (False, True)])
async def test_reload_asks_the_database_for_each_kind_of_the_sources_this_process_serves(
    stored_forecasts, real, simulated
):
    _, asked = stored_forecasts
    await LatestForecasts(real=real, simulated=simulated).reload("berlin")
    assert asked == [
        {"location_id": "berlin", "kind": "hourly", "real": real, "simulated": simulated},
        {"location_id": "berlin", "kind": "daily", "real": real, "simulated": simulated},
    ]


@pytest.mark.django_db(transaction=True)
async def test_by_default_forecast_reload_takes_up_both_sources(stored_forecasts):
    _, asked = stored_forecasts
    await LatestForecasts().reload("berlin")
    assert [(a["real"], a["simulated"]) for a in asked] == [(True, True), (True, True)]


@pytest.mark.django_db(transaction=True)
async def test_reload_takes_up_stored_forecasts_that_supersede_the_held_ones(stored_forecasts):
    answers, _ = stored_forecasts
    latest = LatestForecasts()
    await latest.reload("berlin")  # nothing stored
    assert latest.ids() == set()
    answers["berlin", "hourly"] = forecast(0, value=3.0)
    answers["berlin", "daily"] = forecast(0, kind="daily")
    await latest.reload("berlin")
    assert latest.get("berlin", "hourly") is answers["berlin", "hourly"]
    assert latest.get("berlin", "daily") is answers["berlin", "daily"]
    assert latest.frame("berlin", "daily") == protocol.forecast_frame(
        location_id="berlin", forecast=answers["berlin", "daily"].to_wire()
    )
    answers["berlin", "hourly"] = forecast(60, value=4.0)  # stored by another poller meanwhile
    await latest.reload("berlin")
    assert latest.get("berlin", "hourly") is answers["berlin", "hourly"]
    assert json.loads(latest.frame("berlin", "hourly"))["forecast"][0]["temperature"] == 4.0


@pytest.mark.django_db(transaction=True)
async def test_reload_keeps_held_forecasts_over_older_the_same_or_simulated_stored_ones(stored_forecasts):
    answers, _ = stored_forecasts
    latest = LatestForecasts()
    held = forecast(60, value=5.0)
    frame = latest.put("berlin", held)
    answers["berlin", "hourly"] = forecast(60, value=5.0)  # the same, stored
    await latest.reload("berlin")
    assert latest.get("berlin", "hourly") is held and latest.frame("berlin", "hourly") is frame
    answers["berlin", "hourly"] = forecast(0, value=9.0)  # issued earlier
    await latest.reload("berlin")
    assert latest.get("berlin", "hourly") is held and latest.frame("berlin", "hourly") is frame
    answers["berlin", "hourly"] = forecast(120, "simulated", value=9.0)
    await latest.reload("berlin")
    assert latest.get("berlin", "hourly") is held, "a stored simulated forecast never replaces a real one"
    assert latest.frame("berlin", "hourly") is frame


def test_recent_keeps_what_was_put_lately_and_says_when_a_mark_is_past_it(monkeypatch):
    from weatherstream import latest as latest_module
    from weatherstream.latest import RECENT, RECENT_SECONDS

    clock = [1000.0]
    monkeypatch.setattr(latest_module.time, "monotonic", lambda: clock[0])
    latest = Latest()
    latest.put("p", at(0))
    mark = latest.mark("p")
    assert latest.recent("p", mark) == [at(0)], "kept, though put before the mark"
    latest.put("p", at(1))
    latest.put("q", at(5))  # another place's
    assert latest.recent("p", mark) == [at(0), at(1)]
    for minute in range(RECENT - 1):
        latest.put("p", at(10 + minute))
    kept = latest.recent("p", mark)
    assert kept is not None and len(kept) == RECENT and kept[0] == at(1), "at most RECENT"
    latest.put("p", at(100))
    assert latest.recent("p", mark) is None, "the first put after the mark is gone"
    mark = latest.mark("p")
    clock[0] += RECENT_SECONDS + 1
    latest.put("p", at(101))
    assert latest.recent("p", mark) == [at(101)], "older than RECENT_SECONDS: dropped"
    latest.forget("p")
    assert latest.mark("p") == 0 and latest.recent("p", 0) == []
