"""Wire protocol v1: parse client frames, build server frames.

Every malformed frame becomes a :class:`ProtocolError` carrying a code from
:data:`ERROR_CODES`; nothing here raises anything else on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import places
from .forecasts import KINDS as FORECAST_KINDS
from .places import PlaceError, TooManyPlaces, UnknownPlace, UnknownStation
from .readings import parse_iso

PROTOCOL_VERSION = 1

ERROR_CODES = {
    "bad_json": "The frame is not valid JSON text.",
    "bad_request": "The message is not one the server understands.",
    "unknown_city": "No place matches the name.",
    "unknown_station": "No registered weather station has the id.",
    "too_many_subscriptions": "The connection holds as many subscriptions as allowed.",
    "too_many_places": "This address added as many new places this hour as allowed.",
    "rate_limited": "Too many messages; slow down.",
    "unavailable": "The server could not do that just now; try again.",
}

# WebSocket close codes the server uses (4000-4999 are application codes).
CLOSE_TOO_BIG = 1009  # RFC 6455: a message over MAX_MESSAGE_BYTES
CLOSE_LOGIN_REQUIRED = 4003  # REQUIRE_LOGIN is on and the handshake carried no logged-in user
CLOSE_RATE_LIMITED = 4008
CLOSE_SLOW_CONSUMER = 4009
CLOSE_TOO_MANY_CONNECTIONS = 4029  # MAX_CONNECTIONS_PER_ADDRESS reached

MAX_ID_LENGTH = 64


class ProtocolError(Exception):
    """``suggestions``: for ``unknown_city``, places the client may have meant, each a dict
    as :meth:`~weatherstream.places.Place.as_suggestion` makes (possibly none);
    None for other errors, whose frames carry no ``suggestions`` key."""

    def __init__(
        self, code: str, message: str, *, id: Any = None, suggestions: list[dict[str, Any]] | None = None
    ) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.suggestions = suggestions


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: Any = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    station: str | None = None  # a registered station's id
    # The forecast kinds the subscription gets from now on; None: left as they were.
    forecast: frozenset[str] | None = None
    # The observed_at of the last reading the client has: the ones after it are replayed.
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    location: str
    id: Any = None


@dataclass(frozen=True, slots=True)
class Ping:
    id: Any = None


Command = Subscribe | Unsubscribe | Ping


def _coordinate(value: Any, axis: str, msg_id: Any) -> float:
    try:
        return places.coordinate(value, axis)
    except PlaceError as exc:
        raise ProtocolError("bad_request", str(exc), id=msg_id) from None


def _forecast_kinds(data: dict[str, Any], msg_id: Any) -> frozenset[str] | None:
    if "forecast" not in data:
        return None
    kinds = data["forecast"]
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k in FORECAST_KINDS for k in kinds):
        raise ProtocolError(
            "bad_request", "'forecast' must be a list of kinds: 'hourly', 'daily'.", id=msg_id
        )
    return frozenset(kinds)


def _since(data: dict[str, Any], msg_id: Any) -> datetime | None:
    if "since" not in data:
        return None
    text = data["since"]
    try:
        if not isinstance(text, str) or len(text) > 40:
            raise ValueError(text)
        return parse_iso(text)
    except ValueError:
        raise ProtocolError(
            "bad_request", "'since' must be a reading's observed_at, e.g. '2026-12-01T10:15:00Z'.", id=msg_id
        ) from None


def _subscribe(data: dict[str, Any], msg_id: Any, **place: Any) -> Subscribe:
    return Subscribe(id=msg_id, forecast=_forecast_kinds(data, msg_id), since=_since(data, msg_id), **place)


def refusal(exc: PlaceError | TooManyPlaces, msg_id: Any = None) -> ProtocolError:
    """A domain error of the engine as the error a client is sent."""
    if isinstance(exc, UnknownPlace):
        suggestions = [p.as_suggestion() for p in exc.suggestions]
        return ProtocolError("unknown_city", str(exc), id=msg_id, suggestions=suggestions)
    if isinstance(exc, UnknownStation):
        return ProtocolError("unknown_station", str(exc), id=msg_id)
    if isinstance(exc, TooManyPlaces):
        return ProtocolError("too_many_places", str(exc), id=msg_id)
    return ProtocolError("bad_request", str(exc), id=msg_id)


def _encodable(text: str) -> bool:
    """False for strings with lone surrogates ("\\ud800" in JSON): they cannot be sent back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse(text: str | None, *, max_city_length: int = 200) -> Command:
    """Turn one client text frame into a command, or raise ProtocolError."""
    if text is None:
        raise ProtocolError("bad_request", "Send JSON text frames, not binary ones.")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "A message must be a JSON object.")
    for key in ("id", "city", "station", "location", "type"):
        if isinstance(data.get(key), str) and not _encodable(data[key]):
            raise ProtocolError("bad_request", f"'{key}' is not valid Unicode text.")

    msg_id = data.get("id")
    if msg_id is not None and (
        isinstance(msg_id, bool)
        or not isinstance(msg_id, (int, str))
        or (isinstance(msg_id, str) and len(msg_id) > MAX_ID_LENGTH)
        or (isinstance(msg_id, int) and abs(msg_id) > 2**53)
    ):
        raise ProtocolError(
            "bad_request", f"'id' must be an integer or a string of at most {MAX_ID_LENGTH} characters."
        )

    kind = data.get("type", "subscribe" if "city" in data else None)
    if kind == "subscribe":
        if "city" in data:
            city = data["city"]
            if not isinstance(city, str) or not city.strip():
                raise ProtocolError("bad_request", "'city' must be a non-empty string.", id=msg_id)
            if len(city) > max_city_length:
                raise ProtocolError(
                    "bad_request",
                    f"'city' is longer than {max_city_length} characters.",
                    id=msg_id,
                )
            return _subscribe(data, msg_id, city=city.strip())
        if "station" in data:
            station = data["station"]
            if not isinstance(station, str) or not station.strip() or len(station) > MAX_ID_LENGTH:
                raise ProtocolError(
                    "bad_request",
                    f"'station' must be a station id of at most {MAX_ID_LENGTH} characters.",
                    id=msg_id,
                )
            return _subscribe(data, msg_id, station=station.strip())
        if "lat" in data or "lon" in data:
            lat = _coordinate(data.get("lat"), "lat", msg_id)
            lon = _coordinate(data.get("lon"), "lon", msg_id)
            return _subscribe(data, msg_id, lat=lat, lon=lon)
        raise ProtocolError(
            "bad_request", "Subscribe needs 'city', 'lat' and 'lon', or 'station'.", id=msg_id
        )
    if kind == "unsubscribe":
        location = data.get("location")
        if not isinstance(location, str) or not location or len(location) > 64:
            raise ProtocolError("bad_request", "'location' must be a location id string.", id=msg_id)
        return Unsubscribe(id=msg_id, location=location)
    if kind == "ping":
        return Ping(id=msg_id)
    if kind is None:
        raise ProtocolError("bad_request", "The message has no 'type'.", id=msg_id)
    shown = kind if isinstance(kind, str) and len(kind) <= 32 else "…"
    raise ProtocolError("bad_request", f"Unknown message type '{shown}'.", id=msg_id)


def dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _with_id(frame: dict[str, Any], msg_id: Any) -> dict[str, Any]:
    if msg_id is not None:
        frame["id"] = msg_id
    return frame


def hello_frame(*, provider: str, poll_interval: float) -> str:
    return dumps(
        {"type": "hello", "protocol": PROTOCOL_VERSION, "provider": provider, "poll_interval": poll_interval}
    )


def error_frame(error: ProtocolError) -> str:
    frame = _with_id({"type": "error", "code": error.code, "message": error.message}, error.id)
    if error.suggestions is not None:
        frame["suggestions"] = error.suggestions
    return dumps(frame)


def subscribed_frame(
    *,
    msg_id: Any,
    location: str,
    weather: str | None,
    temperature: float | None,
    poll_interval: float,
    recovered: bool | None = None,
    watchers: int = 0,
) -> str:
    """``location`` and ``weather`` are JSON texts the engine keeps per place, so a
    subscribe costs no serialization of the snapshot. The top-level ``temperature``
    keeps the original tutorial's clients working; ``poll_interval`` is the effective
    one (stretched when the call budget runs short), as in ``hello``. ``recovered``
    answers a subscribe with ``since`` (None: it had none). ``watchers``: the connections
    watching the place across the cluster, this one included."""
    head = '{"type":"subscribed"' + (f',"id":{dumps(msg_id)}' if msg_id is not None else "")
    tail = "" if recovered is None else f',"recovered":{dumps(recovered)}'
    return (
        f'{head},"location":{location},"weather":{weather or "null"},"temperature":{dumps(temperature)},'
        f'"poll_interval":{float(poll_interval)!r},"watchers":{int(watchers)}{tail}}}'
    )


def unsubscribed_frame(*, msg_id: Any, location_id: str) -> str:
    return dumps(_with_id({"type": "unsubscribed", "location": location_id}, msg_id))


def pong_frame(*, msg_id: Any) -> str:
    return dumps(_with_id({"type": "pong"}, msg_id))


def weather_frame(*, location_id: str, weather: str, published_at: float) -> str:
    """``weather`` is the reading's JSON text, serialized once per update."""
    return (
        f'{{"type":"weather","location":{dumps(location_id)},"weather":{weather},'
        f'"published_at":{published_at!r}}}'
    )


def watchers_frame(*, location_id: str, count: int) -> str:
    return dumps({"type": "watchers", "location": location_id, "count": count})


def replay_frame(*, location_id: str, weather: str) -> str:
    """A stored reading the client missed (after its ``since``), sent before live ones."""
    return f'{{"type":"weather","location":{dumps(location_id)},"weather":{weather},"replay":true}}'


def forecast_frame(*, location_id: str, forecast: dict[str, Any]) -> str:
    """``forecast``: :meth:`~weatherstream.forecasts.Forecast.to_wire`; made once per
    forecast and kept (:class:`~weatherstream.latest.LatestForecasts`)."""
    return dumps({"type": "forecast", "location": location_id, **forecast})
