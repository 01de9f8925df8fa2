import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from weatherstream.forecasts import (
    DAILY,
    DAILY_FIELDS,
    DAYS,
    HOURLY,
    HOURLY_FIELDS,
    HOURS,
    Forecast,
    Forecasts,
    checked,
    daily_item,
    hourly_item,
    iso,
    local_zone,
    parse_iso,
    supersedes,
)
from weatherstream.places import Place

NOON = datetime(2026, 10, 3, 12, tzinfo=UTC)


def test_at_least_48_hours_and_7_days():
    assert (HOURS, DAYS) == (48, 7)


def test_times_are_iso_utc_with_z_and_read_back():
    berlin = datetime(2026, 10, 3, 14, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert iso(berlin) == "2026-10-03T12:30:00Z"
    assert parse_iso("2026-10-03T12:30:00Z") == datetime(2026, 10, 3, 12, 30, tzinfo=UTC)
    assert parse_iso("2026-10-03T14:30:00+02:00") == datetime(2026, 10, 3, 12, 30, tzinfo=UTC)
    assert parse_iso(iso(berlin)).tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-10-03T12:30:00", "noon", 1790000000, None])
def test_other_times_are_refused(text):
    with pytest.raises(ValueError):
        parse_iso(text)


def test_an_hourly_item_has_every_field_in_wire_order_null_where_unknown():
    item = hourly_item(NOON, temperature=12.5, weather_code=61, is_day=1, wind_direction=270)
    assert list(item) == list(HOURLY_FIELDS)
    assert item["time"] == "2026-10-03T12:00:00Z"
    assert (item["temperature"], item["wind_direction"]) == (12.5, 270.0)
    assert item["weather_code"] == 61 and isinstance(item["weather_code"], int)
    assert item["summary"] == "Slight rain"
    assert item["is_day"] is True
    assert item["feels_like"] is None and item["precipitation_probability"] is None
    assert hourly_item(NOON)["is_day"] is None and hourly_item(NOON)["summary"] is None
    assert hourly_item(NOON, is_day=0)["is_day"] is False


def test_a_daily_item_has_every_field_in_wire_order_with_its_sun_times_in_utc():
    rise = datetime(2026, 10, 3, 7, 36, tzinfo=timezone(timedelta(hours=2)))
    item = daily_item(
        date(2026, 10, 3), sunrise=rise, temperature_max=20.6, weather_code=45, uv_index_max=3.35
    )
    assert list(item) == list(DAILY_FIELDS)
    assert item["date"] == "2026-10-03"
    assert item["sunrise"] == "2026-10-03T05:36:00Z" and item["sunset"] is None
    assert (item["temperature_max"], item["uv_index_max"]) == (20.6, 3.35)
    assert (item["weather_code"], item["summary"]) == (45, "Fog")
    assert item["precipitation_sum"] is None


def test_implausible_or_non_numbers_are_null_and_logged(caplog):
    with caplog.at_level(logging.WARNING):
        item = hourly_item(
            NOON,
            source="test",
            temperature=300,
            precipitation=-1,
            precipitation_probability=101,
            cloud_cover="much",
            wind_speed=float("nan"),
            weather_code=True,
        )
        day = daily_item(date(2026, 10, 3), uv_index_max=30, precipitation_sum=2500, temperature_min=-20)
    assert [item[f] for f in ("temperature", "precipitation", "precipitation_probability")] == [None] * 3
    assert (item["cloud_cover"], item["wind_speed"], item["weather_code"]) == (None, None, None)
    assert (day["uv_index_max"], day["precipitation_sum"], day["temperature_min"]) == (None, None, -20.0)
    assert "test: dropping implausible forecast temperature=300" in caplog.text
    assert "uv_index_max=30" in caplog.text
    assert checked("wind_gusts_max", 600) == 600.0 and checked("wind_gusts_max", 601) is None


def test_unknown_fields_are_a_programming_error():
    with pytest.raises(TypeError, match="humidity"):
        hourly_item(NOON, humidity=50)
    with pytest.raises(TypeError, match="temperature"):
        daily_item(date(2026, 10, 3), temperature=5)


def forecast(kind=HOURLY, issued_at=NOON, source="open-meteo", items=None):
    if items is None:
        items = (hourly_item(NOON, temperature=10),) if kind == HOURLY else (daily_item(NOON.date()),)
    return Forecast(kind, issued_at, source, tuple(items))


def test_a_forecast_checks_its_kind_and_time():
    with pytest.raises(ValueError, match="kind"):
        forecast(kind="weekly")
    with pytest.raises(ValueError, match="aware"):
        forecast(issued_at=datetime(2026, 10, 3, 12))


def test_the_wire_form_and_back():
    f = forecast(DAILY, issued_at=datetime(2026, 10, 3, 14, tzinfo=ZoneInfo("Europe/Berlin")))
    wire = f.to_wire()
    assert wire == {
        "kind": "daily",
        "issued_at": "2026-10-03T12:00:00Z",
        "source": "open-meteo",
        "forecast": [daily_item(NOON.date())],
    }
    assert Forecast.from_wire(wire) == f
    assert f.real and not forecast(source="simulated").real


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"forecast": "x"}, TypeError),
        ({"forecast": [1]}, TypeError),
        ({"kind": "weekly"}, ValueError),
        ({"issued_at": "noon"}, ValueError),
    ],
)
def test_the_wire_form_refuses_other_shapes(change, error):
    with pytest.raises(error):
        Forecast.from_wire({**forecast().to_wire(), **change})
    with pytest.raises(KeyError):
        Forecast.from_wire({"kind": "hourly"})


def test_which_forecast_supersedes_which():
    held = forecast()
    later = forecast(issued_at=NOON + timedelta(hours=1), items=[hourly_item(NOON, temperature=11)])
    assert supersedes(held, None)
    assert supersedes(later, held) and not supersedes(held, later)  # never back in time
    assert not supersedes(forecast(), held)  # the same again
    assert supersedes(forecast(source="met-norway"), held)  # the same time, another source
    assert supersedes(forecast(items=[hourly_item(NOON, temperature=12)]), held)  # other items
    simulated = forecast(source="simulated", issued_at=NOON + timedelta(days=1))
    assert supersedes(held, simulated) and not supersedes(simulated, held)  # real beats simulated


def test_forecasts_of_a_fetch_by_kind():
    both = Forecasts("open-meteo", {HOURLY: forecast(), DAILY: forecast(DAILY)})
    assert both.get(HOURLY).kind == HOURLY and both.get(DAILY).kind == DAILY
    assert Forecasts("open-meteo").get(HOURLY) is None
    assert both.real and not Forecasts("simulated").real


@dataclass
class Row:  # a Location row: a timezone field, maybe empty
    timezone: str


def test_local_days_are_the_places_zone_or_utc(caplog):
    assert local_zone(Place("b", 52.5, 13.4, timezone="Europe/Berlin")) == ZoneInfo("Europe/Berlin")
    assert local_zone(Row("Asia/Kolkata")) == ZoneInfo("Asia/Kolkata")
    assert local_zone(Place("p", 52.5, 13.4)) is UTC  # a point has none
    assert local_zone(object()) is UTC
    assert local_zone(Row(None)) is UTC
    with caplog.at_level(logging.WARNING):
        assert local_zone(Row("Mars/Olympus_Mons")) is UTC
        assert local_zone(Row("../../etc/passwd")) is UTC
    assert "unknown time zone 'Mars/Olympus_Mons'" in caplog.text


def test_a_forecast_covers_the_promised_hours_and_days_or_is_fetched_anew():
    from weatherstream.forecasts import covers

    now = NOON
    hourly = forecast(items=[hourly_item(NOON + timedelta(hours=h)) for h in range(48)])
    assert covers(hourly, now) and not covers(hourly, now + timedelta(hours=1))
    days = [daily_item((NOON + timedelta(days=d)).date()) for d in range(7)]
    daily = forecast(DAILY, items=days)
    assert covers(daily, now) and covers(daily, now + timedelta(days=1))  # a day of slack
    assert not covers(daily, now + timedelta(days=2))
    assert not covers(forecast(items=[]), now)
