"""The Open-Meteo forecast API (https://open-meteo.com), ``current=`` variables."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .. import __version__
from ..conf import PUBLIC_OPEN_METEO_URL
from ..places import PlaceLike
from ..readings import Reading, plausible
from . import http
from .base import ProviderError, WeatherProvider

logger = logging.getLogger(__name__)

# Seconds; current data changes every 15 minutes, so this only stops accidents.
PUBLIC_INTERVAL_FLOOR = 60.0

# Seconds between two "current" values: each is stamped with the start of its 15-minute
# slot (the answer's ``current.interval`` says so; this when it does not).
SLOT = 900.0
# Seconds after a 15-minute slot ends before its value is asked for: time for Open-Meteo
# to publish it, so that the first request of a slot does not still get the previous one
# (shorter slots, e.g. a self-hosted instance's or a test's, get a share of it).
PUBLICATION_MARGIN = 10.0
# Open-Meteo counts a location's call as max(1, variables / 10) calls (UPSTREAM.md).
VARIABLES_PER_CALL = 10

USER_AGENT = f"weatherstream/{__version__} (live weather for Django; python-httpx)"

# Our field -> Open-Meteo current variable.
VARIABLES = {
    "temperature": "temperature_2m",
    "feels_like": "apparent_temperature",
    "humidity": "relative_humidity_2m",
    "wind_speed": "wind_speed_10m",
    "wind_gusts": "wind_gusts_10m",
    "wind_direction": "wind_direction_10m",
    "precipitation": "precipitation",
    "cloud_cover": "cloud_cover",
    "pressure": "pressure_msl",
    "weather_code": "weather_code",
    "is_day": "is_day",
}

_SPEED_TO_KMH = {"km/h": 1.0, "m/s": 3.6, "mp/h": 1.609344, "mph": 1.609344, "kn": 1.852}


def _to_celsius(value: float, unit: str) -> float:
    return (value - 32.0) * 5.0 / 9.0 if unit == "°F" else value


def _convert(field: str, value: float, unit: str | None) -> float:
    if not unit:
        return value
    if field in ("temperature", "feels_like"):
        return _to_celsius(value, unit)
    if field in ("wind_speed", "wind_gusts"):
        return value * _SPEED_TO_KMH.get(unit, 1.0)
    if field == "precipitation" and unit == "inch":
        return value * 25.4
    return value


def parse_current(payload: dict[str, Any], *, source: str = "open-meteo") -> Reading | None:
    """One forecast object -> a Reading; None when it carries no ``current`` block or no
    plausible temperature. Other implausible values become None (null on the wire).

    ``current.time`` is local time of the response's ``timezone`` without an offset;
    ``utc_offset_seconds`` turns it into UTC (unless ``timeformat=unixtime`` was asked).
    """
    if not isinstance(payload, dict):
        raise ProviderError(f"expected a JSON object, got {type(payload).__name__}")
    current = payload.get("current")
    if current is None:
        return None
    if not isinstance(current, dict) or "time" not in current:
        raise ProviderError("'current' has no 'time'")
    units = payload.get("current_units") or {}
    raw_time = current["time"]
    try:
        if isinstance(raw_time, (int, float)) and not isinstance(raw_time, bool):
            observed_at = datetime.fromtimestamp(raw_time, UTC)
        else:
            offset = timedelta(seconds=int(payload.get("utc_offset_seconds") or 0))
            observed_at = (datetime.fromisoformat(str(raw_time)) - offset).replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProviderError(f"bad 'current.time' {raw_time!r}") from exc

    values: dict[str, Any] = {}
    for field, variable in VARIABLES.items():
        raw = current.get(variable)
        if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)):
            values[field] = None
            continue
        value = _convert(field, float(raw), units.get(variable))
        if not plausible(field, value):
            logger.warning("open-meteo: dropping implausible %s=%r", variable, raw)
            values[field] = None
            continue
        values[field] = value
    if values["temperature"] is None:  # not a reading anyone could use
        logger.warning("open-meteo: an answer without a plausible temperature")
        return None
    if values["weather_code"] is not None:
        values["weather_code"] = int(values["weather_code"])
    if values["is_day"] is not None:
        values["is_day"] = bool(values["is_day"])
    return Reading(observed_at=observed_at, source=source, **values)


def _floor(url: str) -> float:
    # The public API asks for restraint; a self-hosted or commercial endpoint does not.
    return PUBLIC_INTERVAL_FLOOR if url == PUBLIC_OPEN_METEO_URL else 1.0


class OpenMeteoProvider(WeatherProvider):
    name = "open-meteo"
    metered = True
    default_interval = 900.0
    resolution = SLOT  # "current" values are stamped with their 15-minute slot

    def __init__(
        self,
        *,
        url: str = PUBLIC_OPEN_METEO_URL,
        params: dict[str, str] | None = None,
        timeout: float = 10.0,
        batch_size: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.params = dict(params or {})
        self.max_batch = max(1, batch_size)
        self.min_interval = _floor(url)
        self.deadline = timeout
        # The last answer's current.interval: the length of a slot.
        self.slot = SLOT
        self.client = http.new_client(timeout=timeout, user_agent=USER_AGENT, transport=transport)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OpenMeteoProvider:
        return cls(
            url=config["OPEN_METEO_URL"],
            params=config["OPEN_METEO_PARAMS"],
            timeout=config["HTTP_TIMEOUT"],
            batch_size=config["BATCH_SIZE"],
        )

    @classmethod
    def interval_floor(cls, config: dict[str, Any]) -> float:
        return _floor(config["OPEN_METEO_URL"])

    @classmethod
    def calls(cls, count: int) -> float:
        """Open-Meteo's accounting: each location costs max(1, variables / 10) calls for
        the ``current=`` variables asked (11: 1.1 calls a location)."""
        return count * max(VARIABLES_PER_CALL, len(VARIABLES)) / VARIABLES_PER_CALL  # 55.0, not 55.000…01

    def new_data_at(self, place: PlaceLike, reading: Reading) -> float | None:
        """The end of the reading's slot plus :data:`PUBLICATION_MARGIN` (its share of it,
        for a slot shorter than 15 minutes)."""
        margin = PUBLICATION_MARGIN * min(1.0, self.slot / SLOT)
        return reading.observed_at.timestamp() + self.slot + margin

    def query(self, places: Sequence[PlaceLike]) -> dict[str, str]:
        return {
            **self.params,
            "latitude": ",".join(f"{p.latitude:.4f}" for p in places),
            "longitude": ",".join(f"{p.longitude:.4f}" for p in places),
            "current": ",".join(VARIABLES.values()),
            "timezone": "auto",
            "temperature_unit": "celsius",
            "wind_speed_unit": "kmh",
            "precipitation_unit": "mm",
        }

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        if not places:
            return []
        response = await http.get(self.client, self.url, params=self.query(places), deadline=self.deadline)
        payload = self._payload(response)
        objects = payload if isinstance(payload, list) else [payload]
        if len(objects) != len(places):
            raise ProviderError(f"asked for {len(places)} locations, got {len(objects)} answers")
        return [self._parse(obj) for obj in objects]

    def _parse(self, obj: Any) -> Reading | None:
        # One bad object costs its own location, not the whole batch.
        try:
            reading = parse_current(obj)
        except ProviderError as exc:
            logger.warning("open-meteo: unusable answer for one location: %s", exc)
            return None
        interval = obj["current"].get("interval") if reading is not None else None
        if isinstance(interval, (int, float)) and not isinstance(interval, bool) and 0 < interval <= 86400:
            self.slot = float(interval)
        return reading

    def _payload(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            reason = ""
            try:
                body = response.json()
                if isinstance(body, dict) and body.get("reason"):
                    reason = str(body["reason"])
            except ValueError:
                pass
            raise http.failure(response, reason)
        return http.json_body(response, self.url)

    async def aclose(self) -> None:
        await self.client.aclose()
