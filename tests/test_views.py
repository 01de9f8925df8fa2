import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient, override_settings
from django.utils import timezone

from tests.conftest import stop_engine
from weatherstream import services
from weatherstream.conf import get_config
from weatherstream.engine import get_engine
from weatherstream.forecasts import DAILY_FIELDS, HOURLY_FIELDS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


@pytest.fixture
def client():
    return AsyncClient()


async def test_weather_by_city(client):
    response = await client.get("/api/weather", {"city": "Berlin"})
    assert response.status_code == 200
    body = response.json()
    assert body["location"]["name"] == "Berlin"
    assert body["weather"]["source"] == "simulated"
    assert body["weather"]["temperature"] is not None


async def test_weather_by_coordinates(client):
    response = await client.get("/api/weather", {"lat": "48.85", "lon": "2.35"})
    assert response.status_code == 200
    assert response.json()["location"]["id"] == "48.85,2.35"


async def test_weather_is_fetched_once_for_concurrent_requests(client):
    with override_settings(WEATHERSTREAM={**get_config(), "POLL_INTERVAL": 3600}):
        engine = await get_engine()
        responses = await asyncio.gather(*(client.get("/api/weather", {"city": "Oslo"}) for _ in range(20)))
        assert {r.status_code for r in responses} == {200}
        assert engine.poller.requests == 1
        again = await client.get("/api/weather", {"city": "Oslo"})
        assert again.json()["weather"] == responses[0].json()["weather"]
        assert engine.poller.requests == 1


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "bad_request"),
        ({"city": "Xyzzyville Qqq"}, 404, "unknown_city"),
        ({"city": "x" * 300}, 400, "bad_request"),
        ({"lat": "abc", "lon": "1"}, 400, "bad_request"),
        ({"lat": "95", "lon": "1"}, 400, "bad_request"),
        ({"lat": "nan", "lon": "1"}, 400, "bad_request"),
        ({"lat": "10"}, 400, "bad_request"),
    ],
)
async def test_weather_errors_are_json(client, params, status, code):
    response = await client.get("/api/weather", params)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


async def test_history_returns_stored_observations_in_order(client):
    first = await client.get("/api/weather", {"city": "Rome"})
    assert first.status_code == 200
    engine = await get_engine()
    place = engine.places[first.json()["location"]["id"]]
    await asyncio.sleep(1.1)
    await engine.poller.fetch([place])
    assert await engine.recorder.flush()  # published first, then stored
    response = await client.get("/api/history", {"city": "Rome", "hours": "1"})
    assert response.status_code == 200
    observations = response.json()["observations"]
    assert len(observations) == 2
    assert observations[0]["observed_at"] < observations[1]["observed_at"]


@pytest.mark.parametrize("hours", ["0", "-1", "abc", "inf", "100000"])
async def test_history_rejects_bad_hours(client, hours):
    response = await client.get("/api/history", {"city": "Rome", "hours": hours})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_history_of_unknown_city_is_404(client):
    response = await client.get("/api/history", {"city": "Xyzzyville Qqq"})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/api/weather", "/api/history", "/api/forecast"])
async def test_an_unknown_city_is_404_with_suggestions(client, path):
    kind = {"kind": "daily"} if path == "/api/forecast" else {}
    response = await client.get(path, {"city": "Pariss", **kind})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_city" and "Pariss" in error["message"]
    paris = {"id": "2988507", "name": "Paris", "country": "FR", "region": "France", "query": "Paris, FR"}
    assert error["suggestions"][0] == paris and 1 <= len(error["suggestions"]) <= 3
    again = await client.get(path, {"city": paris["query"], **kind})
    assert again.status_code == 200 and again.json()["location"]["id"] == paris["id"]
    nothing = (await client.get(path, {"city": "Xyzzyville Qqq", **kind})).json()["error"]
    assert nothing["suggestions"] == []
    assert "suggestions" not in (await client.get(path, {"city": "x" * 300, **kind})).json()["error"]


async def test_locations_autocomplete(client):
    response = await client.get("/api/locations", {"q": "springf"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) >= 3
    assert all(r["name"].startswith("Springf") for r in results)
    # Country and region tell the Springfields apart.
    assert len({(r["country"], r["region"]) for r in results}) == len(results)
    assert (await client.get("/api/locations", {"q": "b"})).json() == {"results": []}
    assert (await client.get("/api/locations")).status_code == 400


async def test_page_renders_with_socket_path(client):
    response = await client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-ws-path="/ws/weather/"' in html
    assert "weatherstream/js/app.js" in html


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
@pytest.mark.parametrize(
    "path", ["/api/weather", "/api/history", "/api/forecast", "/api/locations", "/", "/api/nope"]
)
async def test_other_methods_get_a_json_405_not_the_csrf_page(path, method):
    # A client without a CSRF token, as any script is: the read-only API needs none.
    response = await getattr(AsyncClient(enforce_csrf_checks=True), method)(path, {"city": "Berlin"})
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_history_by_location_id_of_a_watched_place(client):
    from weatherstream.geocoding import get_geocoder

    engine = await get_engine()
    oslo = get_geocoder().resolve("Oslo")
    await engine.subscribe(oslo, type("Sink", (), {"push": lambda self, text, prepared=None: None})())
    await engine.poller.fetch([oslo])
    assert await engine.recorder.flush()
    ok = await client.get("/api/history", {"location": oslo.id, "hours": 1})
    assert ok.status_code == 200 and ok.json()["location"]["id"] == oslo.id
    assert len(ok.json()["observations"]) == 1
    missing = await client.get("/api/history", {"location": "nowhere"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_location"


async def test_an_unknown_api_path_is_a_json_404(client):
    response = await client.get("/api/nope/deeper")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_a_database_failure_is_a_json_503(client, monkeypatch):
    from django.db import OperationalError

    from weatherstream import services

    def down(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(services, "observations_since", down)
    response = await client.get("/api/history", {"city": "Rome"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


def test_the_app_urls_hold_the_page_and_api_only():
    from django.urls import include, path, resolve
    from django.urls.exceptions import Resolver404

    with override_settings(
        ROOT_URLCONF=type("Conf", (), {"urlpatterns": [path("w/", include("weatherstream.urls"))]})
    ):
        assert resolve("/w/api/weather").url_name == "weather"
        assert resolve("/w/api/forecast").url_name == "forecast"
        for operations in ("/w/metrics", "/w/healthz", "/w/readyz"):
            with pytest.raises(Resolver404):
                resolve(operations)


async def test_history_keeps_sources_apart(client):
    oslo = await stored_in_oslo((30, "open-meteo", 1.0), (20, "simulated", 9.0), (15, "open-meteo", 2.0))

    async def temperatures(**params):
        response = await client.get("/api/history", {"location": oslo.id, "hours": 1, **params})
        assert response.status_code == 200, response.content
        return [(o["source"], o["temperature"]) for o in response.json()["observations"]]

    assert await temperatures(source="real") == [("open-meteo", 1.0), ("open-meteo", 2.0)]
    assert await temperatures(source="simulated") == [("simulated", 9.0)]
    assert await temperatures(source="open-meteo") == [("open-meteo", 1.0), ("open-meteo", 2.0)]
    assert await temperatures() == [("open-meteo", 1.0), ("simulated", 9.0), ("open-meteo", 2.0)]
    bad = await client.get("/api/history", {"location": oslo.id, "source": "x" * 65})
    assert bad.status_code == 400


async def test_an_address_fetching_too_many_new_places_gets_a_429(client):
    with override_settings(WEATHERSTREAM={**get_config(), "NEW_PLACES_PER_HOUR": 2}):
        for lat in (10, 11):
            assert (await client.get("/api/weather", {"lat": lat, "lon": 10})).status_code == 200
        refused = await client.get("/api/weather", {"lat": 12, "lon": 10})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_places"
        # A place with a fresh reading costs the upstream nothing: it is served.
        assert (await client.get("/api/weather", {"lat": 10, "lon": 10})).status_code == 200


async def test_no_reading_yet_is_a_json_503(client, monkeypatch):
    engine = await get_engine()

    async def nothing(places):
        return {p.id: None for p in places}

    monkeypatch.setattr(engine.poller, "fetch", nothing)
    response = await client.get("/api/weather", {"city": "Lima"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


async def test_a_stale_reading_is_served_as_it_is_without_a_refetch(client, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from weatherstream.geocoding import get_geocoder
    from weatherstream.readings import Reading

    engine = await get_engine()
    lima = get_geocoder().resolve("Lima")
    await engine.places.meet(lima)
    old = Reading(observed_at=timezone.now() - timedelta(hours=2), source="open-meteo", temperature=19.0)
    engine.latest.put(lima.id, old.as_stale())
    calls = []

    async def counting(places):
        calls.append(places)
        return {}

    monkeypatch.setattr(engine.poller, "fetch", counting)
    response = await client.get("/api/weather", {"city": "Lima"})
    weather = response.json()["weather"]
    assert response.status_code == 200 and weather["stale"] is True and weather["temperature"] == 19.0
    assert weather["age"] >= 7200
    assert calls == [], "the upstream is being retried by the poller: no extra fetch"


async def test_history_is_capped_at_history_limit_newest_kept(client):
    oslo = await stored_in_oslo(*((m, "open-meteo", float(m)) for m in range(10)))
    with override_settings(WEATHERSTREAM={**get_config(), "HISTORY_LIMIT": 3}):
        response = await client.get("/api/history", {"location": oslo.id, "hours": 1})
    assert [o["temperature"] for o in response.json()["observations"]] == [2.0, 1.0, 0.0]


async def stored_in_oslo(*readings: tuple[int, str, float]):
    """Oslo with readings (minutes ago, source, temperature) stored; returns the place."""
    from datetime import timedelta

    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from weatherstream import services
    from weatherstream.geocoding import get_geocoder
    from weatherstream.readings import Reading

    oslo = get_geocoder().resolve("Oslo")
    now = timezone.now().replace(microsecond=0)
    await sync_to_async(services.observations_store)(
        items=[
            (oslo, Reading(observed_at=now - timedelta(minutes=ago), source=source, temperature=temperature))
            for ago, source, temperature in readings
        ]
    )
    return oslo


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_require_get_answers_every_failure_in_json(kind, caplog):
    from django.db import OperationalError
    from django.http import JsonResponse
    from django.test import RequestFactory

    from weatherstream.views import require_get

    failures = {"ok": None, "db": OperationalError("the database is down"), "bug": KeyError("a bug")}
    calls = []

    def answer(request, outcome, *, extra):
        calls.append((request.method, outcome, extra))
        if failures[outcome] is not None:
            raise failures[outcome]
        return JsonResponse({"outcome": outcome})

    async def answer_async(request, outcome, *, extra):
        return answer(request, outcome, extra=extra)

    view = require_get(answer if kind == "sync" else answer_async)
    assert view.__name__ == ("answer" if kind == "sync" else "answer_async") and view.csrf_exempt is True

    async def call(method, outcome):
        response = view(getattr(RequestFactory(), method)("/anything"), outcome, extra=1)
        response = await response if kind == "async" else response
        return response.status_code, json.loads(response.content), response.get("Allow")

    assert await call("get", "ok") == (200, {"outcome": "ok"}, None)
    assert await call("head", "ok") == (200, {"outcome": "ok"}, None)
    assert calls == [("GET", "ok", 1), ("HEAD", "ok", 1)]
    for method in ("post", "put", "patch", "delete", "options"):
        refused = {"error": {"code": "method_not_allowed", "message": "Only GET is allowed here."}}
        assert await call(method, "ok") == (405, refused, "GET, HEAD")
    assert len(calls) == 2, "a refused request never reaches the view"
    unavailable = {"error": {"code": "unavailable", "message": "Storage is unavailable; try again."}}
    assert await call("get", "db") == (503, unavailable, None)
    internal = {"error": {"code": "internal_error", "message": "The server failed to answer."}}
    assert await call("get", "bug") == (500, internal, None)
    db, bug = [r for r in caplog.records if r.name == "weatherstream.views"]
    assert (db.levelname, db.exc_info) == ("WARNING", None)  # an outage: no traceback
    assert view.__name__ in db.getMessage() and "the database is down" in db.getMessage()
    assert bug.levelname == "ERROR" and bug.exc_info[0] is KeyError  # a bug: with its traceback
    assert view.__name__ in bug.getMessage()


@pytest.mark.parametrize("path", ["/api/weather", "/api/history"])
@pytest.mark.parametrize(
    ("params", "status", "code", "message"),
    [
        ({}, 400, "bad_request", "Give 'city', or 'lat' and 'lon'."),
        ({"city": "  ", "location": " "}, 400, "bad_request", "Give 'city', or 'lat' and 'lon'."),
        ({"lat": "10"}, 400, "bad_request", "'lon' must be a number."),
        ({"lon": "10"}, 400, "bad_request", "'lat' must be a number."),
        ({"lat": "abc", "lon": "1"}, 400, "bad_request", "'lat' must be a number."),
        ({"lat": "95", "lon": "1"}, 400, "bad_request", "'lat' must be between -90 and 90."),
        ({"city": "x" * 201}, 400, "bad_request", "'city' is too long."),
        ({"location": "nowhere"}, 404, "unknown_location", "No location with that id is known."),
    ],
)
async def test_each_refusal_of_a_place_says_exactly_what_is_wrong(
    client, path, params, status, code, message
):
    response = await client.get(path, params)
    assert (response.status_code, response.json()) == (status, {"error": {"code": code, "message": message}})


async def test_a_city_name_of_the_longest_length_allowed_is_looked_up(client):
    longest = await client.get("/api/weather", {"city": "x" * get_config()["MAX_CITY_LENGTH"]})
    assert longest.status_code == 404 and longest.json()["error"]["code"] == "unknown_city"


async def test_a_place_this_process_knows_is_served_without_asking_the_database(client, monkeypatch):
    from django.db import OperationalError

    from weatherstream import services

    oslo = (await client.get("/api/weather", {"city": "Oslo"})).json()["location"]

    def down(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(services, "location_get", down)
    response = await client.get("/api/weather", {"location": oslo["id"]})
    assert response.status_code == 200 and response.json()["location"] == oslo
    elsewhere = await client.get("/api/weather", {"location": "48.85,2.35"})  # not known here
    assert elsewhere.status_code == 503 and elsewhere.json()["error"]["code"] == "unavailable"


# -- /api/forecast -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hourly", "daily"])
async def test_forecast_by_city_names_place_kind_source_and_items(client, kind):
    response = await client.get("/api/forecast", {"city": "Berlin", "kind": kind})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["location", "kind", "issued_at", "source", "forecast"]
    assert body["location"]["name"] == "Berlin" and body["location"]["timezone"] == "Europe/Berlin"
    assert body["kind"] == kind and body["source"] == "simulated"
    fields = HOURLY_FIELDS if kind == "hourly" else DAILY_FIELDS
    assert len(body["forecast"]) >= (48 if kind == "hourly" else 7)
    assert all(list(item) == list(fields) for item in body["forecast"])


async def test_forecast_is_fetched_once_for_concurrent_requests_and_both_kinds(client):
    engine = await get_engine()
    asked = []
    fetch = engine.forecast_poller.fetch

    async def counted(places):
        asked.extend(p.id for p in places)
        return await fetch(places)

    engine.forecast_poller.fetch = counted
    kinds = ["hourly", "daily"] * 10
    responses = await asyncio.gather(
        *(client.get("/api/forecast", {"lat": "48.85", "lon": "2.35", "kind": k}) for k in kinds)
    )
    assert {r.status_code for r in responses} == {200}
    assert engine.forecasting.requests == 1, asked
    by_location = await client.get("/api/forecast", {"location": "48.85,2.35", "kind": "daily"})
    assert by_location.json()["forecast"] == responses[1].json()["forecast"]
    assert engine.forecasting.requests == 1


async def test_a_stored_forecast_is_served_by_a_new_process_without_a_fetch(client):
    first = await client.get("/api/forecast", {"city": "Oslo", "kind": "daily"})
    await stop_engine()
    engine = await get_engine()  # a new engine: nothing held, the database has it
    again = await client.get("/api/forecast", {"city": "Oslo", "kind": "daily"})
    assert again.json() == first.json()
    assert engine.forecasting.requests == 0


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"city": "Berlin"}, 400, "bad_request"),
        ({"city": "Berlin", "kind": "weekly"}, 400, "bad_request"),
        ({"kind": "daily"}, 400, "bad_request"),
        ({"lat": "95", "lon": "1", "kind": "daily"}, 400, "bad_request"),
        ({"location": "nowhere", "kind": "daily"}, 404, "unknown_location"),
    ],
)
async def test_forecast_errors_are_json(client, params, status, code):
    response = await client.get("/api/forecast", params)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_no_forecast_yet_is_a_json_503(client, monkeypatch):
    engine = await get_engine()

    async def nothing(places):
        return {p.id: None for p in places}

    monkeypatch.setattr(engine.forecast_poller, "fetch", nothing)
    response = await client.get("/api/forecast", {"city": "Lima", "kind": "hourly"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


async def test_an_address_fetching_too_many_new_forecasts_gets_a_429(client):
    with override_settings(WEATHERSTREAM={**get_config(), "NEW_PLACES_PER_HOUR": 1}):
        assert (await client.get("/api/forecast", {"lat": 10, "lon": 10, "kind": "daily"})).status_code == 200
        refused = await client.get("/api/forecast", {"lat": 12, "lon": 10, "kind": "daily"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_places"


async def test_a_stored_forecast_that_no_longer_covers_the_next_hours_is_fetched_anew(client):
    from datetime import UTC, datetime, timedelta

    from weatherstream.forecasts import Forecast, hourly_item
    from weatherstream.geocoding import get_geocoder

    place = get_geocoder().resolve("Rome")
    ten_days_ago = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    old = Forecast(
        "hourly",
        ten_days_ago,
        "simulated",
        tuple(hourly_item(ten_days_ago + timedelta(hours=h)) for h in range(72)),
    )
    await database_sync_to_async(services.forecasts_store)(items=[(place, old)])
    engine = await get_engine()
    body = (await client.get("/api/forecast", {"city": "Rome", "kind": "hourly"})).json()
    assert engine.forecasting.requests == 1
    last = datetime.fromisoformat(body["forecast"][-1]["time"].replace("Z", "+00:00"))
    assert last >= datetime.now(UTC) + timedelta(hours=47)


async def test_location_search_lists_matching_stations_first_and_marked():
    from weatherstream import stations
    from weatherstream.places import Place

    garden = Place(id=stations.new_id(), latitude=52.52, longitude=13.4, name="Garden Shed", country="DE")
    await database_sync_to_async(services.station_create)(place=garden, key_hash=stations.digest("k"))
    client = AsyncClient()
    results = (await client.get("/api/locations", {"q": "garden"})).json()["results"]
    assert results[0] == {**garden.as_dict(population=True), "station": True}
    assert all("station" not in r for r in results[1:]) and len(results) <= 10
    berlin = (await client.get("/api/locations", {"q": "Berlin"})).json()["results"]
    assert berlin[0]["name"] == "Berlin" and all("station" not in r for r in berlin)


async def test_weather_and_history_of_a_station_by_its_location_id():
    from weatherstream import stations
    from weatherstream.places import Place, station_source
    from weatherstream.readings import Reading

    place = Place(id=stations.new_id(), latitude=46.0, longitude=7.0, name="Roof", timezone="Europe/Zurich")
    await database_sync_to_async(services.station_create)(place=place, key_hash=stations.digest("k"))
    client = AsyncClient()
    none_yet = await client.get("/api/weather", {"location": place.id})
    assert none_yet.status_code == 503  # nothing uploaded, and no fetch in its place
    engine = await get_engine()
    reading = Reading(
        observed_at=timezone.now().replace(microsecond=0), source=station_source(place.id), temperature=6.5
    )
    await engine.upload(place, reading)
    assert await engine.recorder.flush()
    body = (await client.get("/api/weather", {"location": place.id})).json()
    assert body["location"]["id"] == place.id and body["weather"]["temperature"] == 6.5
    assert body["weather"]["source"] == f"station:{place.id}"
    history = (await client.get("/api/history", {"location": place.id, "hours": 1})).json()
    assert [o["temperature"] for o in history["observations"]] == [6.5]
    assert engine.poller.requests == 0
