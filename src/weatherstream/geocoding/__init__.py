"""Place names and coordinates to places: offline GeoNames data, Open-Meteo as a fallback.

The engine asks a :class:`GeocoderChain` (``load_geocoders``): each geocoder of
``GEOCODERS`` in turn. ``get_geocoder()`` is the process's offline geocoder: it resolves
names (``resolve``), completes them (``search``) and, for a name it misses, suggests the
cities a typo may have meant (``suggest``: "Berln" -> Berlin).
"""

from __future__ import annotations

from .base import Geocoder, GeocoderChain, load_geocoders
from .offline import OfflineGeocoder, get_geocoder
from .openmeteo import OpenMeteoGeocoder
from .text import normalize

__all__ = [
    "Geocoder",
    "GeocoderChain",
    "OfflineGeocoder",
    "OpenMeteoGeocoder",
    "get_geocoder",
    "load_geocoders",
    "normalize",
]
