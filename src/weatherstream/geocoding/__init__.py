"""Place names and coordinates to locations: offline GeoNames data, Open-Meteo as a fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .offline import (
    GeocodingError,
    GeoPlace,
    OfflineGeocoder,
    get_geocoder,
    normalize,
    parse_coordinates,
)

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # The online geocoder (and httpx) is imported only when asked for.
    if name == "OpenMeteoGeocoder":
        from .openmeteo import OpenMeteoGeocoder

        return OpenMeteoGeocoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
