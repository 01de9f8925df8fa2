"""Station uploads over HTTP: the Weather Underground and Ecowitt views (views.py), with
real uploads (tests/fixtures/stations), the engine, the limits and the database.

Every test runs twice, once for each way a site can mount the views: through its URLconf
(``include("weatherstream.station_urls")``, Django's handler and middleware) and through
``routing.station_uploads`` in front of it (the example's asgi.py, as a server calls it).
"""

import asyncio
import functools
import json
import logging
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.signals import request_started
from django.db import OperationalError
from django.http import HttpResponse
from django.test import AsyncClient, override_settings
from django.test.client import FakePayload
from example.asgi import application

from tests.conftest import stop_engine
from tests.test_routing import call
from tests.test_uploads import FIXTURES, load_upload
from weatherstream import metrics, services, stations
from weatherstream.conf import get_config
from weatherstream.engine import get_engine
from weatherstream.models import Observation
from weatherstream.places import Place

pytestmark = pytest.mark.django_db(transaction=True)

WU = "/weatherstation/updateweatherstation.php"
ECOWITT = "/data/report/"
WU_REFUSED = b"INVALIDPASSWORDID|Password or key and/or id are incorrect\n"
PASSKEY = "34271334ED1FADA6D8B988B14267E55D"  # the EasyWeather console's (ecowitt_easyweather_hp3500.json)
TEXT = "text/plain; charset=utf-8"
EXAMPLE = "wunderground_protocol_example.query"  # the protocol's own example upload


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


class AsgiClient(AsyncClient):
    """Django's test client, its requests sent to an ASGI application as a server sends
    them (the body in chunks), and its answer read back from the ASGI messages."""

    def __init__(self, app, **defaults):
        super().__init__(**defaults)
        self.handler = functools.partial(self.call, app)

    @staticmethod
    async def call(app, scope):
        payload = scope.pop("_body_file", FakePayload(b""))
        body = payload.read(len(payload))
        chunks = [body[i : i + 512] for i in range(0, len(body), 512)] or [b""]

        def started(**kwargs):  # Django's handler runs the request: not the route's
            raise AssertionError(f"{scope['path']} went through Django's handler")

        request_started.connect(started)
        try:
            sent, _ = await call(app, scope, chunks)
        finally:
            request_started.disconnect(started)
        start, *rest = sent
        assert start["type"] == "http.response.start" and all(m["type"] == "http.response.body" for m in rest)
        content = b"".join(m.get("body", b"") for m in rest)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]}
        assert int(headers.pop("content-length", len(content))) == len(content)
        response = HttpResponse(content, status=start["status"], headers=headers)
        response.asgi_request = None
        return response


@pytest.fixture(params=["urlconf", "asgi"])
def client(request):
    if request.param == "urlconf":
        return AsyncClient(enforce_csrf_checks=True)  # a device sends no CSRF token
    return AsgiClient(application)


def config(**changes):
    """The settings for one test (before its engine starts: the limits are made then)."""
    return override_settings(WEATHERSTREAM={**get_config(), **changes})


async def register(*, passkey=None, elevation=None, latitude=52.52, longitude=13.40):
    """A registered station and its key (as `weatherstream_station add` makes them)."""
    place = Place(id=stations.new_id(), latitude=latitude, longitude=longitude, name="Garden")
    key = stations.new_key()
    await database_sync_to_async(services.station_create)(
        place=place,
        key_hash=stations.digest(key),
        passkey_hash=stations.passkey_digest(passkey) if passkey else None,
        elevation=elevation,
    )
    return place, key


def wu_query(fixture, station_id, key, **changes):
    """A captured Weather Underground upload as this station sends it: its ID and key."""
    return urlencode({**load_upload(fixture), "ID": station_id, "PASSWORD": key, **changes})


def ecowitt_body(fixture, passkey=PASSKEY, **changes):
    params = {**load_upload(fixture), "PASSKEY": passkey, **changes}
    return urlencode({name: value for name, value in params.items() if value is not None})


async def wu(client, query, **extra):
    return await client.get(f"{WU}?{query}", **extra)


async def ecowitt(client, body, **extra):
    return await client.post(ECOWITT, body, content_type="application/x-www-form-urlencoded", **extra)


async def raw(client, method, path, *, query="", body=b"", headers=(), address="127.0.0.1"):
    """A request exactly as given: its address, its headers (a Content-Length may lie)."""
    return await client.request(
        method=method,
        path=path,
        query_string=query,
        headers=[*headers]
        if any(name == b"host" for name, _ in headers)
        else [(b"host", b"testserver"), *headers],
        client=[address, 0],
        _body_file=FakePayload(body),
    )


async def rows(place_id=None):
    """The stored observations (of one place), once everything queued is written."""
    engine = await get_engine()
    assert await engine.recorder.flush()
    found = Observation.objects.order_by("observed_at")
    if place_id is not None:
        found = found.filter(location_id=place_id)
    return await database_sync_to_async(list)(found)


def count(counter, label):
    return counter.labels(label)._value.get()


# -- both formats store a row and answer as the real services do ---------------------------------


async def test_a_wunderground_upload_is_stored_and_answered_success(client):
    place, key = await register(latitude=37.77, longitude=-122.42)
    before = count(metrics.STATION_UPLOADS, "stored")
    response = await wu(client, wu_query(EXAMPLE, place.id, key))
    assert response.status_code == 200
    assert response.content == b"success\n" and response["Content-Type"] == TEXT
    [row] = await rows()
    assert row.location_id == place.id and row.source == f"station:{place.id}"
    assert row.observed_at == datetime(2000, 1, 1, 10, 32, 35, tzinfo=UTC)
    measured = (row.temperature, row.humidity, row.wind_speed, row.wind_gusts, row.wind_direction)
    assert measured == (21.11, 90.0, 19.31, 19.31, 230.0)  # 70 °F, 90 %, 12 mph, 12 mph, 230°
    assert (row.precipitation, row.pressure, row.is_day) == (0.0, 985.44, False)  # 0 in, 29.1 inHg
    assert (row.weather_code, row.cloud_cover, row.feels_like) == (None, None, None)
    assert count(metrics.STATION_UPLOADS, "stored") == before + 1


async def test_an_ecowitt_upload_is_stored_and_answered_ok(client):
    place, _ = await register(passkey=PASSKEY)
    response = await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json"))
    assert response.status_code == 200
    assert response.content == b"OK\n" and response["Content-Type"] == TEXT
    [row] = await rows()
    assert row.location_id == place.id and row.source == f"station:{place.id}"
    assert row.observed_at == datetime(2020, 5, 4, 14, 34, 26, tzinfo=UTC)
    assert (row.temperature, row.humidity, row.pressure) == (21.28, 32.0, 967.93)  # 70.3 °F, 28.583 inHg
    assert (row.wind_speed, row.wind_gusts, row.wind_direction) == (0.64, 1.77, 200.0)
    assert row.precipitation is None and row.weather_code is None and row.is_day is True


async def test_a_raw_ambient_weather_form_body_is_read_as_sent(client):
    place, _ = await register(passkey="DUMMYDATADUMMYDATADUMMYDATADATAD")
    body = (FIXTURES / "ecowitt_ambweather_v4_0_2.form").read_text().strip()
    response = await ecowitt(client, body)
    assert response.content == b"OK\n"
    [row] = await rows(place.id)
    assert row.observed_at == datetime(2018, 6, 20, 13, 39, tzinfo=UTC)  # dateutc=2018-06-20+13:39:00
    assert (row.temperature, row.pressure) == (20.61, 1012.19)


async def test_the_passkey_and_the_id_are_found_in_either_case(client):
    with config(STATION_MIN_INTERVAL=0):
        place, key = await register(passkey=PASSKEY)
        lower = ecowitt_body("ecowitt_easyweather_hp3500.json", passkey=PASSKEY.lower())
        assert (await ecowitt(client, lower)).content == b"OK\n"
        upper_id = wu_query("wunderground_weather_logger_v2_1_9.query", place.id.upper(), key)
        assert (await wu(client, upper_id)).content == b"success\n"
        assert len(await rows(place.id)) == 2


async def test_an_ecowitt_station_at_altitude_has_its_absolute_pressure_brought_to_sea_level(client):
    place, _ = await register(passkey=PASSKEY, elevation=1650, latitude=39.74, longitude=-104.99)
    before = count(metrics.STATION_FIELDS_DROPPED, "baromrelin")
    response = await ecowitt(client, ecowitt_body("ecowitt_gw1000b_pro.json"))
    assert response.content == b"OK\n"
    [row] = await rows(place.id)
    assert row.pressure == 1003.45  # baromabsin 24.740 inHg at 1650 m and 34.0 °C
    assert row.temperature == 34.0
    assert count(metrics.STATION_FIELDS_DROPPED, "baromrelin") == before + 1  # 837.79 hPa


async def test_a_repeated_upload_adds_no_row(client):
    with config(STATION_MIN_INTERVAL=0):
        place, key = await register()
        query = wu_query(EXAMPLE, place.id, key)
        first, again = await wu(client, query), await wu(client, query)
        assert first.content == again.content == b"success\n"
        assert len(await rows(place.id)) == 1


# -- refused keys and lock-out ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        lambda place, key, other: {"ID": place.id, "PASSWORD": key[:-1] + ("a" if key[-1] != "a" else "b")},
        lambda place, key, other: {"ID": place.id, "PASSWORD": key.swapcase()},
        lambda place, key, other: {"ID": place.id, "PASSWORD": ""},
        lambda place, key, other: {"ID": place.id, "PASSWORD": stations.digest(key)},
        lambda place, key, other: {"ID": other[0].id, "PASSWORD": key},  # another station's id
        lambda place, key, other: {"ID": "st-000000000000", "PASSWORD": key},  # no such station
        lambda place, key, other: {"ID": "KCASANFR5", "PASSWORD": key},  # not a station id
        lambda place, key, other: {"ID": "", "PASSWORD": ""},
    ],
    ids=[
        "wrong-key",
        "key-in-other-case",
        "no-key",
        "the-digest",
        "other-station",
        "unknown-id",
        "wu-id",
        "none",
    ],
)
async def test_a_wrong_id_or_key_is_401_and_nothing_is_stored(client, credentials):
    place, key = await register()
    other = await register()
    before = count(metrics.STATION_UPLOADS, "unauthorized")
    query = wu_query(EXAMPLE, place.id, key, **credentials(place, key, other))
    response = await wu(client, query)
    assert response.status_code == 401
    assert response.content == WU_REFUSED and response["Content-Type"] == TEXT
    assert await rows() == []
    assert count(metrics.STATION_UPLOADS, "unauthorized") == before + 1


async def test_an_upload_without_id_or_password_is_401(client):
    await register()
    params = {k: v for k, v in load_upload(EXAMPLE).items() if k not in ("ID", "PASSWORD")}
    response = await wu(client, urlencode(params))
    assert response.status_code == 401 and response.content == WU_REFUSED
    assert await rows() == []


@pytest.mark.parametrize("passkey", ["345544D8EAF42E1B8824A86D8250D5A3", "", "   ", None])
async def test_an_unknown_or_missing_passkey_is_401_and_nothing_is_stored(client, passkey):
    await register(passkey=PASSKEY)
    await register()  # a station without a PASSKEY is not found by an empty one
    response = await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json", passkey=passkey))
    assert response.status_code == 401
    assert response.content == b"Unknown PASSKEY.\n" and response["Content-Type"] == TEXT
    assert await rows() == []


async def test_an_address_sending_too_many_wrong_keys_is_locked_out_even_with_the_right_key(client):
    with config(STATION_AUTH_FAILURES="3/minute", STATION_MIN_INTERVAL=0):
        place, key = await register(passkey=PASSKEY)
        before = count(metrics.STATION_UPLOADS, "locked_out")
        wrong = wu_query(EXAMPLE, place.id, "x" * 20)
        for _ in range(3):
            assert (await wu(client, wrong)).status_code == 401
        right = wu_query(EXAMPLE, place.id, key)
        response = await wu(client, right)
        assert response.status_code == 429
        assert response.content == b"Too many wrong keys from this address (at most 3/minute); wait.\n"
        ecowitt_response = await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json"))
        assert ecowitt_response.status_code == 429, "one count for both formats"
        assert await rows() == []
        assert count(metrics.STATION_UPLOADS, "locked_out") == before + 2
        other_address = await raw(client, "GET", WU, query=right, address="192.0.2.7")
        assert other_address.content == b"success\n", "only the address that guessed is locked out"


async def test_unknown_passkeys_lock_an_address_out_too(client):
    with config(STATION_AUTH_FAILURES="3/minute"):
        place, key = await register(passkey=PASSKEY)
        for _ in range(3):
            unknown = ecowitt_body("ecowitt_easyweather_hp3500.json", passkey="0" * 32)
            assert (await ecowitt(client, unknown)).status_code == 401
        response = await wu(client, wu_query(EXAMPLE, place.id, key))
        assert response.status_code == 429
        assert await rows() == []


# -- spacing -------------------------------------------------------------------------------------------


async def test_an_upload_sooner_than_the_spacing_is_429_and_not_stored(client):
    with config(STATION_MIN_INTERVAL=10):
        place, key = await register()
        before = count(metrics.STATION_UPLOADS, "too_soon")
        first = await wu(client, wu_query(EXAMPLE, place.id, key))
        assert first.content == b"success\n"
        later = wu_query(EXAMPLE, place.id, key, dateutc="2000-01-01 10:32:51")
        response = await wu(client, later)
        assert response.status_code == 429
        assert response.content == b"Too soon: one upload every 10 seconds at most.\n"
        assert response["Content-Type"] == TEXT
        assert [row.observed_at.second for row in await rows(place.id)] == [35]
        assert count(metrics.STATION_UPLOADS, "too_soon") == before + 1
        other, other_key = await register()
        alone = await wu(client, wu_query(EXAMPLE, other.id, other_key))
        assert alone.content == b"success\n", "each station is spaced alone"


async def test_a_refused_upload_does_not_take_the_stations_next_slot(client):
    with config(STATION_MIN_INTERVAL=10):
        place, key = await register()
        bad = await wu(client, wu_query(EXAMPLE, place.id, key, dateutc="yesterday"))
        assert bad.status_code == 400
        good = await wu(client, wu_query(EXAMPLE, place.id, key))
        assert good.content == b"success\n"


# -- bad uploads ----------------------------------------------------------------------------------------


# The example upload with every sensor missing (-9999), empty or not a number.
NOTHING_KEPT = {
    **dict.fromkeys(["tempf", "windspeedmph", "winddir", "rainin", "baromin"], "-9999"),
    "humidity": "",
    "windgustmph": "x",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (NOTHING_KEPT, b"The upload carries no measurement weatherstream keeps.\n"),
        ({"dateutc": "2000-01-01"}, b"dateutc must be 'now' or 'YYYY-MM-DD HH:MM:SS' (UTC).\n"),
        ({"dateutc": "2099-01-01 00:00:00"}, b"dateutc is in the future; check the station's clock.\n"),
    ],
    ids=["no-measurement", "malformed-dateutc", "future"],
)
async def test_an_upload_without_a_reading_is_400_with_a_short_text(client, changes, message):
    place, key = await register()
    before = count(metrics.STATION_UPLOADS, "bad_request")
    response = await wu(client, wu_query(EXAMPLE, place.id, key, **changes))
    assert response.status_code == 400
    assert response.content == message and response["Content-Type"] == TEXT
    assert await rows() == []
    assert count(metrics.STATION_UPLOADS, "bad_request") == before + 1


async def test_an_upload_with_more_parameters_than_django_reads_is_400_not_a_server_error(client, caplog):
    place, key = await register(passkey=PASSKEY)
    many = "&".join(f"x{i}=1" for i in range(1001))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    query = f"{wu_query(EXAMPLE, place.id, key)}&{many}"
    body = f"{ecowitt_body('ecowitt_easyweather_hp3500.json')}&{many}"
    for response in (await wu(client, query), await ecowitt(client, body)):
        assert response.status_code == 400
        assert response.content == b"The upload is malformed.\n" and response["Content-Type"] == TEXT
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "not logged as a bug"
    assert await rows() == []


async def test_dropped_values_are_counted_by_parameter_and_the_rest_stored(client):
    place, key = await register()
    before = {name: count(metrics.STATION_FIELDS_DROPPED, name) for name in ("tempf", "humidity", "baromin")}
    query = wu_query(EXAMPLE, place.id, key, tempf="200", humidity="abc")
    response = await wu(client, query)
    assert response.content == b"success\n"
    [row] = await rows(place.id)
    assert row.temperature is None and row.humidity is None
    assert (row.wind_speed, row.pressure) == (19.31, 985.44)
    after = {name: count(metrics.STATION_FIELDS_DROPPED, name) for name in before}
    assert after == {
        "tempf": before["tempf"] + 1,
        "humidity": before["humidity"] + 1,
        "baromin": before["baromin"],
    }


# -- size and methods -------------------------------------------------------------------------------------


async def test_a_query_string_over_the_limit_is_413_unread(client):
    with config(STATION_MAX_BODY_BYTES=1024):
        place, key = await register()
        before = count(metrics.STATION_UPLOADS, "too_big")
        query = wu_query(EXAMPLE, place.id, key, softwaretype="x" * 1024)
        response = await wu(client, query)
        assert response.status_code == 413
        assert response.content == b"An upload is at most 1024 bytes.\n" and response["Content-Type"] == TEXT
        assert await rows() == []
        assert count(metrics.STATION_UPLOADS, "too_big") == before + 1
        fits = wu_query(EXAMPLE, place.id, key, softwaretype="x" * 700)
        assert (await wu(client, fits)).content == b"success\n"


async def test_a_form_body_over_the_limit_is_413(client):
    with config(STATION_MAX_BODY_BYTES=1024):
        await register(passkey=PASSKEY)
        body = ecowitt_body("ecowitt_easyweather_hp3500.json", model="x" * 1024)
        response = await ecowitt(client, body)
        assert response.status_code == 413
        assert response.content == b"An upload is at most 1024 bytes.\n"
        # A body longer than the length it declares is measured too.
        headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"100")]
        response = await raw(client, "POST", ECOWITT, body=body.encode(), headers=headers)
        assert response.status_code == 413 and response.content == b"The upload is too big.\n"
        assert await rows() == []


async def test_each_format_takes_its_own_method_only(client):
    place, key = await register(passkey=PASSKEY)
    get = await client.get(ECOWITT, {"PASSKEY": PASSKEY, "tempf": "50"})
    assert get.status_code == 405 and get["Allow"] == "POST"
    assert get.content == b"Only POST is allowed here.\n" and get["Content-Type"] == TEXT
    post = await client.post(WU, {"ID": place.id, "PASSWORD": key, "tempf": "50"})
    assert post.status_code == 405 and post["Allow"] == "GET"
    assert post.content == b"Only GET is allowed here.\n"
    for method in ("put", "delete"):
        assert (await getattr(client, method)(ECOWITT)).status_code == 405
        assert (await getattr(client, method)(WU)).status_code == 405
    head = await client.head(WU, {"ID": place.id, "PASSWORD": key, "tempf": "50"})
    assert head.status_code == 405, "an upload is stored: not by a HEAD"
    assert await rows() == []


# -- the key is never logged -------------------------------------------------------------------------------


async def test_no_key_or_passkey_appears_in_any_log_record(client, caplog):
    caplog.set_level(logging.DEBUG)
    with config(STATION_MIN_INTERVAL=0, STATION_AUTH_FAILURES="2/minute"):
        place, key = await register(passkey=PASSKEY)
        wrong_key = stations.new_key()
        query = wu_query(EXAMPLE, place.id, wrong_key)
        assert (await wu(client, query)).status_code == 401
        assert (await wu(client, wu_query(EXAMPLE, place.id, key))).status_code == 200
        bad = wu_query(EXAMPLE, place.id, key, dateutc="x")
        assert (await wu(client, bad)).status_code == 400
        assert (await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json"))).status_code == 200
        unknown = "0123456789ABCDEF0123456789ABCDEF"
        refused = await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json", passkey=unknown))
        assert refused.status_code == 401
        locked = await wu(client, wu_query(EXAMPLE, place.id, key))
        assert locked.status_code == 429
        await rows()
    assert caplog.records, "the uploads were logged at all (401, 429: django.request)"
    for secret in (key, wrong_key, PASSKEY, PASSKEY.lower(), unknown):
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in repr(record.args)


# -- subscribers ---------------------------------------------------------------------------------------------


async def test_subscribers_get_an_upload_with_the_stations_source(client):
    with config(STATION_MIN_INTERVAL=0):
        place, key = await register(passkey=PASSKEY)
        comm = WebsocketCommunicator(application, "/ws/weather/", headers=[(b"origin", b"http://localhost")])
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "hello"
        await comm.send_json_to({"type": "subscribe", "station": place.id, "id": 1})
        assert (await comm.receive_json_from(timeout=5))["type"] == "subscribed"
        response = await wu(client, wu_query("wunderground_observerip.json", place.id, key))
        assert response.content == b"success\n"
        frame = await comm.receive_json_from(timeout=5)
        assert frame["type"] == "weather" and frame["location"] == place.id
        weather = frame["weather"]
        assert weather["source"] == f"station:{place.id}" and weather["stale"] is False
        assert (weather["temperature"], weather["wind_gusts"], weather["pressure"]) == (31.9, 14.76, 1020.49)
        assert (
            weather["weather_code"] is None and weather["summary"] is None and weather["feels_like"] is None
        )
        await asyncio.sleep(1.1)  # a later second: an Ecowitt upload at "now" is news
        assert (await ecowitt(client, ecowitt_body("ecowitt_gw2000a.json", dateutc="now"))).content == b"OK\n"
        frame = await comm.receive_json_from(timeout=5)
        assert frame["weather"]["temperature"] == 30.6 and frame["weather"]["source"] == f"station:{place.id}"
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()


# -- the database down ---------------------------------------------------------------------------------------


async def test_the_database_down_at_the_look_up_is_503_and_the_retry_is_taken(client, monkeypatch, caplog):
    place, key = await register(passkey=PASSKEY)  # the default spacing, 10 s, applies

    def down(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    query = wu_query(EXAMPLE, place.id, key)
    with monkeypatch.context() as patched:
        patched.setattr(services, "station_get", down)
        patched.setattr(services, "station_by_passkey", down)
        response = await wu(client, query)
        assert response.status_code == 503
        assert (
            response.content == b"Storage is unavailable; try again.\n" and response["Content-Type"] == TEXT
        )
        response = await ecowitt(client, ecowitt_body("ecowitt_easyweather_hp3500.json"))
        assert response.status_code == 503
    assert "a station upload failed: the database failed" in caplog.text
    assert key not in caplog.text
    assert await rows() == []
    retry = await wu(client, query)
    assert retry.content == b"success\n", "the refused upload took no slot and counted no wrong key"
    assert len(await rows(place.id)) == 1


async def test_the_database_down_when_storing_loses_nothing(client, monkeypatch):
    place, key = await register()
    real = services.observations_store
    tries = []

    def down(**kwargs):
        tries.append(kwargs)
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "observations_store", down)
    response = await wu(client, wu_query(EXAMPLE, place.id, key))
    assert response.content == b"success\n", "answered: the reading waits in the recorder"
    engine = await get_engine()
    assert not await engine.recorder.flush() and tries
    assert engine.latest.get(place.id).temperature == 21.11, "published meanwhile"
    assert await database_sync_to_async(Observation.objects.count)() == 0
    monkeypatch.setattr(services, "observations_store", real)
    [row] = await rows(place.id)
    assert row.temperature == 21.11 and row.observed_at == datetime(2000, 1, 1, 10, 32, 35, tzinfo=UTC)


async def test_the_dropped_values_of_an_upload_with_nothing_plausible_are_counted(client):
    place, key = await register()
    before = count(metrics.STATION_FIELDS_DROPPED, "tempf")
    response = await wu(client, wu_query(EXAMPLE, place.id, key, **{**NOTHING_KEPT, "tempf": "500"}))
    assert response.status_code == 400
    assert count(metrics.STATION_FIELDS_DROPPED, "tempf") == before + 1


async def test_an_upload_to_a_host_the_site_does_not_serve_is_400_and_not_stored(client, caplog):
    place, key = await register()
    headers = [(b"host", b"evil.example")]
    before = count(metrics.STATION_UPLOADS, "bad_host")
    with caplog.at_level("DEBUG"):
        response = await raw(client, "GET", WU, query=wu_query(EXAMPLE, place.id, key), headers=headers)
    assert response.status_code == 400 and response.content == b"This server does not serve that host.\n"
    assert count(metrics.STATION_UPLOADS, "bad_host") == before + 1
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert "evil.example" in record.getMessage() and "ALLOWED_HOSTS" in record.getMessage()
    assert all(r.exc_info is None for r in caplog.records) and key not in caplog.text
    assert await rows() == []
    assert (await wu(client, wu_query(EXAMPLE, place.id, key))).content == b"success\n"


async def test_a_malformed_multipart_body_is_400_without_a_traceback(client, caplog):
    await register(passkey=PASSKEY)
    with caplog.at_level("DEBUG"):
        response = await client.post(
            ECOWITT, data=b"--x\r\n", content_type='multipart/form-data; boundary=""'
        )
    assert response.status_code == 400 and response.content == b"The upload is malformed.\n"
    assert all(r.exc_info is None for r in caplog.records)
    assert await rows() == []


async def test_with_the_database_down_a_known_stations_upload_is_taken_and_kept(client, monkeypatch):
    from tests.test_engine import Inbox

    with config(STATION_MIN_INTERVAL=0):
        place, key = await register(passkey=PASSKEY)
        first = await wu(client, wu_query(EXAMPLE, place.id, key, dateutc="now"))
        assert first.status_code == 200  # looked up while storage answered: known here
        engine = await get_engine()
        inbox = Inbox()
        await engine.subscribe(place, inbox)
        assert await engine.recorder.flush()

        def down(**kwargs):
            raise OperationalError("the database is restarting")

        for name in ("station_get", "station_by_passkey", "observations_store", "locations_ensure"):
            monkeypatch.setattr(services, name, down)
        await asyncio.sleep(1.1)  # a second later: a new reading
        second = await wu(client, wu_query(EXAMPLE, place.id, key, dateutc="now", tempf="41"))
        assert (second.status_code, second.content) == (200, b"success\n")
        assert json.loads(inbox.frames[-1])["weather"]["temperature"] == 5.0  # published
        assert [r.temperature for _, r in engine.recorder.pending.values()] == [5.0]  # kept for storing
        wrong = await wu(client, wu_query(EXAMPLE, place.id, "x" * 20, dateutc="now"))
        assert wrong.status_code == 401, "the key is still checked"
        unknown = await wu(client, wu_query(EXAMPLE, stations.new_id(), key, dateutc="now"))
        assert unknown.status_code == 503, "a station not seen before cannot be checked"
