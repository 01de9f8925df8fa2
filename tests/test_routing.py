"""The application users run (example.asgi). WebSockets: the endpoint, any other path
refused at the handshake without a server error, the origin check, REQUIRE_LOGIN. HTTP:
the stations' uploads past Django's handler (station_uploads), everything else through it.
The upload views' answers themselves are in test_station_views.py, by both routes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from example.asgi import application

from tests.conftest import stop_engine
from weatherstream.routing import station_uploads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


ORIGIN = [(b"origin", b"http://localhost")]


def scope(path: str, *, extensions: dict | None = None) -> dict:
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *ORIGIN],
        "subprotocols": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": extensions or {},
    }


async def test_an_unknown_path_is_a_404_where_the_server_can_say_so(caplog):
    app = ApplicationCommunicator(
        application, scope("/ws/nowhere/", extensions={"websocket.http.response": {}})
    )
    await app.send_input({"type": "websocket.connect"})
    start = await app.receive_output(5)
    body = await app.receive_output(5)
    assert start["type"] == "websocket.http.response.start" and start["status"] == 404
    assert b'"not_found"' in body["body"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_an_unknown_path_is_refused_by_other_servers():
    communicator = WebsocketCommunicator(application, "/elsewhere", headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False


async def test_the_endpoint_still_answers():
    communicator = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=10)
    assert connected is True
    assert (await communicator.receive_json_from(10))["type"] == "hello"
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(
        application, "/ws/weather/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False


async def test_a_missing_origin_is_refused_too():
    communicator = WebsocketCommunicator(application, "/ws/weather/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False


async def test_require_login_refuses_anonymous_and_serves_a_logged_in_user():
    """example.asgi as a site with REQUIRE_LOGIN builds it: with the session middleware."""
    import importlib

    import example.asgi
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    from weatherstream.conf import get_config

    @sync_to_async
    def session_cookie():
        client = Client()
        client.force_login(User.objects.create_user("ada"))
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    with override_settings(WEATHERSTREAM={**get_config(), "REQUIRE_LOGIN": True}):
        app = importlib.reload(example.asgi).application
        try:
            anonymous = WebsocketCommunicator(app, "/ws/weather/", headers=ORIGIN)
            assert (await anonymous.connect())[0]
            assert await anonymous.receive_output(timeout=2) == {"type": "websocket.close", "code": 4003}

            cookie = await session_cookie()
            user = WebsocketCommunicator(app, "/ws/weather/", headers=[*ORIGIN, (b"cookie", cookie.encode())])
            assert (await user.connect())[0]
            assert (await user.receive_json_from(5))["type"] == "hello"
            await user.send_json_to({"type": "subscribe", "city": "Berlin", "id": 1})
            async with asyncio.timeout(10):
                while (frame := await user.receive_json_from(5))["type"] != "subscribed":
                    pass
            assert frame["id"] == 1
            await user.disconnect()
        finally:
            importlib.reload(example.asgi)  # as the suite's settings build it again


# -- station_uploads: the stations' upload paths straight to their views ----------------------------

WU = "/weatherstation/updateweatherstation.php"


def http_scope(path, *, query=b"", method="GET", host=b"localhost", root_path="", scope_type="http"):
    return {
        "type": scope_type,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"host", host)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Fallback:
    """The application behind the route: counts what reaches it and answers 418."""

    def __init__(self):
        self.scopes = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 418, "headers": [(b"content-length", b"8")]})
        await send({"type": "http.response.body", "body": b"fallback"})


async def call(app, scope, chunks=(b"",), *, endless=False):
    """Run one request through ``app``: the body in ``chunks`` (or 1 KiB chunks without
    end), then a disconnect. Returns the messages sent and how many were received."""
    received = 0
    sent = []

    async def receive():
        nonlocal received
        received += 1
        if endless:
            assert received < 1000, "read on and on"
            return {"type": "http.request", "body": b"x" * 1024, "more_body": True}
        if received <= len(chunks):
            return {"type": "http.request", "body": chunks[received - 1], "more_body": received < len(chunks)}
        if chunks:  # the client waits for its answer (Django's handler listens meanwhile)
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent, received


def answer(sent):
    start, body = sent
    headers = dict(start["headers"])
    assert int(headers[b"content-length"]) == len(body["body"])
    return start["status"], body["body"]


async def test_an_upload_reaches_its_view_and_nothing_else_does():
    fallback = Fallback()
    app = station_uploads(fallback)
    sent, _ = await call(app, http_scope(WU, query=b"ID=st-nobody&PASSWORD=x&tempf=50"))
    assert answer(sent) == (401, b"INVALIDPASSWORDID|Password or key and/or id are incorrect\n")
    sent, _ = await call(app, http_scope("/data/report/", method="POST"))
    assert answer(sent) == (401, b"Unknown PASSKEY.\n")
    assert fallback.scopes == [], "the uploads went to their views only"
    for other in (http_scope("/weather/"), http_scope(WU + "x"), http_scope(WU, scope_type="websocket")):
        if other["type"] == "http":
            assert answer((await call(app, other))[0]) == (418, b"fallback")
        else:
            await call(app, other)
    assert [s["path"] for s in fallback.scopes] == ["/weather/", WU + "x", WU]


async def test_an_upload_below_the_root_path_is_routed_too():
    fallback = Fallback()
    scope = http_scope("/site" + WU, root_path="/site", query=b"ID=st-nobody&PASSWORD=x")
    sent, _ = await call(station_uploads(fallback), scope)
    assert answer(sent)[0] == 401 and fallback.scopes == []


async def test_a_body_past_the_limit_is_refused_without_reading_the_rest():
    from django.test import override_settings

    from weatherstream.conf import get_config

    with override_settings(WEATHERSTREAM={**get_config(), "STATION_MAX_BODY_BYTES": 4096}):
        scope = http_scope("/data/report/", method="POST")
        sent, received = await call(station_uploads(Fallback()), scope, endless=True)
    assert answer(sent) == (413, b"The upload is too big.\n")
    assert received == 5, "read up to one chunk past 4 KiB, then answered"


async def test_a_body_declared_past_the_limit_is_refused_unread():
    scope = http_scope("/data/report/", method="POST")
    scope["headers"].append((b"content-length", b"100000"))
    sent, received = await call(station_uploads(Fallback()), scope, endless=True)
    assert answer(sent) == (413, b"An upload is at most 16384 bytes.\n")
    assert received == 0, "not even a 100 Continue"


async def test_an_upload_below_the_forced_script_name_is_routed_too():
    from django.test import override_settings

    fallback = Fallback()
    with override_settings(FORCE_SCRIPT_NAME="/site"):
        sent, _ = await call(
            station_uploads(fallback), http_scope("/site" + WU, query=b"ID=st-nobody&PASSWORD=x")
        )
    assert answer(sent)[0] == 401 and fallback.scopes == []


async def test_a_query_string_that_is_not_utf8_is_400_without_a_traceback(caplog):
    caplog.set_level(logging.DEBUG)
    sent, _ = await call(station_uploads(Fallback()), http_scope(WU, query=b"ID=%ff\xff&PASSWORD=x"))
    assert answer(sent) == (400, b"The upload is malformed.\n")
    assert all(record.exc_info is None for record in caplog.records)


async def test_a_client_gone_before_its_body_came_gets_nothing():
    sent, received = await call(
        station_uploads(Fallback()), http_scope("/data/report/", method="POST"), chunks=()
    )
    assert sent == [] and received == 1


async def test_a_refused_upload_is_logged_by_its_path_without_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "hunter2hunter2hunter2"
    await call(station_uploads(Fallback()), http_scope(WU, query=f"ID=st-nobody&PASSWORD={secret}".encode()))
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelname == "WARNING" and record.getMessage() == f"Unauthorized: {WU}"
    assert record.status_code == 401 and secret not in caplog.text


async def test_the_example_takes_uploads_past_djangos_handler_and_the_rest_through_it():
    """Django's handler sends request_started for every request it runs (and runs the
    site's middleware); the route does neither for an upload."""
    from django.core.signals import request_started

    started = []

    def count(sender, **kwargs):
        started.append(kwargs["scope"]["path"])

    request_started.connect(count)
    try:
        sent, _ = await call(application, http_scope(WU, query=b"ID=st-nobody&PASSWORD=x"))
        assert answer(sent)[0] == 401
        sent, _ = await call(application, http_scope("/api/locations", query=b"q=ber"))
        assert sent[0]["status"] == 200
    finally:
        request_started.disconnect(count)
    assert started == ["/api/locations"]
