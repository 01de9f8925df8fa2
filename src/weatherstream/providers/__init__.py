"""Weather providers, loaded by alias or dotted path from ``WEATHERSTREAM["PROVIDER"]``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

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
    path = ALIASES.get(name, name)
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WEATHERSTREAM['PROVIDER'] = {name!r} is neither one of {sorted(ALIASES)} "
            f"nor an importable dotted path: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, WeatherProvider)):
        raise ImproperlyConfigured(f"{path} is not a WeatherProvider subclass")
    return cls


def load_provider(config: dict[str, Any]) -> WeatherProvider:
    """A new provider instance (it owns connections bound to the running event loop)."""
    return provider_class(config["PROVIDER"]).from_config(config)
