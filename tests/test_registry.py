"""weatherstream.registry: the places a server process met."""

import asyncio

import pytest

from weatherstream import services
from weatherstream.latest import Latest
from weatherstream.places import Place
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
