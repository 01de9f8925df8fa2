"""The Open-Meteo forecast API (https://open-meteo.com): ``current=`` variables for
readings; ``hourly=`` and ``daily=`` ones for forecasts, fetched again when its metadata
API says a model has a new run (:class:`ModelRuns`)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import httpx

from .. import __version__, flights
from ..conf import PUBLIC_OPEN_METEO_URL
from ..forecasts import (
    CHECKED_AS,
    DAILY,
    DAYS,
    HOURLY,
    HOURS_AHEAD,
    Forecast,
    Forecasts,
    daily_item,
    hourly_item,
)
from ..places import PlaceLike
from ..readings import Reading, plausible
from . import http
from .base import FORECAST_EVERY, ProviderError, WeatherProvider

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

# Forecasts: our field -> Open-Meteo variable, 10 hourly and 10 daily (20 variables over
# 7 days cost 2 calls a location: forecast_calls).
HOURLY_VARIABLES = {
    "temperature": "temperature_2m",
    "feels_like": "apparent_temperature",
    "precipitation": "precipitation",
    "precipitation_probability": "precipitation_probability",
    "weather_code": "weather_code",
    "wind_speed": "wind_speed_10m",
    "wind_gusts": "wind_gusts_10m",
    "wind_direction": "wind_direction_10m",
    "cloud_cover": "cloud_cover",
    "is_day": "is_day",
}
DAILY_VARIABLES = {
    "weather_code": "weather_code",
    "temperature_max": "temperature_2m_max",
    "temperature_min": "temperature_2m_min",
    "precipitation_sum": "precipitation_sum",
    "precipitation_probability_max": "precipitation_probability_max",
    "wind_speed_max": "wind_speed_10m_max",
    "wind_gusts_max": "wind_gusts_10m_max",
    "sunrise": "sunrise",
    "sunset": "sunset",
    "uv_index_max": "uv_index_max",
}
# Daily variables that are times, not numbers.
DAILY_TIMES = ("sunrise", "sunset")
FORECAST_DAYS = DAYS
FORECAST_HOURS = HOURS_AHEAD  # asked from the current hour
# Open-Meteo counts forecast days in fortnights (UPSTREAM.md).
DAYS_PER_CALL = 14

# The models whose runs say when a forecast may have changed (OPEN_METEO_FORECAST_MODELS).
FORECAST_MODELS = ("dwd_icon", "ncep_gfs025", "ecmwf_ifs025")
# Seconds between two reads of the metadata API.
META_EVERY = 300.0
# Seconds after a run is available before it is asked for: Open-Meteo's servers take up
# to 10 minutes to all have it.
RUN_MARGIN = 600.0
# Seconds until a place with nothing new (no run since its last fetch) is checked again.
RECHECK = 600.0
# A place not fetched for this long is forgotten; looked for every FORGET_EVERY seconds.
FORGET_AFTER = 6 * 3600.0
FORGET_EVERY = 600.0

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
    if field in ("precipitation", "precipitation_sum") and unit == "inch":
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


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _offset(payload: dict[str, Any]) -> timedelta:
    raw = payload.get("utc_offset_seconds")
    if raw is None:
        return timedelta(0)
    if not _number(raw) or not math.isfinite(raw) or abs(raw) > 86400:
        raise ProviderError(f"bad 'utc_offset_seconds' {raw!r}")
    return timedelta(seconds=raw)


def _time(raw: Any, offset: timedelta, where: str) -> datetime:
    """A local time without offset (or unix seconds) -> an aware UTC datetime."""
    try:
        if _number(raw):
            return datetime.fromtimestamp(raw, UTC)
        if isinstance(raw, str):
            return (datetime.fromisoformat(raw) - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ProviderError(f"bad time {raw!r} in '{where}'") from exc
    raise ProviderError(f"bad time {raw!r} in '{where}'")


def _day(raw: Any, offset: timedelta) -> date:
    """A daily ``time``: the local date (or unix seconds of its local midnight)."""
    try:
        if _number(raw):
            return (datetime.fromtimestamp(raw, UTC) + offset).date()
        if isinstance(raw, str):
            return date.fromisoformat(raw)
    except (ValueError, OverflowError, OSError) as exc:
        raise ProviderError(f"bad day {raw!r} in 'daily.time'") from exc
    raise ProviderError(f"bad day {raw!r} in 'daily.time'")


def _times(block: dict[str, Any], where: str) -> list[Any]:
    raw = block.get("time")
    if not isinstance(raw, list):
        raise ProviderError(f"'{where}.time' is not a list")
    return raw


def _column(block: dict[str, Any], variable: str, count: int, where: str) -> list[Any]:
    raw = block.get(variable)
    if raw is None:  # not in the answer: unknown
        return [None] * count
    if not isinstance(raw, list) or len(raw) != count:
        raise ProviderError(f"'{where}.{variable}' is not a list of {count} values")
    return raw


def _numbers(
    payload: dict[str, Any], where: str, variables: dict[str, str], count: int
) -> dict[str, list[float | None]]:
    """Our field -> its values in our units, from block ``where`` (``hourly``, ``daily``)."""
    block = payload[where]
    units = payload.get(f"{where}_units")
    units = units if isinstance(units, dict) else {}
    columns: dict[str, list[float | None]] = {}
    for field, variable in variables.items():
        values: list[float | None] = []
        for raw in _column(block, variable, count, where):
            if raw is not None and not _number(raw):
                raise ProviderError(f"'{where}.{variable}' holds {raw!r}, not a number")
            unit = units.get(variable)
            values.append(None if raw is None else _convert(CHECKED_AS.get(field, field), float(raw), unit))
        columns[field] = values
    return columns


def parse_forecast(
    payload: Any, *, now: float, issued_at: datetime, source: str = "open-meteo"
) -> Forecasts | None:
    """One forecast object with ``hourly`` and ``daily`` blocks -> its Forecasts; None
    when neither has an item left. Hourly items start at the hour containing ``now``
    (at most :data:`FORECAST_HOURS`), daily ones are at most :data:`FORECAST_DAYS` local
    days. Times are local without an offset: ``utc_offset_seconds`` turns them into UTC;
    a day stays the place's local date. Implausible values become None.

    Raises :class:`ProviderError` for another shape: a block missing, a list of another
    length than its ``time``, a value that is not a number (or a time).
    """
    if not isinstance(payload, dict):
        raise ProviderError(f"expected a JSON object, got {type(payload).__name__}")
    if not isinstance(payload.get("hourly"), dict) or not isinstance(payload.get("daily"), dict):
        raise ProviderError("no 'hourly' and 'daily' blocks")
    offset = _offset(payload)

    times = [_time(t, offset, "hourly.time") for t in _times(payload["hourly"], "hourly")]
    hourly = _numbers(payload, "hourly", HOURLY_VARIABLES, len(times))
    hours = [
        hourly_item(t, source=source, **{field: values[i] for field, values in hourly.items()})
        for i, t in enumerate(times)
        if t.timestamp() + 3600 > now
    ][:FORECAST_HOURS]

    block = payload["daily"]
    days = [_day(d, offset) for d in _times(block, "daily")]
    numbers = {f: v for f, v in DAILY_VARIABLES.items() if f not in DAILY_TIMES}
    daily = _numbers(payload, "daily", numbers, len(days))
    sun = {
        f: [
            None if t is None else _time(t, offset, f"daily.{f}")
            for t in _column(block, v, len(days), "daily")
        ]
        for f, v in DAILY_VARIABLES.items()
        if f in DAILY_TIMES
    }
    items = [
        daily_item(
            day,
            sunrise=sun["sunrise"][i],
            sunset=sun["sunset"][i],
            source=source,
            **{field: values[i] for field, values in daily.items()},
        )
        for i, day in enumerate(days[:FORECAST_DAYS])
    ]
    kinds = {
        kind: Forecast(kind, issued_at, source, tuple(found))
        for kind, found in ((HOURLY, hours), (DAILY, items))
        if found
    }
    return Forecasts(source, kinds) if kinds else None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: where Open-Meteo's metadata API is."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ModelRuns:
    """When Open-Meteo last made a run of each of ``models`` available, from its metadata
    API (``<origin>/data/<model>/static/meta.json``, not counted as calls): read at most
    every :data:`META_EVERY` seconds, one read shared by the callers meanwhile. A model
    whose metadata the last read could not get is left out (a warning, never an error)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        origin: str,
        models: Sequence[str],
        *,
        deadline: float,
        every: float = META_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.origin = origin
        self.models = tuple(models)
        self.deadline = deadline
        self.every = every
        self.clock = clock
        self.available: dict[str, float] = {}  # model -> its last run's availability, epoch s
        self.answered = False  # the last read got some model's time
        self.read_at: float | None = None
        self._reads: dict[str, asyncio.Task[None]] = {}

    def known(self) -> float | None:
        """The newest availability time the last read found (epoch seconds), or None."""
        return max(self.available.values(), default=None)

    async def latest(self) -> float | None:
        """:meth:`known`, read again first when the last read is ``every`` seconds old;
        None while the last read got no model's time (the API is down: nothing is held
        back by times that may be old)."""
        if self.read_at is None or self.clock() - self.read_at >= self.every:
            await flights.shared(self._reads, "read", self._read)
        return self.known() if self.answered else None

    async def _read(self) -> None:
        found = await asyncio.gather(*(self._available(m) for m in self.models))
        # A model whose read failed keeps its last known time: the newest never goes back.
        self.available.update({m: t for m, t in zip(self.models, found) if t is not None})
        self.answered = any(t is not None for t in found)
        self.read_at = self.clock()

    async def _available(self, model: str) -> float | None:
        url = f"{self.origin}/data/{model}/static/meta.json"
        try:
            response = await http.get(self.client, url, deadline=self.deadline)
            if response.status_code != 200:
                raise http.failure(response)
            body = http.json_body(response, url)
        except ProviderError as exc:
            logger.warning("open-meteo: no run times for model %s: %s", model, exc)
            return None
        value = body.get("last_run_availability_time") if isinstance(body, dict) else None
        if not _number(value) or not math.isfinite(value) or value <= 0:
            logger.warning("open-meteo: no 'last_run_availability_time' for model %s: %r", model, value)
            return None
        return float(value)


def _floor(url: str) -> float:
    # The public API asks for restraint; a self-hosted or commercial endpoint does not.
    return PUBLIC_INTERVAL_FLOOR if url == PUBLIC_OPEN_METEO_URL else 1.0


class OpenMeteoProvider(WeatherProvider):
    name = "open-meteo"
    metered = True
    default_interval = 900.0
    resolution = SLOT  # "current" values are stamped with their 15-minute slot
    forecasts = True

    def __init__(
        self,
        *,
        url: str = PUBLIC_OPEN_METEO_URL,
        params: dict[str, str] | None = None,
        timeout: float = 10.0,
        batch_size: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        models: Sequence[str] = FORECAST_MODELS,
        forecast_every: float = FORECAST_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.params = dict(params or {})
        self.max_batch = max(1, batch_size)
        self.min_interval = _floor(url)
        self.deadline = timeout
        # The last answer's current.interval: the length of a slot.
        self.slot = SLOT
        self.client = http.new_client(timeout=timeout, user_agent=USER_AGENT, transport=transport)
        self.clock = clock
        # A shorter FORECAST_INTERVAL (a self-hosted instance, tests) checks as often.
        self.forecast_every = forecast_every
        self.recheck = min(RECHECK, forecast_every)
        self.runs = ModelRuns(
            self.client,
            origin(url),
            models,
            deadline=timeout,
            every=min(META_EVERY, forecast_every),
            clock=clock,
        )
        self.forecast_fetched: dict[str, float] = {}  # place id -> its last forecast fetch
        self.forecast_issued: dict[str, float] = {}  # place id -> its last forecast's issued_at
        self._forgot_at = clock()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OpenMeteoProvider:
        models = config.get("OPEN_METEO_FORECAST_MODELS")
        return cls(
            url=config["OPEN_METEO_URL"],
            params=config["OPEN_METEO_PARAMS"],
            timeout=config["HTTP_TIMEOUT"],
            batch_size=config["BATCH_SIZE"],
            models=FORECAST_MODELS if models is None else tuple(models),
            forecast_every=cls.forecast_interval(config),
        )

    @classmethod
    def interval_floor(cls, config: dict[str, Any]) -> float:
        return _floor(config["OPEN_METEO_URL"])

    @classmethod
    def forecast_interval(cls, config: dict[str, Any]) -> float:
        """Hourly at most on the public API, whatever FORECAST_INTERVAL says (W004)."""
        wanted = super().forecast_interval(config)
        public = config["OPEN_METEO_URL"] == PUBLIC_OPEN_METEO_URL
        return max(wanted, FORECAST_EVERY) if public else wanted

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

    # -- forecasts ------------------------------------------------------------------

    @classmethod
    def forecast_calls(cls, count: int) -> float:
        """Open-Meteo's accounting: each location costs max(1, variables / 10, days / 14 x
        variables / 10) calls for the ``hourly=`` and ``daily=`` variables asked (20 over
        7 days: 2 calls a location)."""
        variables = len(HOURLY_VARIABLES) + len(DAILY_VARIABLES)
        weight = max(VARIABLES_PER_CALL, variables, FORECAST_DAYS * variables / DAYS_PER_CALL)
        return count * weight / VARIABLES_PER_CALL

    def forecast_query(self, places: Sequence[PlaceLike]) -> dict[str, str]:
        return {
            **self.params,
            "latitude": ",".join(f"{p.latitude:.4f}" for p in places),
            "longitude": ",".join(f"{p.longitude:.4f}" for p in places),
            "hourly": ",".join(HOURLY_VARIABLES.values()),
            "daily": ",".join(DAILY_VARIABLES.values()),
            "timezone": "auto",
            "temperature_unit": "celsius",
            "wind_speed_unit": "kmh",
            "precipitation_unit": "mm",
            "forecast_days": str(FORECAST_DAYS),
            "forecast_hours": str(FORECAST_HOURS),
        }

    def forecast_new_data_at(self, place: PlaceLike, forecasts: Forecasts) -> float | None:
        """The place's last forecast fetch plus :data:`FORECAST_EVERY` (hourly at most);
        None when this process has not fetched it."""
        fetched = self.forecast_fetched.get(place.id)
        return None if fetched is None else fetched + self.forecast_every

    async def forecast_gate(self, places: Sequence[PlaceLike]) -> dict[str, float]:
        """Of places fetched before: those last fetched after the newest model run became
        available plus :data:`RUN_MARGIN` have nothing new (asked again in ``recheck``
        seconds, at most :data:`RECHECK`); those with a run newer than that wait until it
        is :data:`RUN_MARGIN` old (Open-Meteo's servers take that long to all have it). A
        place never fetched here, and every place while no run time is known, goes."""
        latest = await self.runs.latest()
        if latest is None:
            return {}
        ready = latest + RUN_MARGIN
        now = self.clock()
        wait: dict[str, float] = {}
        for place in places:
            fetched = self.forecast_fetched.get(place.id)
            if fetched is None:
                continue
            if fetched > ready:
                wait[place.id] = self.recheck
            elif now < ready:
                wait[place.id] = ready - now
        return wait

    async def fetch_forecasts(self, places: Sequence[PlaceLike]) -> list[Forecasts | None]:
        """One request for the batch. ``issued_at`` is when the newest model run became
        available (:meth:`ModelRuns.known`), or the time of the fetch when none is known."""
        if not places:
            return []
        started = self.clock()
        self._forget(started)
        response = await http.get(
            self.client, self.url, params=self.forecast_query(places), deadline=self.deadline
        )
        payload = self._payload(response)
        objects = payload if isinstance(payload, list) else [payload]
        if len(objects) != len(places):
            raise ProviderError(f"asked for {len(places)} locations, got {len(objects)} answers")
        await self.runs.latest()  # read at most every few minutes, not counted
        known = self.runs.known()
        now = self.clock()
        results: list[Forecasts | None] = []
        for place, obj in zip(places, objects):
            # Never before the place's last one (a fetch while no run time was known is
            # stamped with its own time, later than the run it had).
            issued = max(started if known is None else known, self.forecast_issued.get(place.id, 0.0))
            issued_at = datetime.fromtimestamp(issued, UTC)
            try:
                forecasts = parse_forecast(obj, now=now, issued_at=issued_at, source=self.name)
            except ProviderError as exc:
                logger.warning("open-meteo: unusable forecast for one location: %s", exc)
                forecasts = None
            if forecasts is not None:
                self.forecast_fetched[place.id] = started
                self.forecast_issued[place.id] = issued
            results.append(forecasts)
        return results

    def _forget(self, now: float) -> None:
        if now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        for key in [k for k, at in self.forecast_fetched.items() if now - at > FORGET_AFTER]:
            del self.forecast_fetched[key]
            self.forecast_issued.pop(key, None)

    async def aclose(self) -> None:
        await self.client.aclose()
