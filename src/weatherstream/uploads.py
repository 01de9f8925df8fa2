"""The upload formats of personal weather stations, read into a reading.

Two formats, as gateways (Ecowitt, Ambient, Froggit, Davis, Bresser, ...) send them to a
custom server: Weather Underground's (``GET /weatherstation/updateweatherstation.php``)
and Ecowitt's "customized" one (a form POST). Both carry US units; a reading is in ours
(:class:`~weatherstream.readings.Reading`). A value that is not a number or not
plausible weather after conversion (:func:`readings.plausible`) is dropped and named in
:attr:`Upload.dropped`; the rest is kept. Parameters not listed here are ignored.

What a station does not measure stays empty: there is no weather code (nor summary) and
no cloud cover from a thermometer, and no "feels like". ``is_day`` is the sun's
elevation at the station, and ``precipitation`` the rain of the past hour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .places import PlaceLike, station_source
from .readings import Reading, plausible
from .sun import HORIZON, solar_elevation

MISSING = -9999.0  # what Weather Underground devices send for a sensor they lack
FUTURE = timedelta(minutes=10)  # a clock this far ahead is refused, not believed


class UploadError(ValueError):
    """An upload that carries no reading; the message is safe to send to the station.
    ``dropped``: the parameters it gave that were not kept."""

    def __init__(self, message: str, dropped: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.dropped = dropped


def _same(value: float) -> float:
    return value


def fahrenheit(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def mph(value: float) -> float:
    return value * 1.609344


def inches_of_mercury(value: float) -> float:
    return value * 33.8638866667


def inches(value: float) -> float:
    return value * 25.4


Fields = Mapping[str, tuple[str, Callable[[float], float]]]

# A reading's field -> (the parameter, its conversion to our unit).
WUNDERGROUND: Fields = {
    "temperature": ("tempf", fahrenheit),
    "humidity": ("humidity", _same),
    "wind_speed": ("windspeedmph", mph),
    "wind_gusts": ("windgustmph", mph),
    "wind_direction": ("winddir", _same),
    "pressure": ("baromin", inches_of_mercury),  # sea level
    "precipitation": ("rainin", inches),  # the past 60 minutes
}
ECOWITT: Fields = {
    **WUNDERGROUND,
    "pressure": ("baromrelin", inches_of_mercury),  # relative: sea level
    "precipitation": ("hourlyrainin", inches),
}
ECOWITT_ABSOLUTE = "baromabsin"  # at the station: brought to sea level by its elevation
# Read when the field's own parameter is absent: a gateway with only a piezo rain gauge.
ECOWITT_FALLBACKS: Fields = {"precipitation": ("hrain_piezo", inches)}


@dataclass(frozen=True, slots=True)
class Upload:
    reading: Reading
    dropped: tuple[str, ...]  # parameters given but not kept (not a number, implausible)


def observed_at(value: str | None, now: datetime | None = None) -> datetime:
    """``dateutc``: "now", or "YYYY-MM-DD HH:MM:SS" in UTC ("+" or "T" between date and
    time, as URLs and gateways write it); missing means now."""
    now = now or datetime.now(UTC)
    text = (value or "").strip() or "now"
    if text.lower() == "now":
        return now.replace(microsecond=0)
    try:
        when = datetime.strptime(text.replace("+", " ").replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise UploadError("dateutc must be 'now' or 'YYYY-MM-DD HH:MM:SS' (UTC).") from None
    when = when.replace(tzinfo=UTC)
    if when > now + FUTURE:
        raise UploadError("dateutc is in the future; check the station's clock.")
    return when


def _number(text: str) -> float | None:
    """A parameter's value; None when missing (empty, the -9999 of WU devices), NaN when
    it is not a number (then dropped)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return float("nan")
    return None if value == MISSING else value


def sea_level(absolute: float, elevation: float, temperature: float | None) -> float:
    """Station pressure (hPa) at ``elevation`` metres brought to sea level (the
    hypsometric formula, the reading's temperature or else the standard 15 °C)."""
    t = 15.0 if temperature is None else temperature
    factor: float = (1.0 - 0.0065 * elevation / (t + 0.0065 * elevation + 273.15)) ** -5.257
    return absolute * factor


def read(
    params: Mapping[str, str],
    fields: Fields,
    *,
    station: PlaceLike,
    elevation: float | None = None,
    now: datetime | None = None,
) -> Upload:
    """A station's upload (its parameters, one value each) as a reading of ``station``."""
    values: dict[str, Any] = {}
    dropped: list[str] = []
    for field, (name, convert) in fields.items():
        if name not in params and fields is ECOWITT and field in ECOWITT_FALLBACKS:
            name, convert = ECOWITT_FALLBACKS[field]
        if name not in params:
            continue
        raw = _number(params[name])
        if raw is None:
            continue
        value = convert(raw)
        if plausible(field, value):
            values[field] = round(value, 2)
        else:
            dropped.append(name)
    if (
        "pressure" not in values
        and fields is ECOWITT
        and ECOWITT_ABSOLUTE in params
        and elevation is not None
    ):
        raw = _number(params[ECOWITT_ABSOLUTE])
        if raw is not None:
            value = sea_level(inches_of_mercury(raw), elevation, values.get("temperature"))
            if plausible("pressure", value):
                values["pressure"] = round(value, 2)
            else:
                dropped.append(ECOWITT_ABSOLUTE)
    if not values:
        raise UploadError("The upload carries no measurement weatherstream keeps.", tuple(dropped))
    when = observed_at(params.get("dateutc"), now)
    elevation_of_sun = solar_elevation(station.latitude, station.longitude, when.timestamp())
    reading = Reading(
        observed_at=when,
        source=station_source(station.id),
        is_day=elevation_of_sun > -HORIZON,
        **values,
    )
    return Upload(reading=reading, dropped=tuple(dropped))
