"""The WebSocket side of the application users run (example.asgi): its endpoint, any other
path refused at the handshake without a server error, the origin check, REQUIRE_LOGIN."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from example.asgi import application

from tests.conftest import stop_engine

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
