from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from weatherstream import services, stations
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Location, Observation, Station
from weatherstream.places import Place
from weatherstream.providers.simulated import simulate

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return client


@pytest.fixture
def observation():
    berlin = get_geocoder().resolve("Berlin")
    services.locations_ensure(places=[berlin])
    reading = simulate(berlin.latitude, berlin.longitude, datetime(2026, 11, 24, 9, tzinfo=UTC).timestamp())
    services.observations_record(readings=[(berlin.id, reading)])
    return Observation.objects.get()


def test_observations_are_listed_and_filtered_by_source_and_location(admin_client, observation):
    url = "/admin/weatherstream/observation/"
    page = admin_client.get(url, {"source": "simulated", "location__id__exact": observation.location_id})
    assert page.status_code == 200 and "Berlin" in page.content.decode()
    other = admin_client.get(url, {"source": "open-meteo"})
    assert other.status_code == 200 and "0 observations" in other.content.decode()


def test_observations_cannot_be_added_or_edited(admin_client, observation):
    assert admin_client.get("/admin/weatherstream/observation/add/").status_code == 403
    change = f"/admin/weatherstream/observation/{observation.pk}/change/"
    view = admin_client.get(change)
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert admin_client.post(change, {"temperature": 99}).status_code == 403
    observation.refresh_from_db()
    assert observation.temperature != 99


def test_a_location_keeps_its_coordinates(admin_client, observation):
    assert admin_client.get("/admin/weatherstream/location/add/").status_code == 403
    page = admin_client.get(f"/admin/weatherstream/location/{observation.location_id}/change/")
    assert page.status_code == 200
    assert 'name="latitude"' not in page.content.decode()  # shown, not editable
    assert Location.objects.get().latitude == pytest.approx(52.52, abs=0.01)


# -- stations: listed, never keyed here ---------------------------------------------------------

PASSKEY = "34271334ED1FADA6D8B988B14267E55D"


@pytest.fixture
def station():
    key = stations.new_key()
    place = Place(id=stations.new_id(), latitude=52.52, longitude=13.40, name="Garden", country="DE")
    services.station_create(
        place=place,
        key_hash=stations.digest(key),
        passkey_hash=stations.passkey_digest(PASSKEY),
        elevation=34,
    )
    return place, key


def test_the_station_list_shows_no_key_or_digest(admin_client, station):
    place, key = station
    page = admin_client.get("/admin/weatherstream/station/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Garden" in html and place.id in html and "52.52" in html
    for secret in (key, stations.digest(key), PASSKEY, stations.passkey_digest(PASSKEY)):
        assert secret not in html
    searched = admin_client.get("/admin/weatherstream/station/", {"q": "Gard"})
    assert searched.status_code == 200 and place.id in searched.content.decode()


def test_a_station_cannot_be_added_here_and_its_page_shows_no_digest(admin_client, station):
    place, key = station
    assert admin_client.get("/admin/weatherstream/station/add/").status_code == 403
    listing = admin_client.get("/admin/weatherstream/station/").content.decode()
    assert "/admin/weatherstream/station/add/" not in listing
    change = admin_client.get(f"/admin/weatherstream/station/{place.id}/change/")
    assert change.status_code == 200
    html = change.content.decode()
    assert 'name="key_hash"' not in html and 'name="passkey_hash"' not in html
    for secret in (key, stations.digest(key), stations.passkey_digest(PASSKEY)):
        assert secret not in html
    saved = admin_client.post(f"/admin/weatherstream/station/{place.id}/change/", {"elevation": "40"})
    assert saved.status_code == 302
    row = Station.objects.get()
    assert row.elevation == 40.0 and row.key_hash == stations.digest(key), "the key survives an edit"
    assert row.passkey_hash == stations.passkey_digest(PASSKEY)


def _reading_of(place):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    from weatherstream.readings import Reading

    reading = Reading(observed_at=when, source=f"station:{place.id}", temperature=1.0)
    services.observations_record(readings=[(place.id, reading)])


def test_deleting_a_station_here_removes_its_place_and_readings_as_the_command_does(admin_client, station):
    place, _ = station
    _reading_of(place)
    page = admin_client.post(f"/admin/weatherstream/station/{place.id}/delete/", {"post": "yes"})
    assert page.status_code == 302
    assert not Station.objects.exists() and not Location.objects.filter(id=place.id).exists()
    assert not Observation.objects.filter(location_id=place.id).exists()


def test_deleting_stations_in_bulk_removes_their_places_and_readings(admin_client, station):
    place, _ = station
    other = Place(id=stations.new_id(), latitude=48.0, longitude=11.0, name="Roof")
    services.station_create(place=other, key_hash=stations.digest("k"))
    keep = Place(id="2950159", latitude=52.52, longitude=13.41, name="Berlin")
    services.locations_ensure(places=[keep])
    _reading_of(place)
    page = admin_client.post(
        "/admin/weatherstream/station/",
        {"action": "delete_selected", "_selected_action": [place.id, other.id], "post": "yes"},
    )
    assert page.status_code == 302
    assert not Station.objects.exists()
    assert list(Location.objects.values_list("id", flat=True)) == ["2950159"]
    assert not Observation.objects.exists()
