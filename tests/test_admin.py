from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from weatherstream import services
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Location, Observation
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
