import json
import math

import pytest

from weatherstream import protocol
from weatherstream.protocol import Ping, ProtocolError, Subscribe, Unsubscribe


def test_subscribe_by_city_echoes_id():
    assert protocol.parse('{"type": "subscribe", "city": " Berlin ", "id": 7}') == Subscribe(
        id=7, city="Berlin"
    )


def test_subscribe_by_coordinates():
    cmd = protocol.parse('{"type": "subscribe", "lat": 52.52, "lon": 13.405}')
    assert cmd == Subscribe(lat=52.52, lon=13.405)


def test_tutorial_seed_message_is_a_subscribe():
    assert protocol.parse('{"city": "London"}') == Subscribe(city="London")


def test_unsubscribe_and_ping():
    assert protocol.parse('{"type": "unsubscribe", "location": "2950159"}') == Unsubscribe(location="2950159")
    assert protocol.parse('{"type": "ping", "id": "a"}') == Ping(id="a")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        ("{", "bad_json"),
        ('{"type": "subscribe", "lat": NaN, "lon": 1}', "bad_json"),
        ('{"type": "subscribe", "lat": Infinity, "lon": 1}', "bad_json"),
        ("[1, 2]", "bad_request"),
        ('"subscribe"', "bad_request"),
        ("{}", "bad_request"),
        ('{"type": "dance"}', "bad_request"),
        ('{"type": 5}', "bad_request"),
        ('{"type": "subscribe"}', "bad_request"),
        ('{"type": "subscribe", "city": ""}', "bad_request"),
        ('{"type": "subscribe", "city": "   "}', "bad_request"),
        ('{"type": "subscribe", "city": 12}', "bad_request"),
        ('{"type": "subscribe", "city": "' + "x" * 10_000 + '"}', "bad_request"),
        ('{"type": "subscribe", "lat": 91, "lon": 0}', "bad_request"),
        ('{"type": "subscribe", "lat": 0, "lon": -180.5}', "bad_request"),
        ('{"type": "subscribe", "lat": "52", "lon": 13}', "bad_request"),
        ('{"type": "subscribe", "lat": true, "lon": 13}', "bad_request"),
        ('{"type": "subscribe", "lat": 1e400, "lon": 13}', "bad_request"),
        ('{"type": "subscribe", "lat": 52}', "bad_request"),
        ('{"type": "unsubscribe"}', "bad_request"),
        ('{"type": "unsubscribe", "location": 5}', "bad_request"),
        ('{"type": "ping", "id": {"a": 1}}', "bad_request"),
        ('{"type": "ping", "id": true}', "bad_request"),
        ('{"type": "ping", "id": "' + "i" * 65 + '"}', "bad_request"),
        ("[" * 100_000 + "]" * 100_000, "bad_json"),
    ],
)
def test_bad_frames_raise_protocol_errors(text, code):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(text)
    assert info.value.code == code
    assert info.value.message


def test_binary_frame_is_a_bad_request():
    with pytest.raises(ProtocolError) as info:
        protocol.parse(None)
    assert info.value.code == "bad_request"


def test_error_keeps_a_valid_id():
    with pytest.raises(ProtocolError) as info:
        protocol.parse('{"type": "subscribe", "id": 9}')
    frame = json.loads(protocol.error_frame(info.value))
    assert frame == {"type": "error", "id": 9, "code": "bad_request", "message": info.value.message}


def test_an_unknown_city_error_carries_its_suggestions_and_others_none():
    berlin = {"id": "2950159", "name": "Berlin", "country": "DE", "region": "Germany", "query": "Berlin, DE"}
    error = ProtocolError("unknown_city", "No city called 'Berln' was found.", id=4, suggestions=[berlin])
    assert json.loads(protocol.error_frame(error)) == {
        "type": "error",
        "code": "unknown_city",
        "message": "No city called 'Berln' was found.",
        "id": 4,
        "suggestions": [berlin],
    }
    nothing_close = ProtocolError("unknown_city", "No city called 'Qqq' was found.", suggestions=[])
    assert json.loads(protocol.error_frame(nothing_close))["suggestions"] == []
    assert "suggestions" not in json.loads(protocol.error_frame(ProtocolError("bad_json", "Not JSON.")))


def test_weather_frame_has_published_at(reading):
    weather = protocol.dumps(reading.to_wire())
    text = protocol.weather_frame(location_id="52.52,13.41", weather=weather, published_at=1795500000.125)
    assert json.loads(text) == {
        "type": "weather",
        "location": "52.52,13.41",
        "weather": reading.to_wire(),
        "published_at": 1795500000.125,
    }


def test_subscribed_frame_carries_tutorial_temperature_and_the_effective_interval(reading):
    location = {"id": "1", "name": "Enschede"}
    frame = json.loads(
        protocol.subscribed_frame(
            msg_id=3,
            location=protocol.dumps(location),
            weather=protocol.dumps(reading.to_wire()),
            temperature=reading.temperature,
            poll_interval=5028.5,
            watchers=12,
        )
    )
    assert frame == {
        "type": "subscribed",
        "id": 3,
        "location": location,
        "weather": reading.to_wire(),
        "temperature": reading.temperature,
        "poll_interval": 5028.5,
        "watchers": 12,
    }
    empty = json.loads(
        protocol.subscribed_frame(
            msg_id=None, location=protocol.dumps(location), weather=None, temperature=None, poll_interval=900
        )
    )
    assert empty == {
        "type": "subscribed",
        "location": location,
        "weather": None,
        "temperature": None,
        "poll_interval": 900.0,
        "watchers": 0,
    }
    quoted = protocol.subscribed_frame(
        msg_id='a"b', location="{}", weather=None, temperature=None, poll_interval=1
    )
    assert json.loads(quoted)["id"] == 'a"b'


def test_frames_never_contain_nan():
    with pytest.raises(ValueError):
        protocol.dumps({"x": math.nan})


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "subscribe", "lat": 1' + "0" * 400 + ', "lon": 0}',
        '{"type": "subscribe", "lat": 0, "lon": -1' + "0" * 400 + "}",
        '{"type": "subscribe", "city": "\\ud800"}',
        '{"type": "ping", "id": "\\udfff"}',
        '{"type": "unsubscribe", "location": "a\\ud800"}',
    ],
)
def test_hostile_values_are_bad_requests_not_crashes(text):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(text)
    assert info.value.code == "bad_request"


# Each refusal's exact message (the page shows it) and the message's id kept in the reply.
@pytest.mark.parametrize(
    ("text", "message", "msg_id"),
    [
        (None, "Send JSON text frames, not binary ones.", None),
        ('{"id": 5', "The frame is not valid JSON.", None),
        ('[{"id": 5}]', "A message must be a JSON object.", None),
        ('{"type": "\\ud800", "id": 5}', "'type' is not valid Unicode text.", None),
        ('{"type": "subscribe", "id": 5}', "Subscribe needs 'city', 'lat' and 'lon', or 'station'.", 5),
        ('{"type": "subscribe", "city": " ", "id": 5}', "'city' must be a non-empty string.", 5),
        (
            '{"type": "subscribe", "city": "' + "x" * 201 + '", "id": 5}',
            "'city' is longer than 200 characters.",
            5,
        ),
        ('{"type": "subscribe", "lat": "52", "lon": 13, "id": 5}', "'lat' must be a number.", 5),
        ('{"type": "subscribe", "lat": 52, "lon": null, "id": 5}', "'lon' must be a number.", 5),
        ('{"type": "subscribe", "lat": 52, "id": 5}', "'lon' must be a number.", 5),
        ('{"type": "subscribe", "lon": 13, "id": 5}', "'lat' must be a number.", 5),
        ('{"type": "subscribe", "lat": -90.5, "lon": 13, "id": 5}', "'lat' must be between -90 and 90.", 5),
        ('{"type": "subscribe", "lat": 0, "lon": 180.5, "id": 5}', "'lon' must be between -180 and 180.", 5),
        ('{"type": "unsubscribe", "location": "", "id": 5}', "'location' must be a location id string.", 5),
        (
            '{"type": "unsubscribe", "location": "' + "9" * 65 + '", "id": 5}',
            "'location' must be a location id string.",
            5,
        ),
        ('{"id": 5}', "The message has no 'type'.", 5),
        ("{}", "The message has no 'type'.", None),
        ('{"type": "dance", "id": 5}', "Unknown message type 'dance'.", 5),
        ('{"type": "' + "d" * 32 + '"}', "Unknown message type '" + "d" * 32 + "'.", None),
        ('{"type": "' + "d" * 33 + '"}', "Unknown message type '…'.", None),
        ('{"type": 5}', "Unknown message type '…'.", None),
        (
            '{"type": "ping", "id": 9007199254740993}',
            "'id' must be an integer or a string of at most 64 characters.",
            None,
        ),
    ],
)
def test_each_refusal_says_what_is_wrong_and_keeps_the_id(text, message, msg_id):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(text)
    assert (info.value.code, info.value.message, info.value.id) == (
        "bad_json" if message == "The frame is not valid JSON." else "bad_request",
        message,
        msg_id,
    )
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ('{"type": "subscribe", "city": "' + "x" * 200 + '"}', Subscribe(city="x" * 200)),
        ('{"type": "subscribe", "lat": -90, "lon": 180, "id": 5}', Subscribe(id=5, lat=-90.0, lon=180.0)),
        ('{"type": "subscribe", "lat": 90, "lon": -180}', Subscribe(lat=90.0, lon=-180.0)),
        (
            '{"type": "unsubscribe", "location": "' + "9" * 64 + '", "id": 5}',
            Unsubscribe(id=5, location="9" * 64),
        ),
        ('{"type": "ping", "id": "' + "i" * 64 + '"}', Ping(id="i" * 64)),
        ('{"type": "ping", "id": 9007199254740992}', Ping(id=2**53)),
        ('{"type": "ping", "id": -9007199254740992}', Ping(id=-(2**53))),
        ('{"type": "ping", "id": 107}', Ping(id=107)),
    ],
)
def test_the_largest_values_allowed_are_accepted(text, command):
    assert protocol.parse(text) == command


def test_reply_frames_are_compact_utf8_json():
    assert protocol.pong_frame(msg_id=None) == '{"type":"pong"}'
    assert protocol.pong_frame(msg_id=1) == '{"type":"pong","id":1}'
    assert protocol.unsubscribed_frame(msg_id="u", location_id="2950159") == (
        '{"type":"unsubscribed","location":"2950159","id":"u"}'
    )
    assert (
        protocol.unsubscribed_frame(msg_id=None, location_id="1") == '{"type":"unsubscribed","location":"1"}'
    )
    assert protocol.hello_frame(provider="open-meteo", poll_interval=60.0) == (
        '{"type":"hello","protocol":1,"provider":"open-meteo","poll_interval":60.0}'
    )
    assert protocol.dumps({"name": "Zürich", "n": [1, 2]}) == '{"name":"Zürich","n":[1,2]}'


def test_domain_errors_become_the_refusal_a_client_is_sent():
    from weatherstream.places import Place, PlaceError, TooManyPlaces, UnknownPlace

    berlin = Place("2950159", 52.5, 13.4, name="Berlin", country="DE", region="Germany")
    unknown = protocol.refusal(UnknownPlace("No city called 'Berln' was found.", [berlin]), 7)
    assert (unknown.code, unknown.id) == ("unknown_city", 7)
    assert unknown.message == "No city called 'Berln' was found."
    assert unknown.suggestions == [berlin.as_suggestion()]
    limited = protocol.refusal(TooManyPlaces(2), "x")
    assert (limited.code, limited.id, limited.suggestions) == ("too_many_places", "x", None)
    assert limited.message == str(TooManyPlaces(2)) and "2" in limited.message  # what the page shows
    bad = protocol.refusal(PlaceError("'lat' must be a number."))
    assert (bad.code, bad.message, bad.id) == ("bad_request", "'lat' must be a number.", None)
    assert protocol.refusal(PlaceError("'lat' must be a number."), "b").id == "b"


# Forecasts (issue 15): the kinds a subscription asks for, and the frame sent.


@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            '{"type": "subscribe", "city": "Berlin", "forecast": ["hourly", "daily"], "id": 2}',
            Subscribe(id=2, city="Berlin", forecast=frozenset({"hourly", "daily"})),
        ),
        (
            '{"type": "subscribe", "city": "Berlin", "forecast": ["daily"]}',
            Subscribe(city="Berlin", forecast=frozenset({"daily"})),
        ),
        (
            '{"type": "subscribe", "lat": 52.52, "lon": 13.405, "forecast": ["hourly"]}',
            Subscribe(lat=52.52, lon=13.405, forecast=frozenset({"hourly"})),
        ),
        (
            '{"type": "subscribe", "lat": 52.52, "lon": 13.405, "forecast": ["daily", "hourly"], "id": "f"}',
            Subscribe(id="f", lat=52.52, lon=13.405, forecast=frozenset({"hourly", "daily"})),
        ),
        # duplicates are one kind
        (
            '{"type": "subscribe", "city": "Berlin", "forecast": ["hourly", "hourly", "daily", "hourly"]}',
            Subscribe(city="Berlin", forecast=frozenset({"hourly", "daily"})),
        ),
        # [] drops every kind: not the same as leaving them as they were (None)
        (
            '{"type": "subscribe", "city": "Berlin", "forecast": []}',
            Subscribe(city="Berlin", forecast=frozenset()),
        ),
        (
            '{"type": "subscribe", "lat": 1, "lon": 2, "forecast": []}',
            Subscribe(lat=1.0, lon=2.0, forecast=frozenset()),
        ),
    ],
)
def test_subscribe_carries_the_forecast_kinds_asked_for(text, command):
    parsed = protocol.parse(text)
    assert parsed == command
    assert isinstance(parsed.forecast, frozenset)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "subscribe", "city": "Berlin"}',
        '{"type": "subscribe", "lat": 52.52, "lon": 13.405}',
        '{"city": "Berlin"}',
    ],
)
def test_subscribe_without_forecast_leaves_the_kinds_as_they_were(text):
    parsed = protocol.parse(text)
    assert parsed.forecast is None
    assert protocol.parse('{"type": "subscribe", "city": "Berlin", "forecast": []}').forecast is not None


@pytest.mark.parametrize(
    "forecast",
    [
        '["weekly"]',
        '["hourly", "weekly"]',
        '["Hourly"]',
        '["hourly "]',
        '[""]',
        '"hourly"',
        '"hourly,daily"',
        "true",
        "null",
        "1",
        '{"hourly": true}',
        "[1]",
        '["hourly", 2]',
        '[["hourly"]]',
        "[null]",
        "[true]",
    ],
)
@pytest.mark.parametrize(
    "place",
    ['"city": "Berlin"', '"lat": 52.52, "lon": 13.405'],
)
def test_a_bad_forecast_is_a_bad_request_keeping_the_id(forecast, place):
    text = f'{{"type": "subscribe", {place}, "forecast": {forecast}, "id": 11}}'
    with pytest.raises(ProtocolError) as info:
        protocol.parse(text)
    assert (info.value.code, info.value.id) == ("bad_request", 11)
    assert info.value.message == "'forecast' must be a list of kinds: 'hourly', 'daily'."
    assert json.loads(protocol.error_frame(info.value))["id"] == 11


def _forecast(kind="hourly", source="open-meteo"):
    from datetime import UTC, date, datetime

    from weatherstream.forecasts import Forecast, daily_item, hourly_item

    if kind == "hourly":
        items = (
            hourly_item(datetime(2026, 10, 3, 11, tzinfo=UTC), temperature=17.5, weather_code=2, is_day=True),
            hourly_item(datetime(2026, 10, 3, 12, tzinfo=UTC), temperature=18.25, precipitation=0.4),
        )
    else:
        items = (
            daily_item(
                date(2026, 10, 3),
                sunrise=datetime(2026, 10, 3, 5, 9, tzinfo=UTC),
                sunset=datetime(2026, 10, 3, 16, 41, tzinfo=UTC),
                temperature_max=19.0,
                temperature_min=9.5,
                weather_code=61,
            ),
        )
    return Forecast(
        kind=kind, issued_at=datetime(2026, 10, 3, 10, 0, 30, tzinfo=UTC), source=source, items=items
    )


@pytest.mark.parametrize("kind", ["hourly", "daily"])
def test_forecast_frame_carries_every_field(kind):
    forecast = _forecast(kind)
    text = protocol.forecast_frame(location_id="2950159", forecast=forecast.to_wire())
    assert json.loads(text) == {
        "type": "forecast",
        "location": "2950159",
        "kind": kind,
        "issued_at": "2026-10-03T10:00:30Z",
        "source": "open-meteo",
        "forecast": [dict(item) for item in forecast.items],
    }
    assert list(json.loads(text)) == ["type", "location", "kind", "issued_at", "source", "forecast"]


def test_forecast_frame_is_exact_compact_json():
    from weatherstream.forecasts import HOURLY_FIELDS

    forecast = _forecast("hourly", source="simulated")
    text = protocol.forecast_frame(location_id='52.52,13.41"x', forecast=forecast.to_wire())
    assert text == (
        '{"type":"forecast","location":"52.52,13.41\\"x","kind":"hourly","issued_at":"2026-10-03T10:00:30Z",'
        '"source":"simulated","forecast":['
        '{"time":"2026-10-03T11:00:00Z","temperature":17.5,"feels_like":null,"precipitation":null,'
        '"precipitation_probability":null,"weather_code":2,"summary":"Partly cloudy","wind_speed":null,'
        '"wind_gusts":null,"wind_direction":null,"cloud_cover":null,"is_day":true},'
        '{"time":"2026-10-03T12:00:00Z","temperature":18.25,"feels_like":null,"precipitation":0.4,'
        '"precipitation_probability":null,"weather_code":null,"summary":null,"wind_speed":null,'
        '"wind_gusts":null,"wind_direction":null,"cloud_cover":null,"is_day":null}]}'
    )
    assert [list(item) for item in json.loads(text)["forecast"]] == [list(HOURLY_FIELDS)] * 2


def test_forecast_frame_of_a_daily_forecast_is_exact():
    forecast = _forecast("daily")
    text = protocol.forecast_frame(location_id="1", forecast=forecast.to_wire())
    assert text == (
        '{"type":"forecast","location":"1","kind":"daily","issued_at":"2026-10-03T10:00:30Z",'
        '"source":"open-meteo","forecast":[{"date":"2026-10-03","temperature_max":19.0,"temperature_min":9.5,'
        '"precipitation_sum":null,"precipitation_probability_max":null,"weather_code":61,'
        '"summary":"Slight rain",'
        '"wind_speed_max":null,"wind_gusts_max":null,"sunrise":"2026-10-03T05:09:00Z",'
        '"sunset":"2026-10-03T16:41:00Z","uv_index_max":null}]}'
    )


def test_forecast_frame_never_contains_nan():
    with pytest.raises(ValueError):
        protocol.forecast_frame(
            location_id="1", forecast={"kind": "hourly", "forecast": [{"temperature": math.nan}]}
        )
