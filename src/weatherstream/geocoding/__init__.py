"""Place names and coordinates to locations: offline GeoNames data, Open-Meteo as a fallback.

``get_geocoder()`` resolves names (``resolve``), completes them (``search``) and, for a
name it misses, suggests the cities a typo may have meant (``suggest``: "Berln" -> Berlin);
``GeoPlace.as_suggestion()`` is a suggestion's wire form, with the ``query`` to send back.
"""

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
