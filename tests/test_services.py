import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from weatherstream import services, stations
from weatherstream.models import Location, Observation
from weatherstream.models import Station as StationRow
from weatherstream.places import Place
from weatherstream.readings import Reading

pytestmark = pytest.mark.django_db

PLACE = Place(
    id="2950159",
    name="Berlin",
    country="DE",
    region="Germany",
    latitude=52.52,
    longitude=13.41,
    timezone="Europe/Berlin",
    population=3426354,
)


def reading_at(when, temperature=10.0, source="simulated"):
    return Reading(observed_at=when, source=source, temperature=temperature)


def test_locations_are_stored_once():
    services.locations_ensure(places=[PLACE])
    services.locations_ensure(places=[PLACE])
    assert Location.objects.count() == 1
    assert str(Location.objects.get()) == "Berlin, DE"


def test_a_repeated_observation_is_not_stored_twice():
    services.locations_ensure(places=[PLACE])
    t = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    services.observations_record(readings=[(PLACE.id, reading_at(t))])
    assert Observation.objects.count() == 1
    services.observations_record(readings=[(PLACE.id, reading_at(t, 11.0))])
    assert Observation.objects.count() == 1
    services.observations_record(
        readings=[(PLACE.id, reading_at(t)), (PLACE.id, reading_at(t + timedelta(minutes=15)))]
    )
    assert Observation.objects.count() == 2
    # The first stored value is kept: the record is not rewritten by a replay.
    assert Observation.objects.get(observed_at=t).temperature == 10.0


def test_latest_and_history_round_trip():
    services.locations_ensure(places=[PLACE])
    base = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    services.observations_record(
        readings=[(PLACE.id, reading_at(base + timedelta(hours=h), float(h))) for h in range(4)]
    )
    latest = services.observation_latest(location_id=PLACE.id)
    assert latest.temperature == 3.0 and latest.source == "simulated"
    assert latest.observed_at.tzinfo is not None
    recent = services.observations_since(location_id=PLACE.id, since=base + timedelta(minutes=90), limit=100)
    assert [r.temperature for r in recent] == [2.0, 3.0]
    assert [
        r.temperature for r in services.observations_since(location_id=PLACE.id, since=base, limit=2)
    ] == [2.0, 3.0]
    assert services.observation_latest(location_id="nowhere") is None


def test_prune_keeps_recent_rows_and_each_locations_latest():
    other = dataclasses.replace(PLACE, id="1", name="Old")
    services.locations_ensure(places=[PLACE, other])
    now = timezone.now()
    services.observations_record(
        readings=[
            (PLACE.id, reading_at(now - timedelta(days=10))),
            (PLACE.id, reading_at(now - timedelta(hours=1))),
            (other.id, reading_at(now - timedelta(days=20))),
            (other.id, reading_at(now - timedelta(days=30))),
        ]
    )
    assert services.observations_prune(older_than=timedelta(days=7)) == 2
    remaining = sorted((o.location_id, o.observed_at) for o in Observation.objects.all())
    assert [loc for loc, _ in remaining] == ["1", PLACE.id]
    assert services.observation_latest(location_id="1").observed_at > now - timedelta(days=21)


def test_prune_scales_past_a_thousand_locations():
    places = [dataclasses.replace(PLACE, id=f"p{i}", name=f"P{i}") for i in range(1100)]
    services.locations_ensure(places=places)
    now = timezone.now()
    services.observations_record(
        readings=[(p.id, reading_at(now - timedelta(days=d))) for p in places for d in (10, 20)]
    )
    assert services.observations_prune(older_than=timedelta(days=7)) == 1100
    assert Observation.objects.count() == 1100
    assert not Observation.objects.filter(observed_at__lt=now - timedelta(days=15)).exists()


def test_a_stored_location_comes_back_as_the_same_place():
    services.locations_ensure(places=[PLACE])
    services.locations_ensure(places=[dataclasses.replace(PLACE, name="Renamed", population=1)])
    assert services.location_get(location_id=PLACE.id) == PLACE  # every field, the first kept
    assert services.location_get(location_id="nowhere") is None


@pytest.mark.parametrize("vendor", ["default", "mysql"])
def test_every_column_of_a_reading_is_stored_once(reading, vendor, monkeypatch):
    if vendor != "default":  # another database than SQLite or PostgreSQL: the ORM's bulk INSERT
        monkeypatch.setattr(services, "connection", type("Other", (), {"vendor": vendor})())
    services.locations_ensure(places=[PLACE])
    fetched = datetime(2026, 10, 3, 10, 31, 5, tzinfo=UTC)
    later = dataclasses.replace(reading, observed_at=reading.observed_at + timedelta(minutes=15))
    replayed = dataclasses.replace(reading, temperature=99.0)
    services.observations_record(
        readings=[(PLACE.id, reading), (PLACE.id, replayed), (PLACE.id, later)], fetched_at=fetched
    )
    rows = list(Observation.objects.order_by("observed_at"))
    assert [(o.location_id, o.observed_at, o.fetched_at, o.source) for o in rows] == [
        (PLACE.id, reading.observed_at, fetched, "open-meteo"),
        (PLACE.id, later.observed_at, fetched, "open-meteo"),
    ]
    # One reading per (place, time) of a call: the last one given, every measurement as it was.
    assert [Reading.from_observation(o) for o in rows] == [replayed, later]
    services.observations_record(readings=[(PLACE.id, reading)])  # a replay: no error, no change
    assert [Reading.from_observation(o) for o in Observation.objects.order_by("observed_at")] == [
        replayed,
        later,
    ]


def test_an_observation_is_fetched_now_unless_told_otherwise():
    services.locations_ensure(places=[PLACE])
    before = timezone.now()
    services.observations_record(readings=[(PLACE.id, reading_at(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)))])
    assert before <= Observation.objects.get().fetched_at <= timezone.now()
    services.observations_record(readings=[])  # nothing to do: no error, no row
    assert Observation.objects.count() == 1


def test_latest_is_a_real_reading_before_a_newer_simulated_one_and_only_of_the_kinds_asked():
    services.locations_ensure(places=[PLACE])
    t = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    services.observations_record(
        readings=[
            (PLACE.id, reading_at(t, 1.0, "open-meteo")),
            (PLACE.id, reading_at(t + timedelta(minutes=15), 2.0, "open-meteo")),
            (PLACE.id, reading_at(t + timedelta(minutes=30), 3.0)),  # simulated, and newer
        ]
    )

    def latest(**kinds):
        found = services.observation_latest(location_id=PLACE.id, **kinds)
        return found and (found.source, found.temperature)

    assert latest() == latest(real=True, simulated=True) == ("open-meteo", 2.0)
    assert latest(simulated=False) == ("open-meteo", 2.0)
    assert latest(real=False) == ("simulated", 3.0)
    assert latest(real=False, simulated=False) is None
    Observation.objects.exclude(source="simulated").delete()
    assert latest() == latest(real=False) == ("simulated", 3.0)
    assert latest(simulated=False) is None


def test_history_is_of_one_place_from_the_time_given_on():
    other = dataclasses.replace(PLACE, id="1", name="Elsewhere")
    services.locations_ensure(places=[PLACE, other])
    t = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    services.observations_record(
        readings=[(PLACE.id, reading_at(t + timedelta(minutes=m), float(m))) for m in (0, 15, 30)]
        + [(other.id, reading_at(t + timedelta(minutes=m), -1.0)) for m in (0, 15, 30, 45)]
    )
    since = services.observations_since(location_id=PLACE.id, since=t + timedelta(minutes=15), limit=10)
    assert [(r.observed_at, r.temperature) for r in since] == [
        (t + timedelta(minutes=15), 15.0),  # a reading at exactly `since` is in
        (t + timedelta(minutes=30), 30.0),
    ]


def test_points_prune_removes_only_stale_unwatched_points_with_their_observations():
    now = timezone.now()
    ago = {"fresh": timedelta(hours=1), "old": timedelta(days=10)}

    def place(id, created, observed=None):
        p = dataclasses.replace(PLACE, id=id, name=id)
        services.locations_ensure(places=[p])
        Location.objects.filter(id=id).update(created_at=now - ago[created])
        if observed:
            services.observations_record(readings=[(id, reading_at(now - ago[observed]))])

    place("1.00,1.00", "old", observed="old")  # stale: goes, with its observation
    place("2.00,2.00", "old")  # never observed: goes
    place("3.00,3.00", "old")  # watched now: stays
    place("4.00,4.00", "old", observed="fresh")  # observed within the retention: stays
    place("5.00,5.00", "fresh")  # new: stays
    place("2950159", "old", observed="old")  # a city: stays
    assert services.points_prune(older_than=timedelta(days=7), keep=["3.00,3.00"]) == 2
    assert sorted(Location.objects.values_list("id", flat=True)) == [
        "2950159",
        "3.00,3.00",
        "4.00,4.00",
        "5.00,5.00",
    ]
    assert sorted(Observation.objects.values_list("location_id", flat=True)) == ["2950159", "4.00,4.00"]
    assert services.points_prune(older_than=timedelta(days=7)) == 1  # nothing kept: 3.00,3.00 too
    assert services.points_prune(older_than=timedelta(days=7)) == 0


def test_readings_go_in_one_prepared_insert_on_sqlite_and_postgresql():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    services.locations_ensure(places=[PLACE])
    t = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        services.observations_record(
            readings=[(PLACE.id, reading_at(t + timedelta(minutes=m))) for m in (0, 15, 30)]
        )
    [insert] = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert insert.startswith("3 times: INSERT INTO") and insert.endswith("ON CONFLICT DO NOTHING")
    assert Observation.objects.count() == 3


def test_points_prune_removes_at_most_ten_thousand_points_a_call():
    points = [dataclasses.replace(PLACE, id=f"0.00,{i / 100:.2f}", name="") for i in range(10001)]
    services.locations_ensure(places=points)
    Location.objects.update(created_at=timezone.now() - timedelta(days=10))
    assert services.points_prune(older_than=timedelta(days=7)) == 10000
    assert services.points_prune(older_than=timedelta(days=7)) == 1
    assert not Location.objects.exists()


# Forecasts (issue 15): the latest of each kind per place, replaced by the next.


def forecast(kind="hourly", issued=datetime(2026, 11, 24, 6, 0, tzinfo=UTC), source="open-meteo", t=10.0):
    from weatherstream.forecasts import Forecast, daily_item, hourly_item

    if kind == "hourly":
        items = tuple(
            hourly_item(issued + timedelta(hours=h), temperature=t + h, weather_code=3, is_day=h < 2)
            for h in range(3)
        )
    else:
        items = (
            daily_item(
                issued.date(),
                sunrise=issued.replace(hour=6, minute=51),
                sunset=issued.replace(hour=15, minute=58),
                temperature_max=t,
                temperature_min=t - 5,
                weather_code=61,
            ),
        )
    return Forecast(kind=kind, issued_at=issued, source=source, items=items)


def forecast_rows():
    from weatherstream.models import Forecast as ForecastRow

    return sorted((f.location_id, f.kind, f.issued_at, f.source, f.items) for f in ForecastRow.objects.all())


def test_a_forecast_is_stored_with_its_place_added_when_missing():
    assert not Location.objects.exists()
    f = forecast()
    fetched = datetime(2026, 11, 24, 6, 3, tzinfo=UTC)
    services.forecasts_store(items=[(PLACE, f)], fetched_at=fetched)
    assert services.location_get(location_id=PLACE.id) == PLACE
    assert forecast_rows() == [(PLACE.id, "hourly", f.issued_at, "open-meteo", list(f.items))]
    from weatherstream.models import Forecast as ForecastRow

    assert ForecastRow.objects.get().fetched_at == fetched
    services.forecasts_store(items=[])  # nothing to do: no error, no row
    assert ForecastRow.objects.count() == 1


def test_a_forecast_is_fetched_now_unless_told_otherwise():
    from weatherstream.models import Forecast as ForecastRow

    before = timezone.now()
    services.forecasts_store(items=[(PLACE, forecast())])
    assert before <= ForecastRow.objects.get().fetched_at <= timezone.now()


def test_a_stored_place_is_left_as_it_is_when_its_forecast_is_stored():
    services.locations_ensure(places=[PLACE])
    services.forecasts_store(items=[(dataclasses.replace(PLACE, name="Renamed"), forecast())])
    assert services.location_get(location_id=PLACE.id) == PLACE
    assert Location.objects.count() == 1


def test_a_new_forecast_replaces_the_one_stored_for_the_same_place_and_kind():
    first = forecast()
    services.forecasts_store(items=[(PLACE, first)], fetched_at=datetime(2026, 11, 24, 6, 3, tzinfo=UTC))
    later = forecast(issued=first.issued_at + timedelta(hours=1), source="met-norway", t=12.0)
    fetched = datetime(2026, 11, 24, 7, 3, tzinfo=UTC)
    services.forecasts_store(items=[(PLACE, later)], fetched_at=fetched)
    assert forecast_rows() == [(PLACE.id, "hourly", later.issued_at, "met-norway", list(later.items))]
    from weatherstream.models import Forecast as ForecastRow

    assert ForecastRow.objects.get().fetched_at == fetched
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") == later


def test_the_two_kinds_of_a_place_are_stored_apart():
    hourly, daily = forecast("hourly"), forecast("daily", t=3.0)
    services.forecasts_store(items=[(PLACE, hourly), (PLACE, daily)])
    assert [row[:2] for row in forecast_rows()] == [(PLACE.id, "daily"), (PLACE.id, "hourly")]
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") == hourly
    assert services.forecast_latest(location_id=PLACE.id, kind="daily") == daily
    # a new daily forecast leaves the hourly one as it was
    newer = forecast("daily", issued=hourly.issued_at + timedelta(hours=6), t=4.0)
    services.forecasts_store(items=[(PLACE, newer)])
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") == hourly
    assert services.forecast_latest(location_id=PLACE.id, kind="daily") == newer


def test_forecasts_of_several_places_go_in_one_call():
    other = dataclasses.replace(PLACE, id="1", name="Elsewhere")
    a, b = forecast(t=1.0), forecast(t=2.0)
    services.forecasts_store(items=[(PLACE, a), (other, b)])
    assert Location.objects.count() == 2
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") == a
    assert services.forecast_latest(location_id="1", kind="hourly") == b
    # the same place and kind twice in a call: the last one given
    c = forecast(t=3.0)
    services.forecasts_store(items=[(PLACE, b), (PLACE, c)])
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") == c


def test_latest_forecast_is_none_when_none_is_stored():
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") is None
    services.forecasts_store(items=[(PLACE, forecast("hourly"))])
    assert services.forecast_latest(location_id=PLACE.id, kind="daily") is None
    assert services.forecast_latest(location_id="nowhere", kind="hourly") is None


@pytest.mark.parametrize(
    ("source", "real", "simulated", "found"),
    [
        ("open-meteo", True, True, True),
        ("open-meteo", True, False, True),
        ("open-meteo", False, True, False),
        ("open-meteo", False, False, False),
        ("simulated", True, True, True),
        ("simulated", True, False, False),
        ("simulated", False, True, True),
        ("simulated", False, False, False),
    ],
)
def test_latest_forecast_is_only_of_the_kinds_of_source_asked_for(source, real, simulated, found):
    f = forecast(source=source)
    services.forecasts_store(items=[(PLACE, f)])
    latest = services.forecast_latest(location_id=PLACE.id, kind="hourly", real=real, simulated=simulated)
    assert latest == (f if found else None)


def test_a_stored_forecast_comes_back_as_it_was_issued_in_utc():
    from zoneinfo import ZoneInfo

    from weatherstream.forecasts import Forecast

    f = forecast("daily")
    # issued at an aware time of another zone: the same instant comes back, in UTC
    berlin = Forecast(
        kind="daily",
        issued_at=datetime(2026, 11, 24, 7, 0, 0, 250000, tzinfo=ZoneInfo("Europe/Berlin")),
        source="simulated",
        items=f.items,
    )
    services.forecasts_store(items=[(PLACE, berlin)])
    latest = services.forecast_latest(location_id=PLACE.id, kind="daily")
    assert latest == berlin
    assert latest.issued_at.utcoffset() == timedelta(0) and latest.issued_at.tzinfo is UTC
    assert latest.issued_at == datetime(2026, 11, 24, 6, 0, 0, 250000, tzinfo=UTC)
    assert latest.items == f.items and isinstance(latest.items, tuple)
    assert latest.to_wire() == berlin.to_wire()
    assert latest.to_wire()["issued_at"] == "2026-11-24T06:00:00.250000Z"


def test_forecasts_go_with_their_location():
    services.forecasts_store(items=[(PLACE, forecast("hourly")), (PLACE, forecast("daily"))])
    Location.objects.filter(id=PLACE.id).delete()
    assert services.forecast_latest(location_id=PLACE.id, kind="hourly") is None
    assert forecast_rows() == []


@pytest.mark.parametrize("kind", ["hourly", "daily"])
def test_a_stored_forecast_makes_the_same_frame_as_the_one_published(kind):
    """The frame a reconnecting client gets from the record is the one it would have been
    pushed: every item's fields in wire order (a jsonb column keeps no key order)."""
    from weatherstream import protocol
    from weatherstream.forecasts import DAILY_FIELDS, HOURLY_FIELDS

    f = forecast(kind)
    services.forecasts_store(items=[(PLACE, f)])
    latest = services.forecast_latest(location_id=PLACE.id, kind=kind)
    fields = list(HOURLY_FIELDS if kind == "hourly" else DAILY_FIELDS)
    assert all(list(item) == fields for item in latest.items)
    assert protocol.forecast_frame(
        location_id=PLACE.id, forecast=latest.to_wire()
    ) == protocol.forecast_frame(location_id=PLACE.id, forecast=f.to_wire())


# -- stations ------------------------------------------------------------------------------------

GARDEN = Place(id="st-0123456789ab", latitude=52.52, longitude=13.40, name="Garden", country="DE")
ROOF = Place(id="st-00000000beef", latitude=48.86, longitude=2.35, name="roof top", country="FR")
PASSKEY_HASH = stations.passkey_digest("34271334ED1FADA6D8B988B14267E55D")


def test_a_station_is_created_at_its_own_place():
    made = services.station_create(place=GARDEN, key_hash=stations.digest("k"), elevation=34.0)
    assert made.place == GARDEN and made.id == GARDEN.id
    assert made.key_hash == stations.digest("k") and made.elevation == 34.0
    assert made.has_passkey is False and made.created_at is not None
    assert Place.from_fields(Location.objects.get()) == GARDEN
    assert services.station_get(station_id=GARDEN.id) == made


def test_a_station_found_by_its_passkey_digest():
    services.station_create(place=GARDEN, key_hash=stations.digest("k"), passkey_hash=PASSKEY_HASH)
    services.station_create(place=ROOF, key_hash=stations.digest("l"))
    found = services.station_by_passkey(passkey_hash=PASSKEY_HASH)
    assert found is not None and found.id == GARDEN.id and found.has_passkey
    assert services.station_by_passkey(passkey_hash=stations.passkey_digest("other")) is None
    assert services.station_get(station_id=ROOF.id).has_passkey is False


def test_a_taken_passkey_is_refused_and_leaves_no_location_behind():
    services.station_create(place=GARDEN, key_hash=stations.digest("k"), passkey_hash=PASSKEY_HASH)
    with pytest.raises(IntegrityError):
        services.station_create(place=ROOF, key_hash=stations.digest("l"), passkey_hash=PASSKEY_HASH)
    assert list(Location.objects.values_list("id", flat=True)) == [GARDEN.id]


def test_a_taken_id_is_refused():
    services.station_create(place=GARDEN, key_hash=stations.digest("k"))
    with pytest.raises(IntegrityError):
        services.station_create(place=GARDEN, key_hash=stations.digest("l"))
    assert services.station_get(station_id=GARDEN.id).key_hash == stations.digest("k")


def test_unknown_stations_are_none():
    services.locations_ensure(places=[PLACE])  # a city is not a station
    assert services.station_get(station_id="st-000000000000") is None
    assert services.station_get(station_id=PLACE.id) is None


def test_stations_are_listed_by_name():
    attic = dataclasses.replace(GARDEN, id="st-0000000a771c", name="Attic")
    for place in (GARDEN, attic, ROOF):  # neither in the order of their names nor against it
        services.station_create(place=place, key_hash=stations.digest(place.name))
    services.locations_ensure(places=[PLACE])
    assert [s.id for s in services.stations_list()] == [attic.id, GARDEN.id, ROOF.id]


def test_rotating_a_key_replaces_its_digest():
    services.station_create(place=GARDEN, key_hash=stations.digest("k"), passkey_hash=PASSKEY_HASH)
    assert services.station_rotate_key(station_id=GARDEN.id, key_hash=stations.digest("new"))
    row = StationRow.objects.get()
    assert row.key_hash == stations.digest("new") and row.passkey_hash == PASSKEY_HASH
    assert not services.station_rotate_key(station_id="st-000000000000", key_hash=stations.digest("x"))


def test_removing_a_station_removes_its_place_readings_and_forecasts_only():
    services.station_create(place=GARDEN, key_hash=stations.digest("k"))
    services.station_create(place=ROOF, key_hash=stations.digest("l"))
    t = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    services.observations_record(
        readings=[(GARDEN.id, reading_at(t, source="station:" + GARDEN.id)), (ROOF.id, reading_at(t))]
    )
    services.forecasts_store(items=[(GARDEN, forecast("hourly")), (ROOF, forecast("daily"))])
    assert services.station_remove(station_id=GARDEN.id)
    assert services.station_get(station_id=GARDEN.id) is None
    assert not Location.objects.filter(id=GARDEN.id).exists()
    assert list(Observation.objects.values_list("location_id", flat=True)) == [ROOF.id]
    assert [row[0] for row in forecast_rows()] == [ROOF.id]
    assert not services.station_remove(station_id=GARDEN.id)


def test_removing_refuses_a_place_that_is_not_a_station():
    services.locations_ensure(places=[PLACE])
    assert not services.station_remove(station_id=PLACE.id)
    assert Location.objects.filter(id=PLACE.id).exists()


def test_stations_are_searched_by_name_in_any_case():
    services.station_create(place=ROOF, key_hash=stations.digest("l"))
    services.station_create(place=GARDEN, key_hash=stations.digest("k"))
    garden_city = dataclasses.replace(PLACE, id="st-notastation", name="Garden City")
    services.locations_ensure(places=[garden_city, dataclasses.replace(PLACE, name="Gardena")])
    assert services.stations_search(query="GARD", limit=10) == [GARDEN]
    assert services.stations_search(query="o", limit=10) == [ROOF]
    assert services.stations_search(query="", limit=10) == [GARDEN, ROOF]
    assert services.stations_search(query="", limit=1) == [GARDEN]
