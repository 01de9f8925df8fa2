"""MET Norway's Locationforecast 2.0 (https://api.met.no), ``compact`` format, no key.

Its terms of service (https://api.met.no/doc/TermsOfService) shape this provider:

- every request carries a User-Agent naming the site and a contact
  (``MET_NORWAY_USER_AGENT``); anonymous clients are refused (403) or throttled (429);
- coordinates have at most 4 decimals (more defeat MET's cache and risk a block);
- no request for a place before its last answer's ``Expires``; after it, the request
  sends ``If-Modified-Since`` with the exact ``Last-Modified`` string, and 304 means that
  nothing changed;
- gzip (httpx asks for it by itself);
- requests are spread, never on the full hour (:meth:`MetNorwayProvider.new_data_at`),
  and few at a time: over 20 requests a second counts as heavy traffic
  (:data:`MAX_IN_FLIGHT`, :data:`REQUESTS_PER_SECOND`).

A reading is the forecast's first time step, not an observation; its precipitation is the
amount forecast for the hour that follows it. See docs/providers.md.

Forecasts come from the same answers (no other request). ``compact`` has hourly time steps
for about two and a half days, then one every 6 hours; each step has the instant values and
the periods that follow it (``next_1_hours``, ``next_6_hours``: a symbol and a
precipitation amount). Both kinds start at the hour containing now.

- Hourly: one item per step of the hourly part: temperature, wind speed and direction, cloud
  cover (instant); precipitation, weather code and day or night from ``next_1_hours`` (null
  where a step has none). Feels-like, chance of precipitation and gusts are null: compact
  has none, and none is made up.
- Daily, per local date of the place (its ``timezone``; UTC without one), at most 7 dates,
  only those with steps; today counts from now on, so it is a part of the day:
  highest and lowest of its steps' instant temperatures, highest wind speed; precipitation
  summed over the periods that start that day, taken in time order, each step's shortest
  (``next_1_hours`` while the steps are hourly, then ``next_6_hours``), and a period
  skipped where it overlaps one counted already, so no hour counts twice; hours no period
  covers count nothing. A 6-hour period that crosses midnight counts to the day it starts
  in. The weather code is the highest (most severe) of those periods', as Open-Meteo
  defines its daily code. Sunrise and sunset are astronomy (:mod:`weatherstream.sun`).
  Chance of precipitation, gusts and UV index are null.
- ``issued_at`` is the answer's ``properties.meta.updated_at`` (when it came, without one).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx
from django.core.exceptions import ImproperlyConfigured

from .. import __version__, flights
from ..conf import PUBLIC_MET_NORWAY_URL
from ..forecasts import DAILY, DAYS, HOURLY, Forecast, Forecasts, daily_item, hourly_item, local_zone, most
from ..places import PlaceLike
from ..readings import Reading, plausible
from ..sun import sunrise_sunset
from . import http
from .base import ProviderError, WeatherProvider

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Appended to MET_NORWAY_USER_AGENT: what software makes the requests.
USER_AGENT_SUFFIX = f"weatherstream/{__version__}"

# Requests in flight at once, and request starts per second, per provider instance
# (MET calls over 20 a second heavy traffic; each polling process has its own instance).
MAX_IN_FLIGHT = 4
REQUESTS_PER_SECOND = 10.0

# Seconds after a place's Expires that its next request may go out: a random spread, so
# that places fetched together do not come back together.
SPREAD = (5.0, 60.0)
# Seconds at the start of every hour when no request is planned (MET asks for no
# automated requests on the full hour).
FULL_HOUR = 60.0

# A place not fetched for this many seconds is forgotten (its Last-Modified too); the
# answers kept are looked through for such places at most every FORGET_EVERY seconds.
FORGET_AFTER = 6 * 3600.0
# Hourly steps of an answer kept per place: after a 304, or before Expires, the step of
# the current hour is served (a held forecast of 6-hourly updates spans them).
HELD_HOURS = 12
ONE_HOUR = timedelta(hours=1)
FORGET_EVERY = 600.0

# MET's weather symbols (symbol_code without _day/_night/_polartwilight) -> WMO 4677
# codes. WMO has one code for moderate and heavy sleet (69, 84) and snow showers (86);
# anything with thunder is 95, the only thunderstorm code without hail.
SYMBOLS: dict[str, int] = {
    "clearsky": 0,
    "fair": 1,
    "partlycloudy": 2,
    "cloudy": 3,
    "fog": 45,
    "lightrain": 61,
    "rain": 63,
    "heavyrain": 65,
    "lightrainshowers": 80,
    "rainshowers": 81,
    "heavyrainshowers": 82,
    "lightsleet": 68,
    "sleet": 69,
    "heavysleet": 69,
    "lightsleetshowers": 83,
    "sleetshowers": 84,
    "heavysleetshowers": 84,
    "lightsnow": 71,
    "snow": 73,
    "heavysnow": 75,
    "lightsnowshowers": 85,
    "snowshowers": 86,
    "heavysnowshowers": 86,
    "lightrainandthunder": 95,
    "rainandthunder": 95,
    "heavyrainandthunder": 95,
    "lightsleetandthunder": 95,
    "sleetandthunder": 95,
    "heavysleetandthunder": 95,
    "lightsnowandthunder": 95,
    "snowandthunder": 95,
    "heavysnowandthunder": 95,
    "lightrainshowersandthunder": 95,
    "rainshowersandthunder": 95,
    "heavyrainshowersandthunder": 95,
    "lightssleetshowersandthunder": 95,  # sic: MET's own spelling
    "sleetshowersandthunder": 95,
    "heavysleetshowersandthunder": 95,
    "lightssnowshowersandthunder": 95,  # sic
    "snowshowersandthunder": 95,
    "heavysnowshowersandthunder": 95,
    # The spellings MET may one day correct the two above to.
    "lightsleetshowersandthunder": 95,
    "lightsnowshowersandthunder": 95,
}

# A symbol's suffix -> is_day.
SUFFIXES: dict[str, bool | None] = {"_day": True, "_night": False, "_polartwilight": None}

# Our field -> (variable of data.instant.details, its documented unit, factor to ours).
INSTANT: dict[str, tuple[str, str, float]] = {
    "temperature": ("air_temperature", "celsius", 1.0),
    "humidity": ("relative_humidity", "%", 1.0),
    "wind_speed": ("wind_speed", "m/s", 3.6),
    "wind_gusts": ("wind_speed_of_gust", "m/s", 3.6),  # in "complete" only, so far
    "wind_direction": ("wind_from_direction", "degrees", 1.0),
    "pressure": ("air_pressure_at_sea_level", "hPa", 1.0),
    "cloud_cover": ("cloud_area_fraction", "%", 1.0),
}


# A contact, as MET's terms take one: an e-mail address, or a website ("https://...",
# "weather.example.org", "github.com/acme": MET's own example names one so).
CONTACT = re.compile(r"@|https?://|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b", re.IGNORECASE)


def user_agent_problem(value: Any) -> str | None:
    """Why ``value`` cannot be MET_NORWAY_USER_AGENT, or None when it can: it must be a
    string naming a contact, an e-mail address or a website (:data:`CONTACT`)."""
    if value is None or value == "":
        return "is not set"
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value.strip():
        return "is blank"
    if not CONTACT.search(value):
        return "names no contact (an e-mail address or a website)"
    return None


def weather_symbol(symbol: str) -> tuple[int | None, bool | None]:
    """A MET ``symbol_code`` -> (its WMO 4677 code, is_day); None where unknown."""
    base, is_day = symbol, None
    for suffix, day in SUFFIXES.items():
        if symbol.endswith(suffix):
            base, is_day = symbol[: -len(suffix)], day
            break
    code = SYMBOLS.get(base)
    if code is None:
        logger.warning("met-norway: unknown symbol_code %r", symbol)
    return code, is_day


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _value(field: str, raw: Any, *, unit: str, documented: str, factor: float) -> float | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    if unit != documented:  # not the unit the schema documents: not guessed at
        logger.warning("met-norway: dropping %s in %r (expected %r)", field, unit, documented)
        return None
    value = float(raw) if factor == 1.0 else round(float(raw) * factor, 2)
    if not plausible(field, value):
        logger.warning("met-norway: dropping implausible %s=%r", field, raw)
        return None
    return value


def _utc(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ProviderError(f"bad time step 'time' {raw!r}")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ProviderError(f"bad time step 'time' {raw!r}") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_compact(payload: Any, *, source: str = "met-norway") -> Reading | None:
    """A Locationforecast ``compact`` answer -> the Reading of its first time step; None
    when that step has no plausible temperature. Other implausible values, and values in
    a unit other than the documented one, become None.

    Raises :class:`ProviderError` for a shape that is not a forecast (not an object, no
    ``properties.timeseries``, a first step without a readable ``time`` or ``data``).
    """
    return parse_hours(payload, source=source, hours=1)[0]


def parse_hours(payload: Any, *, source: str = "met-norway", hours: int = HELD_HOURS) -> list[Reading | None]:
    """The Readings of the answer's first ``hours`` hourly time steps, in order (fewer
    where the hourly part ends or a later step is unreadable); the first step's errors
    are :func:`parse_compact`'s."""
    if not isinstance(payload, dict):
        raise ProviderError(f"expected a JSON object, got {type(payload).__name__}")
    properties = _object(payload.get("properties"))
    timeseries = properties.get("timeseries")
    if not isinstance(timeseries, list) or not timeseries:
        raise ProviderError("no 'properties.timeseries'")
    units = _object(_object(properties.get("meta")).get("units"))
    steps = [_step(timeseries[0], units, source)]
    for step in timeseries[1:hours]:
        try:
            reading = _step(step, units, source)
        except ProviderError:
            break
        previous = steps[-1]
        if reading is None or previous is None or reading.observed_at - previous.observed_at != ONE_HOUR:
            break  # the hourly part is over (6-hourly steps follow), or a step is unusable
        steps.append(reading)
    return steps


def _instant(
    data: dict[str, Any], units: dict[str, Any], fields: Sequence[str] = tuple(INSTANT)
) -> dict[str, Any]:
    """The step's ``data.instant.details`` as our ``fields`` (:data:`INSTANT`), in our units."""
    details = _object(_object(data.get("instant")).get("details"))
    values: dict[str, Any] = {}
    for field in fields:
        variable, documented, factor = INSTANT[field]
        unit = units.get(variable, documented)
        values[field] = _value(field, details.get(variable), unit=unit, documented=documented, factor=factor)
    return values


def _amount(period: dict[str, Any], units: dict[str, Any]) -> float | None:
    """A ``next_N_hours`` block's precipitation amount, mm."""
    amount = _object(period.get("details")).get("precipitation_amount")
    unit = units.get("precipitation_amount", "mm")
    return _value("precipitation", amount, unit=unit, documented="mm", factor=1.0)


def _step(step: Any, units: dict[str, Any], source: str) -> Reading | None:
    if not isinstance(step, dict):
        raise ProviderError(f"a time step that is a {type(step).__name__}")
    observed_at = _utc(step.get("time"))
    data = step.get("data")
    if not isinstance(data, dict):
        raise ProviderError("the first time step has no 'data'")

    values: dict[str, Any] = _instant(data, units)
    next_hour = _object(data.get("next_1_hours"))
    values["precipitation"] = _amount(next_hour, units)
    symbol = _object(next_hour.get("summary")).get("symbol_code")
    if not isinstance(symbol, str):
        symbol = _object(_object(data.get("next_6_hours")).get("summary")).get("symbol_code")
    code, is_day = weather_symbol(symbol) if isinstance(symbol, str) else (None, None)
    if values["temperature"] is None:  # not a reading anyone could use
        logger.warning("met-norway: an answer without a plausible temperature")
        return None
    # feels_like stays None: compact has no apparent temperature, and none is made up.
    return Reading(observed_at=observed_at, source=source, weather_code=code, is_day=is_day, **values)


@dataclass(frozen=True, slots=True)
class Period:
    """What a time step says of the hours after it (``next_1_hours``, ``next_6_hours``)."""

    start: datetime
    hours: int
    amount: float | None  # precipitation, mm
    code: int | None
    is_day: bool | None


# The instant values a forecast's step keeps (of :data:`INSTANT`).
STEP_FIELDS = ("temperature", "wind_speed", "wind_gusts", "wind_direction", "cloud_cover")


@dataclass(frozen=True, slots=True)
class Step:
    """One time step of an answer, as its forecast uses it (our units)."""

    time: datetime
    temperature: float | None
    wind_speed: float | None
    wind_gusts: float | None
    wind_direction: float | None
    cloud_cover: float | None
    next_hour: Period | None
    next_6_hours: Period | None


def _period(
    data: dict[str, Any], key: str, start: datetime, hours: int, units: dict[str, Any]
) -> Period | None:
    block = data.get(key)
    if not isinstance(block, dict):
        return None
    symbol = _object(block.get("summary")).get("symbol_code")
    code, is_day = weather_symbol(symbol) if isinstance(symbol, str) else (None, None)
    return Period(start, hours, _amount(block, units), code, is_day)


def parse_steps(payload: Any) -> tuple[Step, ...]:
    """Every time step of a ``compact`` answer, in order, up to the first that is not
    readable (or not later than the one before). Values as :func:`parse_compact` reads
    them. Raises :class:`ProviderError` when the answer has no ``properties.timeseries``."""
    if not isinstance(payload, dict):
        raise ProviderError(f"expected a JSON object, got {type(payload).__name__}")
    properties = _object(payload.get("properties"))
    timeseries = properties.get("timeseries")
    if not isinstance(timeseries, list):
        raise ProviderError("no 'properties.timeseries'")
    units = _object(_object(properties.get("meta")).get("units"))
    steps: list[Step] = []
    for raw in timeseries:
        try:
            when = _utc(raw.get("time") if isinstance(raw, dict) else None)
        except ProviderError:
            break
        data = raw.get("data")
        if not isinstance(data, dict) or (steps and when <= steps[-1].time):
            break
        values = _instant(data, units, STEP_FIELDS)
        steps.append(
            Step(
                time=when,
                next_hour=_period(data, "next_1_hours", when, 1, units),
                next_6_hours=_period(data, "next_6_hours", when, 6, units),
                **values,
            )
        )
    return tuple(steps)


def _hourly(steps: Sequence[Step], now: datetime, source: str) -> list[dict[str, Any]]:
    run = list(steps[:1])
    for step in steps[1:]:
        if step.time - run[-1].time != ONE_HOUR:
            break  # the hourly part is over
        run.append(step)
    items = []
    for step in run:
        if step.time + ONE_HOUR <= now:
            continue
        hour = step.next_hour
        items.append(
            hourly_item(
                step.time,
                source=source,
                temperature=step.temperature,
                precipitation=None if hour is None else hour.amount,
                weather_code=None if hour is None else hour.code,
                is_day=None if hour is None else hour.is_day,
                wind_speed=step.wind_speed,
                wind_gusts=step.wind_gusts,
                wind_direction=step.wind_direction,
                cloud_cover=step.cloud_cover,
            )
        )
    return items


def _daily(steps: Sequence[Step], now: datetime, place: PlaceLike, source: str) -> list[dict[str, Any]]:
    zone = local_zone(place)
    ahead = [step for step in steps if step.time + ONE_HOUR > now]
    days: dict[date, tuple[list[Step], list[Period]]] = {}
    for step in ahead:
        days.setdefault(step.time.astimezone(zone).date(), ([], []))[0].append(step)
    covered: datetime | None = None
    for step in ahead:  # each step's shortest period, none overlapping one counted
        period = step.next_hour or step.next_6_hours
        if period is None or (covered is not None and period.start < covered):
            continue
        covered = period.start + timedelta(hours=period.hours)
        days[period.start.astimezone(zone).date()][1].append(period)
    items = []
    for day, (day_steps, periods) in list(days.items())[:DAYS]:
        sunrise, sunset = sunrise_sunset(day, place.latitude, place.longitude)
        amounts = [p.amount for p in periods if p.amount is not None]
        items.append(
            daily_item(
                day,
                sunrise=sunrise,
                sunset=sunset,
                source=source,
                temperature_max=most([s.temperature for s in day_steps]),
                temperature_min=most([s.temperature for s in day_steps], min),
                precipitation_sum=round(sum(amounts), 1) if amounts else None,
                weather_code=most([p.code for p in periods]),
                wind_speed_max=most([s.wind_speed for s in day_steps]),
                wind_gusts_max=most([s.wind_gusts for s in day_steps]),
            )
        )
    return items


def _updated_at(payload: Any) -> datetime | None:
    raw = _object(_object(_object(payload).get("properties")).get("meta")).get("updated_at")
    try:
        return _utc(raw)
    except ProviderError:
        return None


def coordinate(value: float) -> str:
    """At most 4 decimals, no trailing zeros: 52.21833 -> "52.2183", 6.9 -> "6.9"."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass(slots=True)
class Answer:
    """What the provider keeps of a place's last answer."""

    last_modified: str | None  # sent back as If-Modified-Since, unchanged
    expires: float | None  # epoch seconds; no request for the place before it
    hours: list[Reading | None]  # its first hourly time steps, in order
    at: float  # when it came (a 304 renews it)
    steps: tuple[Step, ...] = ()  # every time step, for the forecast
    issued_at: datetime | None = None  # properties.meta.updated_at

    def reading(self, now: float) -> Reading | None:
        """The step of the hour ``now`` is in (the first step before the forecast
        starts): as the hours pass, a held forecast goes on saying what it says for now."""
        current = self.hours[0] if self.hours else None
        for reading in self.hours[1:]:
            if reading is None or reading.observed_at.timestamp() > now:
                break
            current = reading
        return current

    def forecasts(self, place: PlaceLike, now: float, source: str) -> Forecasts | None:
        """Its forecast from the hour ``now`` is in (the rules: this module's docstring);
        None when it has no time step left."""
        when = datetime.fromtimestamp(now, UTC)
        issued_at = self.issued_at or datetime.fromtimestamp(self.at, UTC)
        found = (
            (HOURLY, _hourly(self.steps, when, source)),
            (DAILY, _daily(self.steps, when, place, source)),
        )
        kinds = {kind: Forecast(kind, issued_at, source, tuple(items)) for kind, items in found if items}
        return Forecasts(source, kinds) if kinds else None

    def next_hour(self, now: float) -> float | None:
        """When the held forecast's next hourly step begins, if it has one."""
        for reading in self.hours:
            if reading is not None and reading.observed_at.timestamp() > now:
                return reading.observed_at.timestamp()
        return None


class MetNorwayProvider(WeatherProvider):
    name = "met-norway"
    metered = False  # free, no call budget: Expires and the pace bound the traffic
    real = True
    resolution = 3600.0  # hourly time steps
    default_interval = 1800.0
    min_interval = 60.0
    max_batch = 1  # one place per request
    max_in_flight = MAX_IN_FLIGHT
    forecasts = True  # from the same answers as readings

    def __init__(
        self,
        *,
        user_agent: str | None,
        url: str = PUBLIC_MET_NORWAY_URL,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        pacer: http.Pacer | None = None,
    ) -> None:
        problem = user_agent_problem(user_agent)
        if problem is not None or not isinstance(user_agent, str):
            raise ImproperlyConfigured(
                f"WEATHERSTREAM['MET_NORWAY_USER_AGENT'] {problem}: MET Norway's terms require a "
                "User-Agent naming your site and a contact, e.g. 'weather.example.org "
                "admin@example.org' (docs/providers.md)."
            )
        self.url = url
        self.deadline = timeout
        self.user_agent = f"{user_agent.strip()} {USER_AGENT_SUFFIX}"
        self.client = http.new_client(timeout=timeout, user_agent=self.user_agent, transport=transport)
        self.clock = clock
        self.rng = rng or random.Random()
        self.pacer = pacer or http.Pacer(in_flight=MAX_IN_FLIGHT, per_second=REQUESTS_PER_SECOND)
        self.answers: dict[str, Answer] = {}
        self._requests: dict[str, asyncio.Task[None]] = {}  # place id -> its request under way
        self.hold_until = 0.0  # MET asked us to wait (429 Retry-After): no request before
        self._forgot_at = clock()
        self._deprecated_seen = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MetNorwayProvider:
        return cls(
            user_agent=config.get("MET_NORWAY_USER_AGENT"),
            url=config["MET_NORWAY_URL"],
            timeout=config["HTTP_TIMEOUT"],
        )

    def query(self, place: PlaceLike) -> dict[str, str]:
        return {"lat": coordinate(place.latitude), "lon": coordinate(place.longitude)}

    def new_data_at(self, place: PlaceLike, reading: Reading) -> float | None:
        """The next hourly step of the held forecast when it begins before Expires (read
        from the held answer: no request); else the place's Expires plus a random
        :data:`SPREAD`, moved out of the first minute of an hour; None when no answer for
        it said when it expires."""
        answer = self.answers.get(place.id)
        if answer is None or answer.expires is None:
            return None
        step = answer.next_hour(reading.observed_at.timestamp())
        if step is not None and step < answer.expires:
            return step + 1.0
        return self._after(answer.expires)

    def forecast_new_data_at(self, place: PlaceLike, forecasts: Forecasts) -> float | None:
        """The place's Expires plus a random :data:`SPREAD`, moved out of the first minute
        of an hour; None when no answer for it said when it expires."""
        answer = self.answers.get(place.id)
        if answer is None or answer.expires is None:
            return None
        return self._after(answer.expires)

    def _after(self, expires: float) -> float:
        at = expires + self.rng.uniform(*SPREAD)
        into_hour = at % 3600.0
        if into_hour < FULL_HOUR:
            at += FULL_HOUR - into_hour + self.rng.uniform(0.0, SPREAD[1])
        return at

    async def fetch(self, places: Sequence[PlaceLike]) -> list[Reading | None]:
        """One request per place (fewer where an answer has not expired), paced. A place
        whose request failed is None, unless all failed or MET asked to wait
        (Retry-After): then the error is raised."""
        return await self._each(places, self._fetch_one)

    async def fetch_forecasts(self, places: Sequence[PlaceLike]) -> list[Forecasts | None]:
        """The forecasts of the answers :meth:`fetch` gets (the same answers: a held one
        that has not expired is served without a request), and its errors."""
        return await self._each(places, self._forecast_one)

    async def _each(
        self, places: Sequence[PlaceLike], one: Callable[[PlaceLike], Awaitable[T | None]]
    ) -> list[T | None]:
        if not places:
            return []
        results = await asyncio.gather(*(one(p) for p in places), return_exceptions=True)
        errors: list[ProviderError] = []
        for result in results:
            if isinstance(result, ProviderError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
        if errors and (len(errors) == len(places) or any(e.retry_after is not None for e in errors)):
            raise next((e for e in errors if e.retry_after is not None), errors[0])
        found: list[T | None] = []
        for place, result in zip(places, results):
            if isinstance(result, ProviderError):
                logger.warning("met-norway: no answer for %s: %s", place.id, result)
                found.append(None)
            else:
                assert not isinstance(result, BaseException)
                found.append(result)
        return found

    async def _fetch_one(self, place: PlaceLike) -> Reading | None:
        return (await self._held(place)).reading(self.clock())

    async def _forecast_one(self, place: PlaceLike) -> Forecasts | None:
        return (await self._held(place)).forecasts(place, self.clock(), self.name)

    async def _held(self, place: PlaceLike) -> Answer:
        """The place's answer: the one held until its Expires (MET's terms: nothing
        before), else a new one; one request at a time per place, shared by its callers."""
        now = self.clock()
        self._forget(now)
        held = self.answers.get(place.id)
        if held is not None and held.expires is not None and now < held.expires:
            return held
        await flights.shared(self._requests, place.id, lambda: self._request(place))
        return self.answers[place.id]

    async def _request(self, place: PlaceLike) -> None:
        held = self.answers.get(place.id)
        headers = {}
        if held is not None and held.last_modified:
            headers["If-Modified-Since"] = held.last_modified  # the exact string
        async with self.pacer:
            wait = self.hold_until - self.clock()  # a 429 may have come while this waited
            if wait > 0:
                raise ProviderError(f"MET Norway asked to wait; {wait:.0f}s left", retry_after=wait)
            response = await http.get(
                self.client, self.url, params=self.query(place), headers=headers, deadline=self.deadline
            )
        self._answer(place, held, response)

    def _answer(self, place: PlaceLike, held: Answer | None, response: httpx.Response) -> None:
        status = response.status_code
        now = self.clock()
        expires = http.http_date(response.headers.get("Expires"))
        last_modified = response.headers.get("Last-Modified")
        if status == 304:  # nothing new: the answer we have stays, its forecast too
            if held is None:
                raise ProviderError("HTTP 304 to a request without If-Modified-Since")
            held.expires, held.at = expires, now
            held.last_modified = last_modified or held.last_modified
            return
        if status == 403:
            raise http.failure(
                response,
                "MET Norway refused the request, which it does to clients that do not identify "
                "themselves: set WEATHERSTREAM['MET_NORWAY_USER_AGENT'] to your site and a contact",
            )
        if status == 203 and not self._deprecated_seen:  # still served, but going away
            self._deprecated_seen = True
            logger.warning("met-norway: %s is deprecated or in beta (HTTP 203)", self.url)
        if status not in (200, 203):
            failure = http.failure(response)
            if status == 429:  # the whole provider waits, not only this place
                self.hold_until = max(self.hold_until, now + (failure.retry_after or 60.0))
            raise failure
        try:
            payload = http.json_body(response, self.url)
        except ProviderError:
            # Expires still holds; without Last-Modified the next request asks afresh.
            self.answers[place.id] = Answer(None, expires, [], now)
            raise
        try:
            hours = parse_hours(payload, source=self.name)
            steps = parse_steps(payload)
        except ProviderError as exc:
            logger.warning("met-norway: unusable answer for %s: %s", place.id, exc)
            hours, steps = [], ()
        self.answers[place.id] = Answer(last_modified, expires, hours, now, steps, _updated_at(payload))

    def _forget(self, now: float) -> None:
        if now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        stale = [key for key, answer in self.answers.items() if now - answer.at > FORGET_AFTER]
        for key in stale:
            del self.answers[key]

    async def aclose(self) -> None:
        await self.client.aclose()
