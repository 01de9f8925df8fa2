import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from weatherstream import services
from weatherstream.models import Location, Observation
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
