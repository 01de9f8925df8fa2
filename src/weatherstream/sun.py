"""Where the sun is: its elevation, and sunrise and sunset of a day at a place.

Sunrise and sunset follow NOAA's solar calculator (its spreadsheet's formulas: the sun's
declination and the equation of time from the Julian century), with the sun's upper limb
on the horizon: its centre 0.833° below it (refraction and the sun's radius). Good to about
a minute between the polar circles; near them, where the sun grazes the horizon, less so.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

# The sun's centre at sunrise and sunset, degrees below the horizon.
HORIZON = 0.833
_J2000 = 2451545.0
_UNIX_EPOCH_JD = 2440587.5


def solar_elevation(lat: float, lon: float, ts: float) -> float:
    """The sun's elevation in degrees: a textbook approximation (no equation of time, so a
    few degrees off at times), what simulated weather uses; not :func:`sunrise_sunset`'s."""
    day = ts / 86400.0
    doy = (day % 365.2422) + 1
    decl = -23.44 * math.cos(math.radians(360.0 / 365.0 * (doy + 10)))
    solar_hour = (ts % 86400.0) / 3600.0 + lon / 15.0
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    la, de = math.radians(lat), math.radians(decl)
    sin_el = math.sin(la) * math.sin(de) + math.cos(la) * math.cos(de) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


def _declination_and_equation_of_time(ts: float) -> tuple[float, float]:
    """The sun's declination (degrees) and the equation of time (minutes) at ``ts``."""
    t = (ts / 86400.0 + _UNIX_EPOCH_JD - _J2000) / 36525.0  # Julian centuries since J2000
    mean_long = math.radians((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0)
    mean_anomaly = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    centre = (
        math.sin(mean_anomaly) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * mean_anomaly) * (0.019993 - 0.000101 * t)
        + math.sin(3 * mean_anomaly) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    apparent_long = math.radians(math.degrees(mean_long) + centre - 0.00569 - 0.00478 * math.sin(omega))
    mean_obliquity = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(omega))
    declination = math.degrees(math.asin(math.sin(obliquity) * math.sin(apparent_long)))
    y = math.tan(obliquity / 2) ** 2
    e = eccentricity
    equation = 4 * math.degrees(
        y * math.sin(2 * mean_long)
        - 2 * e * math.sin(mean_anomaly)
        + 4 * e * y * math.sin(mean_anomaly) * math.cos(2 * mean_long)
        - 0.5 * y * y * math.sin(4 * mean_long)
        - 1.25 * e * e * math.sin(2 * mean_anomaly)
    )
    return declination, equation


def _event(day: date, lat: float, lon: float, sign: int) -> datetime | None:
    """Sunrise (``sign`` -1) or sunset (+1) on ``day`` at the place, or None when the sun
    does not cross the horizon that day."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    when = midnight + (720.0 - 4.0 * lon) * 60.0  # solar noon, near enough to start
    for _ in range(3):  # the sun's position at the event itself
        declination, equation = _declination_and_equation_of_time(when)
        la, de = math.radians(lat), math.radians(declination)
        cos_hour_angle = math.cos(math.radians(90.0 + HORIZON)) / (math.cos(la) * math.cos(de)) - math.tan(
            la
        ) * math.tan(de)
        if not -1.0 <= cos_hour_angle <= 1.0:
            return None  # polar day (below -1) or polar night (above 1)
        hour_angle = math.degrees(math.acos(cos_hour_angle))
        minutes = 720.0 - 4.0 * lon - equation + sign * 4.0 * hour_angle
        when = midnight + minutes * 60.0
    return datetime.fromtimestamp(round(when), UTC)


def sunrise_sunset(day: date, lat: float, lon: float) -> tuple[datetime | None, datetime | None]:
    """Sunrise and sunset (aware, UTC, to the second) around the solar noon of ``day`` at
    the place; None for each the sun does not make that day (polar day or night)."""
    return _event(day, lat, lon, -1), _event(day, lat, lon, 1)
