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
