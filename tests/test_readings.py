from datetime import datetime

import pytest

from tests.conftest import load_fixture
from weatherstream.readings import PLAUSIBLE, WMO_CODES, Reading, plausible, summary_for


def test_wire_round_trip(reading):
    assert Reading.from_wire(reading.to_wire()) == reading
    stale = reading.as_stale()
    assert stale.to_wire()["stale"] is True
    assert Reading.from_wire(stale.to_wire()) == stale


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        Reading(observed_at=datetime(2026, 1, 1), source="x")


def test_summaries_cover_the_wmo_table():
    assert summary_for(0) == "Clear sky"
    assert summary_for(95) == "Thunderstorm"
    assert summary_for(None) is None
    assert summary_for(42) == "Weather code 42"
    assert all(isinstance(k, int) and v for k, v in WMO_CODES.items())


def _at(minute, source="open-meteo", stale=False):
    from datetime import UTC

    return Reading(observed_at=datetime(2026, 12, 1, 12, minute, tzinfo=UTC), source=source, stale=stale)


def test_a_real_reading_beats_a_simulated_one_whatever_their_times():
    from weatherstream.readings import supersedes

    assert supersedes(_at(0), _at(59, "simulated"))  # older, but real
    assert not supersedes(_at(59, "simulated"), _at(0))  # newer, but simulated
    assert not supersedes(_at(59, "simulated"), _at(0, stale=True))  # not even a stale real one


def test_between_readings_of_one_kind_the_later_wins():
    from weatherstream.readings import supersedes

    assert supersedes(_at(15), None)
    assert supersedes(_at(15), _at(0))
    assert not supersedes(_at(0), _at(15))
    assert not supersedes(_at(15), _at(15))  # the same reading again: nothing new
    assert supersedes(_at(15), _at(15, stale=True))  # the upstream is back: fresh again
    assert not supersedes(_at(15, stale=True), _at(15))
    assert supersedes(_at(15, "met-norway"), _at(0, "open-meteo"))  # real sources by time
    assert supersedes(_at(15, "simulated"), _at(0, "simulated"))


def test_rain_and_snow_codes_for_sleet_have_words():
    assert summary_for(68) == "Slight rain or drizzle and snow"
    assert summary_for(69) == "Moderate or heavy rain or drizzle and snow"
    assert summary_for(83) == "Slight showers of rain and snow mixed"
    assert summary_for(84) == "Moderate or heavy showers of rain and snow mixed"


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("temperature", -100.0, True),
        ("temperature", 70.0, True),
        ("temperature", 70.1, False),
        ("temperature", -100.1, False),
        ("humidity", 100.0, True),
        ("humidity", 100.5, False),
        ("pressure", 849.9, False),
        ("wind_speed", -0.1, False),
        ("wind_speed", float("nan"), False),
        ("is_day", 1.0, True),  # no bounds: any finite value
        ("is_day", float("inf"), False),
    ],
)
def test_plausible(field, value, ok):
    assert plausible(field, value) is ok


def test_one_set_of_bounds_for_every_provider(monkeypatch):
    from weatherstream.providers.metno import parse_compact
    from weatherstream.providers.openmeteo import parse_current

    open_meteo = load_fixture("open-meteo/forecast_current.json")
    met_norway = load_fixture("met-norway/compact_built_from_schema.json")
    assert parse_current(open_meteo).humidity == 66
    assert parse_compact(met_norway).humidity == 82.1
    monkeypatch.setitem(PLAUSIBLE, "humidity", (0.0, 50.0))
    assert parse_current(open_meteo).humidity is None
    assert parse_compact(met_norway).humidity is None
