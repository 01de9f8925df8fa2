"""weatherstream.registry: the places a server process met."""

import asyncio
from datetime import UTC, datetime

import pytest

from weatherstream import services
from weatherstream.latest import Latest
from weatherstream.places import Place
from weatherstream.readings import Reading
from weatherstream.registry import PlaceRegistry

pytestmark = pytest.mark.django_db  # database_sync_to_async tidies connections

OSLO = Place("3143244", 59.91, 10.75, name="Oslo", country="NO", region="Norway", timezone="Europe/Oslo")


@pytest.fixture
def stored(monkeypatch):
    calls = []

    def ensure(*, places):
        calls.append([p.id for p in places])

    monkeypatch.setattr(services, "locations_ensure", ensure)
    monkeypatch.setattr(services, "observation_latest", lambda **kwargs: None)
    return calls


async def test_a_place_is_stored_once_however_many_meet_it_at_once(stored):
    registry = PlaceRegistry(Latest())
    await asyncio.gather(*(registry.meet(OSLO) for _ in range(5)))
    await registry.meet(OSLO)
    assert stored == [[OSLO.id]]
    assert dict(registry) == {OSLO.id: OSLO} and registry.meeting() == set()


async def test_forgetting_a_place_forgets_that_it_was_stored_and_its_text(stored):
    registry = PlaceRegistry(Latest())
    await registry.meet(OSLO)
    assert registry.text(OSLO) == (
        '{"id":"3143244","name":"Oslo","country":"NO","region":"Norway","lat":59.91,"lon":10.75,'
        '"timezone":"Europe/Oslo"}'
    )
    registry.forget(OSLO.id)
    assert OSLO.id not in registry and len(registry) == 0
    await registry.meet(OSLO)  # met again: stored again (its row may have been pruned)
    assert stored == [[OSLO.id], [OSLO.id]]
    renamed = Place(OSLO.id, OSLO.latitude, OSLO.longitude, name="Christiania")
    registry.forget(OSLO.id)
    assert '"Christiania"' in registry.text(renamed)  # not the forgotten text


async def test_places_met_at_once_are_each_stored_and_known(stored):
    registry = PlaceRegistry(Latest())
    point = Place("60.39,5.32", 60.39, 5.32, name="60.39, 5.32")
    await asyncio.gather(registry.meet(OSLO), registry.meet(point))
    assert sorted(stored) == sorted([[OSLO.id], [point.id]])
    assert dict(registry) == {OSLO.id: OSLO, point.id: point}


async def test_meeting_a_place_loads_its_latest_stored_reading(stored, monkeypatch):
    reading = Reading(observed_at=datetime(2026, 10, 3, 10, 30, tzinfo=UTC), source="open-meteo")
    asked = []

    def observation_latest(*, location_id, real, simulated):
        asked.append(location_id)
        return reading

    monkeypatch.setattr(services, "observation_latest", observation_latest)
    latest = Latest()
    await PlaceRegistry(latest).meet(OSLO)
    assert asked == [OSLO.id] and latest.get(OSLO.id) is reading


async def test_a_place_whose_reading_failed_to_load_is_met_again_but_not_stored_again(stored, monkeypatch):
    def down(**kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(services, "observation_latest", down)
    registry = PlaceRegistry(Latest())
    with pytest.raises(ConnectionError):
        await registry.meet(OSLO)
    assert OSLO.id not in registry
    monkeypatch.setattr(services, "observation_latest", lambda **kwargs: None)
    await registry.meet(OSLO)
    assert stored == [[OSLO.id]] and dict(registry) == {OSLO.id: OSLO}


def test_adding_a_place_it_knows_keeps_the_one_it_has():
    registry = PlaceRegistry(Latest())
    registry.add(OSLO)
    registry.add(Place(OSLO.id, OSLO.latitude, OSLO.longitude, name="Christiania"))
    assert dict(registry) == {OSLO.id: OSLO}


def test_a_places_text_is_made_once():
    registry = PlaceRegistry(Latest())
    assert registry.text(OSLO) is registry.text(OSLO)


def test_forgetting_a_place_it_never_met_does_nothing():
    """The engine's sweep also forgets places only Latest held."""
    registry = PlaceRegistry(Latest())
    registry.add(OSLO)
    registry.forget("nowhere")
    assert dict(registry) == {OSLO.id: OSLO}
