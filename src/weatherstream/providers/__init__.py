"""Weather providers, loaded by alias or dotted path from ``WEATHERSTREAM["PROVIDER"]``."""

from __future__ import annotations

from typing import Any

from ..conf import import_subclass
from .base import ProviderError, UpstreamUnreachable, WeatherProvider

ALIASES = {
    "auto": "weatherstream.providers.auto.AutoProvider",
    "open-meteo": "weatherstream.providers.openmeteo.OpenMeteoProvider",
    "simulated": "weatherstream.providers.simulated.SimulatedProvider",
}

__all__ = [
    "ALIASES",
    "ProviderError",
    "UpstreamUnreachable",
    "WeatherProvider",
    "load_provider",
    "provider_class",
]


def provider_class(name: str) -> type[WeatherProvider]:
    return import_subclass(name, aliases=ALIASES, base=WeatherProvider, setting="PROVIDER")


def load_provider(config: dict[str, Any]) -> WeatherProvider:
    """A new provider instance (it owns connections bound to the running event loop)."""
    return provider_class(config["PROVIDER"]).from_config(config)
