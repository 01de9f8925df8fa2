import asyncio
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from example.asgi import application

from tests.conftest import stop_engine
from weatherstream.conf import get_config
from weatherstream.engine import get_engine, shutdown_engine
from weatherstream.forecasts import DAILY_FIELDS, HOURLY_FIELDS, Forecast, Forecasts, daily_item, hourly_item
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Observation
from weatherstream.providers.simulated import SimulatedProvider

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://localhost")]


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


async def connect():
    comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello" and hello["protocol"] == 1
    return comm


async def next_of(comm, kind, timeout=5):
    """The next frame of one type, skipping others (e.g. weather updates), within
    ``timeout`` seconds in all (weather frames arrive every second: a per-frame bound
    alone would wait forever for a frame that never comes)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await comm.receive_json_from(timeout=timeout)
            if frame["type"] == kind:
                return frame


async def test_hello_names_provider_and_interval():
    comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
    await comm.connect()
    hello = await comm.receive_json_from()
    assert hello == {"type": "hello", "protocol": 1, "provider": "simulated", "poll_interval": 1.0}
    await comm.disconnect()


async def test_subscribe_by_city_then_live_updates():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Berlin", "id": 7})
    sub = await comm.receive_json_from()
    assert sub["type"] == "subscribed" and sub["id"] == 7
    loc = sub["location"]
    assert loc["name"] == "Berlin" and loc["country"] == "DE" and loc["timezone"] == "Europe/Berlin"
    assert {"id", "name", "country", "lat", "lon", "timezone"} <= loc.keys()
    first = await comm.receive_json_from(timeout=5)
    second = await comm.receive_json_from(timeout=5)
    for frame in (first, second):
        assert frame["type"] == "weather" and frame["location"] == loc["id"]
        assert frame["weather"]["source"] == "simulated"
        assert isinstance(frame["published_at"], float)
    assert second["weather"]["observed_at"] > first["weather"]["observed_at"]
    await comm.disconnect()


async def test_snapshot_on_subscribe_without_waiting_for_a_poll():
    first = await connect()
    await first.send_json_to({"type": "subscribe", "city": "Paris, FR"})
    await next_of(first, "subscribed")
    await next_of(first, "weather")
    second = await connect()
    await second.send_json_to({"type": "subscribe", "city": "paris, fr", "id": "x"})
    sub = await asyncio.wait_for(second.receive_json_from(), 0.5)
    assert sub["type"] == "subscribed"
    assert sub["weather"]["source"] == "simulated"
    assert sub["temperature"] == sub["weather"]["temperature"] is not None
    await first.disconnect()
    await second.disconnect()


async def test_subscribe_by_coordinates():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "lat": 52.52, "lon": 13.41})
    sub = await next_of(comm, "subscribed")
    assert sub["location"]["id"] == "52.52,13.41"
    assert sub["location"]["timezone"] == "Europe/Berlin"
    weather = await next_of(comm, "weather")
    assert weather["location"] == "52.52,13.41"
    await comm.disconnect()


async def test_tutorial_seed_message_still_works():
    comm = await connect()
    await comm.send_json_to({"city": "London"})
    sub = await next_of(comm, "subscribed")
    assert sub["location"]["country"] == "GB"
    assert "temperature" in sub
    await comm.disconnect()


async def test_unsubscribe_stops_updates():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Madrid"})
    loc = (await next_of(comm, "subscribed"))["location"]["id"]
    await next_of(comm, "weather")
    await comm.send_json_to({"type": "unsubscribe", "location": loc, "id": 3})
    assert await next_of(comm, "unsubscribed") == {"type": "unsubscribed", "location": loc, "id": 3}
    assert await comm.receive_nothing(timeout=2.5)
    engine = await get_engine()
    assert engine.hub.count(loc) == 0
    await comm.disconnect()


async def test_ping_pong():
    comm = await connect()
    await comm.send_json_to({"type": "ping", "id": 1})
    assert await comm.receive_json_from() == {"type": "pong", "id": 1}
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "bad_json"),
        ('{"type": "subscribe", "city": 5, "id": 2}', "bad_request"),
        ('{"type": "teleport"}', "bad_request"),
        ('{"type": "subscribe", "city": "Xyzzyville Qqq", "id": 4}', "unknown_city"),
        ('{"type": "subscribe", "city": "   ", "id": 5}', "bad_request"),
        ('{"type": "subscribe", "lat": NaN, "lon": 0}', "bad_json"),
        ('{"type": "subscribe", "lat": 1e400, "lon": 0}', "bad_request"),
        ('{"type": "subscribe", "lat": 91, "lon": 0}', "bad_request"),
        ('{"type": "subscribe", "lat": "52", "lon": 13}', "bad_request"),
        ("[1, 2, 3]", "bad_request"),
        ('{"city": null}', "bad_request"),
    ],
)
async def test_errors_keep_the_connection_open(frame, code):
    comm = await connect()
    await comm.send_to(text_data=frame)
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_an_unknown_city_error_suggests_what_a_typo_meant():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Berln", "id": 4})
    error = await comm.receive_json_from()
    assert (error["type"], error["code"], error["id"]) == ("error", "unknown_city", 4)
    assert "Berln" in error["message"]
    berlin = {"id": "2950159", "name": "Berlin", "country": "DE", "region": "Germany", "query": "Berlin, DE"}
    assert error["suggestions"][0] == berlin and len(error["suggestions"]) <= 3
    # The query subscribes to that very place.
    await comm.send_json_to({"type": "subscribe", "city": berlin["query"], "id": 5})
    subscribed = await next_of(comm, "subscribed")
    assert (subscribed["id"], subscribed["location"]["id"]) == (5, berlin["id"])
    # Nothing close: the list is there, and empty.
    await comm.send_json_to({"type": "subscribe", "city": "Xyzzyville Qqq", "id": 6})
    nothing = await next_of(comm, "error")
    assert (nothing["code"], nothing["id"], nothing["suggestions"]) == ("unknown_city", 6, [])
    await comm.send_json_to({"type": "subscribe", "city": 5, "id": 7})
    assert "suggestions" not in await next_of(comm, "error")  # other errors have none
    await comm.disconnect()


async def test_binary_frame_is_an_error_not_a_crash():
    comm = await connect()
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await comm.receive_json_from())["code"] == "bad_request"
    await comm.disconnect()


async def test_too_many_subscriptions():
    with override_settings(WEATHERSTREAM={**get_config(), "MAX_SUBSCRIPTIONS": 2}):
        comm = await connect()
        for city in ("Berlin", "Rome"):
            await comm.send_json_to({"type": "subscribe", "city": city})
            await next_of(comm, "subscribed")
        # Subscribing again to a held city is not a new subscription.
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "id": 1})
        assert (await next_of(comm, "subscribed"))["id"] == 1
        await comm.send_json_to({"type": "subscribe", "city": "Vienna", "id": 2})
        message = "A connection may hold at most 2 subscriptions."
        assert await next_of(comm, "error") == {
            "type": "error",
            "code": "too_many_subscriptions",
            "message": message,
            "id": 2,
        }
        await comm.disconnect()


async def test_rate_limited_then_closed():
    limits = {"MESSAGES_PER_SECOND": 1, "MESSAGE_BURST": 3, "RATE_LIMIT_CLOSE_AFTER": 5}
    with override_settings(WEATHERSTREAM={**get_config(), **limits}):
        comm = await connect()
        for _ in range(4):
            await comm.send_json_to({"type": "ping"})
        for _ in range(3):
            assert (await comm.receive_json_from())["type"] == "pong"
        assert (await comm.receive_json_from())["code"] == "rate_limited"
        for _ in range(6):
            await comm.send_json_to({"type": "ping"})
        closed = await comm.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4008}


async def test_storage_failure_is_unavailable_not_a_crash(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr("weatherstream.services.locations_ensure", broken)
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Athens", "id": 5})
    error = await comm.receive_json_from()
    assert error == {"type": "error", "id": 5, "code": "unavailable", "message": error["message"]}
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_one_fetch_per_location_per_interval_with_100_subscribers():
    with override_settings(WEATHERSTREAM={**get_config(), "POLL_INTERVAL": 1}):
        clients = await asyncio.gather(*(connect() for _ in range(100)))
        await asyncio.gather(*(c.send_json_to({"type": "subscribe", "city": "Oslo"}) for c in clients))
        subs = await asyncio.gather(*(next_of(c, "subscribed") for c in clients))
        loc = subs[0]["location"]["id"]
        engine = await get_engine()

        async def weather_frames(c):
            n = 0
            while not await c.receive_nothing(timeout=0.01):
                frame = await c.receive_json_from()
                n += frame["type"] == "weather" and frame["location"] == loc
            return n

        await asyncio.gather(*(weather_frames(c) for c in clients))  # what came before the window
        start = engine.poller.fetches
        await asyncio.sleep(3.2)
        fetched = engine.poller.fetches - start
        assert 2 <= fetched <= 4, fetched
        counts = await asyncio.gather(*(weather_frames(c) for c in clients))
        # Every subscriber got every update, one frame per fetch (a fetch under way at the
        # window's start may land inside it).
        assert min(counts) == max(counts)
        assert fetched <= counts[0] <= fetched + 1
        assert await engine.recorder.flush()  # published first, then stored
        stored = await Observation.objects.filter(location_id=loc).acount()
        assert stored == engine.poller.fetches
        await asyncio.gather(*(c.disconnect() for c in clients))


async def test_disconnect_releases_subscriptions():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Lisbon"})
    loc = (await next_of(comm, "subscribed"))["location"]["id"]
    engine = await get_engine()
    assert engine.hub.count(loc) == 1
    await comm.disconnect()
    await asyncio.sleep(0.05)
    assert engine.hub.count(loc) == 0
    assert loc in engine.subscriptions.released  # still polled during the grace period


@pytest.mark.parametrize("city", [",", ", FR", " ,"])
async def test_empty_name_before_a_qualifier_with_online_geocoding(city):
    with override_settings(WEATHERSTREAM={**get_config(), "ONLINE_GEOCODING": True}):
        await shutdown_engine()  # an engine built with the online geocoder
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": city, "id": 1})
        error = await comm.receive_json_from()
        assert error["type"] == "error" and error["code"] in {"bad_request", "unknown_city"}
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from() == {"type": "pong"}
        await comm.disconnect()


async def test_an_unexpected_failure_answers_unavailable_and_keeps_the_connection(monkeypatch):
    comm = await connect()
    engine = await get_engine()

    async def broken(command):
        raise KeyError("a bug")

    monkeypatch.setattr(engine, "resolve", broken)
    await comm.send_json_to({"type": "subscribe", "city": "Oslo", "id": 2})
    error = await comm.receive_json_from()
    assert error == {
        "type": "error",
        "code": "unavailable",
        "message": "The server could not do that just now.",
    }
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "closed"),
    [
        ("x" * 4096, False),  # at the limit: an error frame, not a close
        ("x" * 4097, True),
        ("€" * 1365, False),  # 4,095 bytes in UTF-8
        ("€" * 1366, True),  # 4,098 bytes
        ("😀" * 1024, False),  # 4,096 bytes in 1,024 characters
        ("😀" * 1025, True),  # 4,100 bytes
        ("\ud800" * 1365, False),  # lone surrogates, 3 bytes each: 4,095 bytes
        ("\ud800" * 1366, True),  # 4,098 bytes
    ],
)
async def test_a_message_over_the_size_limit_closes_with_1009(frame, closed):
    comm = await connect()
    await comm.send_to(text_data=frame)
    out = await comm.receive_output(timeout=2)
    if closed:
        assert out == {"type": "websocket.close", "code": 1009}
    else:
        assert out["type"] == "websocket.send" and '"bad_json"' in out["text"]
        await comm.disconnect()


async def test_a_binary_message_over_the_size_limit_closes_with_1009():
    comm = await connect()
    await comm.send_to(bytes_data=b"\0" * 5000)
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 1009}


async def test_a_binary_message_at_the_size_limit_is_refused_without_closing():
    comm = await connect()
    await comm.send_to(bytes_data=b"\0" * 4096)
    error = await comm.receive_json_from(2)
    assert error == {
        "type": "error",
        "code": "bad_request",
        "message": "Send JSON text frames, not binary ones.",
    }
    await comm.send_to(bytes_data=b"\0" * 4097)
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 1009}


async def test_connections_per_address_are_limited():
    with override_settings(WEATHERSTREAM={**get_config(), "MAX_CONNECTIONS_PER_ADDRESS": 2}):

        def from_(address):
            comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
            comm.scope["client"] = (address, 50000)
            return comm

        first, second, third, elsewhere = (from_(a) for a in ["10.0.0.1"] * 3 + ["10.0.0.2"])
        for comm in (first, second, elsewhere):
            assert (await comm.connect())[0]
            assert (await comm.receive_json_from())["type"] == "hello"
        assert (await third.connect())[0]  # accepted so that it can read why it is closed
        assert await third.receive_output(timeout=2) == {"type": "websocket.close", "code": 4029}
        await first.disconnect()
        again = from_("10.0.0.1")  # a slot is free again
        assert (await again.connect())[0]
        assert (await again.receive_json_from())["type"] == "hello"
        for comm in (second, elsewhere, again):
            await comm.disconnect()
        engine = await get_engine()
        assert engine.subscriptions.addresses == {}


async def test_a_10000_character_city_name():
    # Over the default 4 KiB message limit it closes with 1009 (above); under a raised
    # limit it is a bad_request like any name longer than MAX_CITY_LENGTH.
    with override_settings(WEATHERSTREAM={**get_config(), "MAX_MESSAGE_BYTES": 65536}):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "x" * 10000, "id": 9})
        error = await comm.receive_json_from()
        assert error["code"] == "bad_request" and error["id"] == 9
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from() == {"type": "pong"}
        await comm.disconnect()


async def test_an_address_may_add_only_so_many_new_places_an_hour():
    with override_settings(WEATHERSTREAM={**get_config(), "NEW_PLACES_PER_HOUR": 2}):
        comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
        comm.scope["client"] = ("10.0.0.9", 50000)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "hello"
        for n, city in enumerate(("Berlin", "Rome")):
            await comm.send_json_to({"type": "subscribe", "city": city, "id": n})
            assert (await next_of(comm, "subscribed"))["id"] == n
        await comm.send_json_to({"type": "subscribe", "city": "Vienna", "id": 2})
        error = await next_of(comm, "error")
        assert error["code"] == "too_many_places" and error["id"] == 2
        # The connection goes on, and a place watched already costs nothing.
        await comm.send_json_to({"type": "subscribe", "city": "berlin", "id": 3})
        assert (await next_of(comm, "subscribed"))["id"] == 3
        await comm.disconnect()


async def test_unsubscribe_is_idempotent_and_leaves_the_subscription_count_right():
    from weatherstream import metrics

    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Madrid"})
    loc = (await next_of(comm, "subscribed"))["location"]["id"]
    before = metrics.SUBSCRIPTIONS._value.get()
    for n in (1, 2):  # the second time, the location is not held: still just a reply
        await comm.send_json_to({"type": "unsubscribe", "location": loc, "id": n})
        assert await next_of(comm, "unsubscribed") == {"type": "unsubscribed", "location": loc, "id": n}
    assert metrics.SUBSCRIPTIONS._value.get() == before - 1  # counted down once, not twice
    await comm.send_json_to({"type": "unsubscribe", "location": "never-held", "id": 3})
    assert (await next_of(comm, "unsubscribed"))["id"] == 3
    await comm.disconnect()


async def test_the_rate_limit_closes_on_the_exact_strike():
    # No refill during the test: 3 messages pass, the 4th is the first strike (told once),
    # strikes 2-5 are dropped silently, and the 6th strike (over RATE_LIMIT_CLOSE_AFTER=5)
    # closes the connection.
    limits = {"MESSAGES_PER_SECOND": 0.001, "MESSAGE_BURST": 3, "RATE_LIMIT_CLOSE_AFTER": 5}
    with override_settings(WEATHERSTREAM={**get_config(), **limits}):
        comm = await connect()
        for _ in range(3):
            await comm.send_json_to({"type": "ping"})
            assert (await comm.receive_json_from(2))["type"] == "pong"
        await comm.send_json_to({"type": "ping"})
        assert (await comm.receive_json_from(2))["code"] == "rate_limited"
        for _ in range(4):
            await comm.send_json_to({"type": "ping"})
        assert await comm.receive_nothing(timeout=0.3), "strikes 2 to 5: dropped, not answered, not closed"
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4008}


async def test_one_rate_limited_per_burst_and_the_count_starts_again_after_a_pass():
    # One token every 0.5 s, no burst: two quick messages are one pass and one strike.
    limits = {"MESSAGES_PER_SECOND": 2, "MESSAGE_BURST": 1, "RATE_LIMIT_CLOSE_AFTER": 3}
    with override_settings(WEATHERSTREAM={**get_config(), **limits}):
        comm = await connect()
        for burst in range(2):
            for _ in range(4):  # a pass, then strikes 1, 2, 3: at the limit, still open
                await comm.send_json_to({"type": "ping"})
            assert (await comm.receive_json_from(2))["type"] == "pong"
            assert (await comm.receive_json_from(2))["code"] == "rate_limited", burst
            assert await comm.receive_nothing(timeout=0.2), "one rate_limited per burst"
            await asyncio.sleep(0.6)  # a token again: the next message passes, strikes reset
        await comm.disconnect()


async def test_the_message_rate_is_a_token_bucket_to_the_exact_token(monkeypatch):
    import types

    from tests.clock import FakeClock
    from weatherstream import consumers

    clock = FakeClock(1000.0)
    monkeypatch.setattr(consumers, "time", types.SimpleNamespace(monotonic=clock))
    limits = {"MESSAGES_PER_SECOND": 2, "MESSAGE_BURST": 3, "RATE_LIMIT_CLOSE_AFTER": 100}
    with override_settings(WEATHERSTREAM={**get_config(), **limits}):
        comm = await connect()

        async def replies(n):
            for _ in range(n):
                await comm.send_json_to({"type": "ping"})
            frames = [await comm.receive_json_from(2) for _ in range(n)]
            assert await comm.receive_nothing(timeout=0.1)
            return frames

        pong = {"type": "pong"}
        limited = {"type": "error", "code": "rate_limited", "message": "Too many messages; slow down."}
        assert await replies(4) == [pong, pong, pong, limited]  # the burst, then empty
        clock.now += 0.25  # half a token: still refused, and not told twice
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_nothing(timeout=0.1)
        clock.now += 0.25  # one whole token, exactly
        assert await replies(2) == [pong, limited]
        clock.now += 100  # idle: the bucket fills up to the burst, no further
        assert await replies(4) == [pong, pong, pong, limited]
        await comm.disconnect()


async def test_the_connection_and_subscription_gauges_count_what_is_open():
    from weatherstream import metrics

    def gauges():
        return metrics.CONNECTIONS._value.get(), metrics.SUBSCRIPTIONS._value.get()

    def from_one_address():
        comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
        comm.scope["client"] = ("10.0.0.3", 50000)
        return comm

    connections, subscriptions = gauges()
    with override_settings(WEATHERSTREAM={**get_config(), "MAX_CONNECTIONS_PER_ADDRESS": 1}):
        comm = from_one_address()
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "hello"
        assert gauges() == (connections + 1, subscriptions)
        for city in ("Berlin", "Rome", "berlin"):  # Berlin once: it is held already
            await comm.send_json_to({"type": "subscribe", "city": city})
            await next_of(comm, "subscribed")
        assert gauges() == (connections + 1, subscriptions + 2)
        refused = from_one_address()
        assert (await refused.connect())[0]  # over the limit
        assert await refused.receive_output(timeout=2) == {"type": "websocket.close", "code": 4029}
        await refused.wait(timeout=2)
        assert gauges() == (connections + 1, subscriptions + 2), "a refused connection is not counted"
        await comm.disconnect()
        assert gauges() == (connections, subscriptions)


async def test_require_login_without_the_auth_middleware_refuses_everyone_and_says_why(caplog):
    # The suite's application has no AuthMiddlewareStack (built without REQUIRE_LOGIN): no
    # user in the scope, so nobody can be logged in.
    with override_settings(WEATHERSTREAM={**get_config(), "REQUIRE_LOGIN": True}):
        comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
        assert (await comm.connect())[0]
        assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4003}
    [record] = [r for r in caplog.records if r.name == "weatherstream.consumers"]
    assert record.levelname == "ERROR" and "AuthMiddlewareStack" in record.getMessage()


async def test_a_subscription_failing_after_it_was_registered_is_undone(monkeypatch, caplog):
    from weatherstream import metrics

    with override_settings(WEATHERSTREAM={**get_config(), "MAX_SUBSCRIPTIONS": 1}):
        comm = await connect()
        engine = await get_engine()
        oslo = get_geocoder().resolve("Oslo")
        before = metrics.SUBSCRIPTIONS._value.get()

        def broken(place_id):  # called once the connection is the place's subscriber
            raise RuntimeError("a bug")

        monkeypatch.setattr(engine.poller, "request", broken)
        await comm.send_json_to({"type": "subscribe", "city": "Oslo", "id": 5})
        message = "The server could not subscribe just now."
        assert await comm.receive_json_from() == {
            "type": "error",
            "code": "unavailable",
            "message": message,
            "id": 5,
        }
        assert engine.hub.count(oslo.id) == 0 and metrics.SUBSCRIPTIONS._value.get() == before
        [record] = [r for r in caplog.records if r.name == "weatherstream.consumers"]
        assert oslo.id in record.getMessage() and record.exc_info[0] is RuntimeError
        monkeypatch.undo()
        # Not held: another place is not over MAX_SUBSCRIPTIONS (1).
        await comm.send_json_to({"type": "subscribe", "city": "Rome", "id": 6})
        assert (await next_of(comm, "subscribed"))["id"] == 6
        await comm.disconnect()


async def test_a_subscription_completed_after_the_client_was_dropped_is_undone(monkeypatch):
    """A client that stops reading is dropped (4009) when its frames pile up, which may
    happen while one of its subscribes waits for the database: the place is then not kept."""
    from weatherstream import metrics

    reading = asyncio.Event()
    reading.set()

    async def slow_client(scope, receive, send):
        async def gated(message):
            if message["type"] == "websocket.send":
                await reading.wait()
            await send(message)

        await application(scope, receive, gated)

    with override_settings(WEATHERSTREAM={**get_config(), "SEND_BUFFER_BYTES": 500}):
        comm = WebsocketCommunicator(slow_client, "/ws/weather/", headers=ORIGIN)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "hello"
        engine = await get_engine()
        oslo = get_geocoder().resolve("Oslo")
        before = metrics.SUBSCRIPTIONS._value.get()
        subscribe = engine.subscribe

        async def while_frames_pile_up(place, sender):
            for _ in range(10):
                sender.push("x" * 100)  # say, updates of the places it holds: unread
            assert sender.closed
            return await subscribe(place, sender)

        monkeypatch.setattr(engine, "subscribe", while_frames_pile_up)
        reading.clear()  # the client stops reading
        await comm.send_json_to({"type": "subscribe", "city": "Oslo", "id": 1})
        await comm.wait(timeout=5)  # the connection ends
        assert engine.hub.count(oslo.id) == 0 and metrics.SUBSCRIPTIONS._value.get() == before
        reading.set()  # the frame under way goes out, and the close frame
        outputs = [await comm.receive_output(timeout=2) for _ in range(2)]
        assert {"type": "websocket.close", "code": 4009} in outputs


async def test_the_connection_ends_by_itself_when_the_client_disconnects():
    comm = await connect()
    await comm.send_input({"type": "websocket.disconnect", "code": 1001})
    # Within the deadline and not cancelled (communicator.disconnect() would cancel it).
    await asyncio.wait_for(asyncio.shield(comm.future), 2)
    assert comm.future.result() is None


async def test_an_engine_that_fails_to_start_ends_the_connection_with_its_own_error(monkeypatch):
    async def failing():
        raise RuntimeError("the engine failed to start")

    monkeypatch.setattr("weatherstream.consumers.get_engine", failing)
    comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
    assert (await comm.connect())[0]  # accepted before the engine is asked for
    with pytest.raises(RuntimeError, match="the engine failed to start"):
        await comm.wait(timeout=2)


async def test_a_city_name_over_max_city_length_is_refused_before_any_look_up():
    with override_settings(WEATHERSTREAM={**get_config(), "MAX_CITY_LENGTH": 5}):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "id": 1})
        message = "'city' is longer than 5 characters."
        assert await comm.receive_json_from() == {
            "type": "error",
            "code": "bad_request",
            "message": message,
            "id": 1,
        }
        await comm.send_json_to({"type": "subscribe", "city": "Rome", "id": 2})
        assert (await next_of(comm, "subscribed"))["id"] == 2
        await comm.disconnect()


# -- forecasts (docs/protocol.md, "Forecasts") -----------------------------------------

FORECAST = {**get_config(), "FORECAST_INTERVAL": 0.5}


class ChangingForecasts(SimulatedProvider):
    """Simulated readings, and a forecast that changes at every other fetch (the first
    hour's temperature and each day's maximum are the fetch number halved, rounded
    down): every change is news, every repeat is not. ``fetches`` counts forecast
    fetches per place."""

    fetches: ClassVar[dict[str, int]] = {}

    def forecast_new_data_at(self, place, forecasts):
        return None  # every forecast interval

    async def fetch_forecasts(self, places):
        results = []
        for place in places:
            n = ChangingForecasts.fetches[place.id] = ChangingForecasts.fetches.get(place.id, 0) + 1
            hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            hourly = tuple(
                hourly_item(hour + timedelta(hours=h), temperature=float(n // 2) if h == 0 else 10.0)
                for h in range(48)
            )
            daily = tuple(
                daily_item(hour.date() + timedelta(days=d), temperature_max=float(n // 2)) for d in range(7)
            )
            kinds = {
                "hourly": Forecast("hourly", hour, self.name, hourly),
                "daily": Forecast("daily", hour, self.name, daily),
            }
            results.append(Forecasts(self.name, kinds))
        return results


CHANGING = {**FORECAST, "PROVIDER": "tests.test_consumers.ChangingForecasts"}


async def frames_until(comm, count, kind, timeout=5):
    """The next ``count`` frames of one type, skipping others, within ``timeout`` s."""
    got = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            frame = await comm.receive_json_from(timeout=timeout)
            if frame["type"] == kind:
                got.append(frame)
    return got


async def test_forecast_frames_follow_subscribed_with_every_field():
    with override_settings(WEATHERSTREAM=FORECAST):
        comm = await connect()
        await comm.send_json_to(
            {"type": "subscribe", "city": "Berlin", "forecast": ["hourly", "daily"], "id": 1}
        )
        sub = await next_of(comm, "subscribed")
        frames = {f["kind"]: f for f in await frames_until(comm, 2, "forecast")}
        assert frames.keys() == {"hourly", "daily"}
        now = datetime.now(UTC)
        for frame in frames.values():
            assert list(frame) == ["type", "location", "kind", "issued_at", "source", "forecast"]
            assert frame["location"] == sub["location"]["id"] and frame["source"] == "simulated"
            assert datetime.fromisoformat(frame["issued_at"].replace("Z", "+00:00")) <= now
        hourly, daily = frames["hourly"]["forecast"], frames["daily"]["forecast"]
        assert len(hourly) >= 48 and all(list(i) == list(HOURLY_FIELDS) for i in hourly)
        first = datetime.fromisoformat(hourly[0]["time"].replace("Z", "+00:00"))
        assert first <= now < first + timedelta(hours=1)
        assert all(isinstance(i["temperature"], float) for i in hourly[:48])
        assert len(daily) == 7 and all(list(i) == list(DAILY_FIELDS) for i in daily)
        today = datetime.now(ZoneInfo("Europe/Berlin")).date()
        assert [i["date"] for i in daily] == [str(today + timedelta(days=d)) for d in range(7)]
        await comm.disconnect()


async def test_no_forecast_frames_without_asking():
    with override_settings(WEATHERSTREAM=FORECAST):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin"})
        await next_of(comm, "subscribed")
        kinds = [f["type"] for f in await frames_until(comm, 3, "weather", timeout=6)]
        assert kinds == ["weather"] * 3
        engine = await get_engine()
        assert engine.subscriptions.forecast_watched() == set()
        await comm.disconnect()


async def test_a_later_subscriber_gets_the_held_forecast_right_after_subscribed():
    with override_settings(WEATHERSTREAM=FORECAST):
        first = await connect()
        await first.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["daily"]})
        held = (await frames_until(first, 1, "forecast"))[0]
        second = await connect()
        await second.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["daily", "hourly"]})
        assert (await second.receive_json_from(timeout=2))["type"] == "subscribed"
        following = await second.receive_json_from(timeout=2)
        assert following["type"] == "forecast" and following["kind"] == "daily"
        assert following == held
        await first.disconnect()
        await second.disconnect()


async def test_a_changed_forecast_is_pushed_once_and_a_repeat_is_not():
    ChangingForecasts.fetches.clear()
    with override_settings(WEATHERSTREAM=CHANGING):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["hourly"]})
        sub = await next_of(comm, "subscribed")
        frames = await frames_until(comm, 3, "forecast", timeout=8)
        values = [f["forecast"][0]["temperature"] for f in frames]
        assert values == sorted(set(values)), values  # each change once, never a repeat
        fetches = ChangingForecasts.fetches[sub["location"]["id"]]
        assert fetches >= 2 * (len(values) - 1), (fetches, values)  # every other fetch a repeat
        await comm.disconnect()


async def test_forecast_kinds_change_on_an_existing_subscription():
    with override_settings(WEATHERSTREAM=CHANGING):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["hourly", "daily"]})
        sub = await next_of(comm, "subscribed")
        place = sub["location"]["id"]
        await frames_until(comm, 2, "forecast")
        engine = await get_engine()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["daily"]})
        await next_of(comm, "subscribed")
        assert engine.subscriptions.forecast_hub.count(f"hourly:{place}") == 0
        assert engine.subscriptions.forecast_hub.count(f"daily:{place}") == 1
        later = await frames_until(comm, 2, "forecast", timeout=8)
        assert {f["kind"] for f in later} == {"daily"}
        await comm.send_json_to({"type": "subscribe", "city": "Berlin"})  # no "forecast": kept
        await next_of(comm, "subscribed")
        assert engine.subscriptions.forecast_hub.count(f"daily:{place}") == 1
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": []})
        await next_of(comm, "subscribed")
        assert engine.subscriptions.forecast_hub.count(f"daily:{place}") == 0
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["hourly"]})
        await next_of(comm, "subscribed")
        await comm.send_json_to({"type": "unsubscribe", "location": place})
        await next_of(comm, "unsubscribed")
        assert engine.subscriptions.forecast_hub.count(f"hourly:{place}") == 0
        await comm.disconnect()


async def test_forecast_subscribers_are_released_on_disconnect():
    with override_settings(WEATHERSTREAM=FORECAST):
        comm = await connect()
        await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": ["hourly", "daily"]})
        sub = await next_of(comm, "subscribed")
        await frames_until(comm, 2, "forecast")
        engine = await get_engine()
        place = sub["location"]["id"]
        await comm.disconnect()
        async with asyncio.timeout(5):
            while engine.subscriptions.forecast_hub.locations():
                await asyncio.sleep(0.01)
        assert engine.subscriptions.forecasts_released.keys() == {place}


@pytest.mark.parametrize(
    ("kinds", "message"),
    [("hourly", "'forecast' must be a list"), (["weekly"], "'forecast' must be a list"), ([1], "'forecast'")],
)
async def test_bad_forecast_kinds_are_an_error_frame(kinds, message):
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Berlin", "forecast": kinds, "id": 9})
    error = await comm.receive_json_from(timeout=2)
    assert error["type"] == "error" and error["code"] == "bad_request" and error.get("id") == 9, error
    assert message in error["message"]
    await comm.send_json_to({"type": "ping", "id": 10})
    assert await next_of(comm, "pong") == {"type": "pong", "id": 10}
    await comm.disconnect()


# -- stations -----------------------------------------------------------------------------


async def registered_station(name="Backyard"):
    from channels.db import database_sync_to_async

    from weatherstream import services, stations
    from weatherstream.places import Place

    place = Place(id=stations.new_id(), latitude=46.95, longitude=7.44, name=name, timezone="Europe/Zurich")
    await database_sync_to_async(services.station_create)(place=place, key_hash=stations.digest("k"))
    return place


def station_reading(place, temperature, seconds_ago=0):
    from weatherstream.places import station_source
    from weatherstream.readings import Reading

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return Reading(observed_at=at, source=station_source(place.id), temperature=temperature, humidity=60.0)


async def test_subscribe_to_a_station_then_its_uploads_are_pushed_and_nothing_else():
    place = await registered_station()
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "station": place.id, "id": "s"})
    sub = await next_of(comm, "subscribed")
    assert sub["id"] == "s" and sub["location"]["id"] == place.id and sub["location"]["name"] == "Backyard"
    assert sub["weather"] is None  # nothing uploaded yet, and nothing fetched in its place
    engine = await get_engine()
    await engine.upload(place, station_reading(place, 12.5))
    frame = await next_of(comm, "weather")
    weather = frame["weather"]
    assert frame["location"] == place.id and weather["temperature"] == 12.5
    assert weather["source"] == f"station:{place.id}" and weather["stale"] is False
    assert weather["weather_code"] is None and weather["summary"] is None and weather["cloud_cover"] is None
    # The simulated provider polls every second here: a station gets none of its readings.
    with pytest.raises(TimeoutError):
        await next_of(comm, "weather", timeout=2.5)
    assert place.id not in {p.id for p in engine.demand()}
    await comm.disconnect()


async def test_a_later_station_subscriber_gets_the_last_upload_in_subscribed():
    place = await registered_station()
    engine = await get_engine()
    await engine.upload(place, station_reading(place, 8.0))
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "station": place.id})
    sub = await next_of(comm, "subscribed")
    assert sub["weather"]["temperature"] == 8.0 and sub["weather"]["source"] == f"station:{place.id}"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("station", "code"),
    [
        ("st-000000000000", "unknown_station"),
        ("2950159", "unknown_station"),  # a city's id is not a station's
        ("", "bad_request"),
        (42, "bad_request"),
        ("st-" + "0" * 80, "bad_request"),
    ],
)
async def test_a_wrong_station_is_an_error_frame_with_the_id(station, code):
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "station": station, "id": 3})
    error = await next_of(comm, "error")
    assert error["code"] == code and error["id"] == 3 and error["message"]
    await comm.send_json_to({"type": "ping", "id": 4})  # the connection goes on
    assert (await next_of(comm, "pong"))["id"] == 4
    await comm.disconnect()


# -- resuming with "since" ----------------------------------------------------------------------


async def stored_after(location_id, since, until):
    """What the database holds for the window (since, until], oldest first."""
    from channels.db import database_sync_to_async

    rows = Observation.objects.filter(location_id=location_id, observed_at__gt=since, observed_at__lte=until)
    return await database_sync_to_async(
        lambda: list(rows.order_by("observed_at").values_list("observed_at", flat=True))
    )()


def observed(frame):
    return datetime.fromisoformat(frame["weather"]["observed_at"].replace("Z", "+00:00"))


async def test_a_resumed_subscription_holds_exactly_what_the_database_holds_for_the_gap():
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Lisbon", "id": 1})
    sub = await next_of(comm, "subscribed")
    assert "recovered" not in sub  # no "since": as before
    location = sub["location"]["id"]
    seen = [observed(await next_of(comm, "weather")) for _ in range(2)]
    await comm.disconnect()
    await asyncio.sleep(5)  # five intervals away (still polled for DEMAND_GRACE)
    comm = await connect()
    since = seen[-1].isoformat().replace("+00:00", "Z")
    await comm.send_json_to({"type": "subscribe", "city": "Lisbon", "id": 2, "since": since})
    sub = await next_of(comm, "subscribed")
    assert sub["recovered"] is True
    frames = []
    async with asyncio.timeout(10):
        while len([f for f in frames if not f.get("replay")]) < 2:  # the replay, then two live ones
            frame = await comm.receive_json_from(timeout=5)
            if frame["type"] == "weather":
                frames.append(frame)
    await comm.disconnect()
    replayed = [f for f in frames if f.get("replay")]
    assert len(replayed) >= 4, "about five readings were missed"
    assert frames[: len(replayed)] == replayed, "the replay comes first"
    got = [observed(f) for f in frames]
    assert got == sorted(set(got)), "in order, none twice"
    assert got[0] > seen[-1], "nothing the client had"
    engine = await get_engine()
    assert await engine.recorder.flush()
    assert got == await stored_after(location, seen[-1], got[-1]), "no gap"


async def test_a_reading_published_during_the_replay_arrives_once(monkeypatch):
    import threading

    from weatherstream import services

    place = await registered_station()
    engine = await get_engine()
    first, second = station_reading(place, 1.0, seconds_ago=30), station_reading(place, 2.0)
    await engine.upload(place, first)
    assert await engine.recorder.flush()
    looking, go_on = threading.Event(), threading.Event()
    real = services.observations_after

    def slow(**kwargs):
        looking.set()
        assert go_on.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(services, "observations_after", slow)
    comm = await connect()
    since = (first.observed_at - timedelta(seconds=60)).isoformat()
    await comm.send_json_to({"type": "subscribe", "station": place.id, "since": since})
    assert await asyncio.to_thread(looking.wait, 10)
    # Published while the client's replay is looked up, as an update from another process
    # arrives (over the layer: held here, stored by that process, not by this one).
    engine.publisher.fan_out(place.id, second)
    go_on.set()
    frames = [await comm.receive_json_from(timeout=5) for _ in range(3)]
    assert await comm.receive_nothing(timeout=1.5), "nothing else: not the same reading again, live"
    assert [(f["type"], f["weather"]["temperature"], f.get("replay")) for f in frames] == [
        ("subscribed", 2.0, None),
        ("weather", 1.0, True),
        ("weather", 2.0, True),
    ]
    assert frames[0]["recovered"] is True
    await comm.disconnect()


async def subscribe_since(since, **place):
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "id": 9, "since": since, **place})
    return comm, await next_of(comm, "subscribed")


async def test_not_recovered_when_the_gap_is_older_than_the_retention():
    place = await registered_station()
    comm, sub = await subscribe_since((datetime.now(UTC) - timedelta(days=8)).isoformat(), station=place.id)
    assert sub["recovered"] is False
    engine = await get_engine()
    await engine.upload(place, station_reading(place, 3.0))
    frame = await next_of(comm, "weather")
    assert "replay" not in frame and frame["weather"]["temperature"] == 3.0  # live goes on
    await comm.disconnect()


async def test_not_recovered_when_more_than_resume_limit_were_missed():
    place = await registered_station()
    engine = await get_engine()
    for seconds_ago in (30, 20, 10):
        await engine.upload(place, station_reading(place, float(seconds_ago), seconds_ago=seconds_ago))
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    engine.config = {**engine.config, "RESUME_LIMIT": 2}
    comm, sub = await subscribe_since(since, station=place.id)
    assert sub["recovered"] is False
    with pytest.raises(TimeoutError):
        await next_of(comm, "weather", timeout=1)
    await comm.disconnect()
    engine.config = {**engine.config, "RESUME_LIMIT": 3}
    comm, sub = await subscribe_since(since, station=place.id)
    assert sub["recovered"] is True
    replayed = [await next_of(comm, "weather") for _ in range(3)]
    assert [f["weather"]["temperature"] for f in replayed] == [30.0, 20.0, 10.0]
    await comm.disconnect()


async def test_not_recovered_when_storage_fails(monkeypatch, caplog):
    from django.db import OperationalError

    from weatherstream import services

    def down(**kwargs):
        raise OperationalError("the database is restarting")

    place = await registered_station()
    monkeypatch.setattr(services, "observations_after", down)
    with caplog.at_level("WARNING"):
        comm, sub = await subscribe_since(datetime.now(UTC).isoformat(), station=place.id)
    assert sub["recovered"] is False and "the database is restarting" in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    await comm.disconnect()


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        "2026-12-01T10:00:00",
        1764583200,
        "",
        "2026-12-01T10:00:00Z" * 3,
        "0001-01-01T00:00:00+01:00",
    ],
)
async def test_a_bad_since_is_a_bad_request(since):
    comm = await connect()
    await comm.send_json_to({"type": "subscribe", "city": "Berlin", "id": 5, "since": since})
    error = await next_of(comm, "error")
    assert error["code"] == "bad_request" and error["id"] == 5 and "'since'" in error["message"]
    await comm.disconnect()


# -- watchers ------------------------------------------------------------------------------------


async def test_subscribed_says_how_many_watch_and_changes_come_coalesced():
    engine = await get_engine()
    engine.config = {**engine.config, "WATCHERS_EVERY": 3600.0}  # flushed by hand below
    first = await connect()
    await first.send_json_to({"type": "subscribe", "city": "Madrid"})
    assert (await next_of(first, "subscribed"))["watchers"] == 1
    others = [await connect() for _ in range(20)]
    for comm in others:
        await comm.send_json_to({"type": "subscribe", "city": "Madrid"})
    counts = [(await next_of(comm, "subscribed"))["watchers"] for comm in others]
    assert counts == list(range(2, 22))
    engine.watchers.flush()  # one WATCHERS_EVERY later
    frames = [await next_of(comm, "watchers") for comm in (first, *others)]
    assert {(f["location"], f["count"]) for f in frames} == {(frames[0]["location"], 21)}
    for comm in others[:5]:
        await comm.disconnect()
    engine.watchers.flush()
    assert (await next_of(first, "watchers"))["count"] == 16
    assert engine.watchers.flush() == 0, "nothing changed since: nothing sent"
    for comm in (first, *others[5:]):
        await comm.disconnect()


async def test_the_count_of_watchers_is_sent_every_watchers_every_by_the_engine_itself():
    await stop_engine()
    with override_settings(WEATHERSTREAM={**get_config(), "WATCHERS_EVERY": 0.3}):
        a = await connect()
        await a.send_json_to({"type": "subscribe", "city": "Porto"})
        await next_of(a, "subscribed")
        b = await connect()
        await b.send_json_to({"type": "subscribe", "city": "Porto"})
        await next_of(b, "subscribed")
        frame = await next_of(a, "watchers", timeout=3)
        assert frame["count"] == 2
        await a.disconnect()
        await b.disconnect()
