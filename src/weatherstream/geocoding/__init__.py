"""Place names and coordinates to locations: offline GeoNames data, Open-Meteo as a fallback."""

from __future__ import annotations

from .offline import (
    GeocodingError,
    GeoPlace,
    OfflineGeocoder,
    get_geocoder,
    normalize,
    parse_coordinates,
)
from .openmeteo import OpenMeteoGeocoder

__all__ = [
    "GeoPlace",
    "GeocodingError",
    "OfflineGeocoder",
    "OpenMeteoGeocoder",
    "get_geocoder",
    "normalize",
    "parse_coordinates",
]
