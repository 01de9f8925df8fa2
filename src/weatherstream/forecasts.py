"""A forecast a provider returns, and its wire form (the protocol's ``forecast`` frame).

Two kinds: ``hourly`` (the next hours, one item an hour) and ``daily`` (the next days,
one item a local calendar day of the place). Items are kept in their wire form (dicts,
times as ISO 8601 UTC strings, days as the place's local ``YYYY-MM-DD``), built by
:func:`hourly_item` and :func:`daily_item`, which check every value as readings are
checked (:func:`readings.plausible`): an implausible value is null, never passed on.
Units are the readings' (°C, mm, km/h, degrees, %).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .readings import is_real, iso, parse_iso, plausible, summary_for

logger = logging.getLogger(__name__)

HOURLY = "hourly"
DAILY = "daily"
KINDS = (HOURLY, DAILY)

# Item fields, in wire order.
HOURLY_FIELDS = (
    "time",
    "temperature",
    "feels_like",
    "precipitation",
    "precipitation_probability",
    "weather_code",
    "summary",
    "wind_speed",
    "wind_gusts",
    "wind_direction",
    "cloud_cover",
    "is_day",
)
DAILY_FIELDS = (
    "date",
    "temperature_max",
    "temperature_min",
    "precipitation_sum",
    "precipitation_probability_max",
    "weather_code",
    "summary",
    "wind_speed_max",
    "wind_gusts_max",
    "sunrise",
    "sunset",
    "uv_index_max",
)

FIELDS = {HOURLY: HOURLY_FIELDS, DAILY: DAILY_FIELDS}

# A forecast field -> the field of readings.PLAUSIBLE whose bounds it is checked against.
CHECKED_AS = {
    "temperature": "temperature",
    "feels_like": "feels_like",
    "precipitation": "precipitation",
    "precipitation_probability": "precipitation_probability",
    "weather_code": "weather_code",
    "wind_speed": "wind_speed",
    "wind_gusts": "wind_gusts",
    "wind_direction": "wind_direction",
    "cloud_cover": "cloud_cover",
    "temperature_max": "temperature",
    "temperature_min": "temperature",
    "precipitation_sum": "precipitation_sum",
    "precipitation_probability_max": "precipitation_probability",
    "wind_speed_max": "wind_speed",
    "wind_gusts_max": "wind_gusts",
    "uv_index_max": "uv_index",
}

# At least the next 48 hours, and the next 7 days, in every forecast sent; hourly ones
# are made or asked for 72 hours from the current one, so that 48 remain until the next.
HOURS = 48
HOURS_AHEAD = 72
DAYS = 7


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        logger.warning("unknown time zone %r: local days are UTC days", name)
        return UTC


def local_zone(place: object) -> tzinfo:
    """The time zone of ``place`` (its IANA ``timezone``) whose calendar days a daily
    forecast gives; UTC when it has none or an unknown one."""
    name = getattr(place, "timezone", "")
    return _zone(name if isinstance(name, str) else "")


def checked(name: str, value: Any, source: str = "forecast") -> float | None:
    """A number for forecast field ``name`` in our units, or None when missing, not a
    number, or implausible (logged)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if not plausible(CHECKED_AS.get(name, name), number):
        logger.warning("%s: dropping implausible forecast %s=%r", source, name, value)
        return None
    return number


def _code(value: Any, source: str) -> int | None:
    number = checked("weather_code", value, source)
    return None if number is None else int(number)


def hourly_item(time: datetime, *, source: str = "forecast", **values: Any) -> dict[str, Any]:
    """One hour of an hourly forecast, every field present (null where unknown)."""
    unknown = set(values) - set(HOURLY_FIELDS)
    if unknown:
        raise TypeError(f"not hourly forecast fields: {sorted(unknown)}")
    item: dict[str, Any] = {"time": iso(time)}
    for name in HOURLY_FIELDS[1:]:
        if name == "summary":
            item[name] = summary_for(item["weather_code"])
        elif name == "weather_code":
            item[name] = _code(values.get(name), source)
        elif name == "is_day":
            is_day = values.get(name)
            item[name] = None if is_day is None else bool(is_day)
        else:
            item[name] = checked(name, values.get(name), source)
    return item


def daily_item(
    day: date,
    *,
    sunrise: datetime | None = None,
    sunset: datetime | None = None,
    source: str = "forecast",
    **values: Any,
) -> dict[str, Any]:
    """One local day of a daily forecast, every field present (null where unknown)."""
    unknown = set(values) - set(DAILY_FIELDS)
    if unknown:
        raise TypeError(f"not daily forecast fields: {sorted(unknown)}")
    item: dict[str, Any] = {"date": day.isoformat()}
    for name in DAILY_FIELDS[1:]:
        if name == "summary":
            item[name] = summary_for(item["weather_code"])
        elif name == "weather_code":
            item[name] = _code(values.get(name), source)
        elif name == "sunrise":
            item[name] = None if sunrise is None else iso(sunrise)
        elif name == "sunset":
            item[name] = None if sunset is None else iso(sunset)
        else:
            item[name] = checked(name, values.get(name), source)
    return item


@dataclass(frozen=True, slots=True)
class Forecast:
    """One kind of forecast for a place, as its source issued it."""

    kind: str  # HOURLY or DAILY
    issued_at: datetime  # aware, UTC: when the source issued it (see docs/providers.md)
    source: str
    items: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")

    @property
    def real(self) -> bool:
        return is_real(self.source)

    def to_wire(self) -> dict[str, Any]:
        """The frame's fields after ``type`` and ``location``."""
        return {
            "kind": self.kind,
            "issued_at": iso(self.issued_at),
            "source": self.source,
            "forecast": list(self.items),
        }

    @classmethod
    def from_items(cls, kind: str, issued_at: datetime, source: str, items: Any) -> Forecast:
        """A forecast of stored or received items, their fields put in wire order (a
        PostgreSQL ``jsonb`` column keeps none); TypeError or ValueError for items that
        are not a list of objects, or an unknown kind."""
        if kind not in FIELDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TypeError("'forecast' must be a list of objects")
        fields = FIELDS[kind]
        return cls(
            kind, issued_at, source, tuple({name: item.get(name) for name in fields} for item in items)
        )

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Forecast:
        """The inverse of :meth:`to_wire` (updates over the channel layer); KeyError,
        TypeError or ValueError for anything else."""
        return cls.from_items(
            str(data["kind"]), parse_iso(data["issued_at"]), str(data["source"]), data["forecast"]
        )


def supersedes(new: Forecast, held: Forecast | None) -> bool:
    """Whether ``new`` replaces ``held`` as a place's forecast of its kind: a real one
    always beats a simulated one; between two of the same kind, one issued earlier never
    replaces a later one, and one that says something else (other items, another source)
    does."""
    if held is None:
        return True
    if new.real != held.real:
        return new.real
    if new.issued_at < held.issued_at:
        return False
    return new.items != held.items or new.source != held.source


def covers(forecast: Forecast, now: datetime) -> bool:
    """Whether a forecast still says what the protocol promises from ``now`` on: an
    hourly one the next :data:`HOURS` hours, a daily one :data:`DAYS` days (a day of
    slack for the place's time zone). One that does not is fetched again before use."""
    if not forecast.items:
        return False
    if forecast.kind == HOURLY:
        last = parse_iso(forecast.items[-1].get("time"))
        return last >= now + timedelta(hours=HOURS - 1)
    last_day = date.fromisoformat(str(forecast.items[-1].get("date")))
    return last_day >= now.astimezone(UTC).date() + timedelta(days=DAYS - 2)


def most(values: Iterable[float | None], pick: Callable[[list[float]], float] = max) -> float | None:
    """The highest (or ``pick``'s) of the known values, None when none is known: a day's
    value from its hours or steps."""
    known = [v for v in values if v is not None]
    return pick(known) if known else None


@dataclass(frozen=True, slots=True)
class Forecasts:
    """What one fetch gives for a place: its forecast of each kind the source makes."""

    source: str
    kinds: dict[str, Forecast] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return is_real(self.source)

    def get(self, kind: str) -> Forecast | None:
        return self.kinds.get(kind)
