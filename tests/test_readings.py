from datetime import datetime

import pytest

from weatherstream.readings import WMO_CODES, Reading, summary_for


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
