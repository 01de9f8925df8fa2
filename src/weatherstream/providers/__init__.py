"""Weather providers, loaded by alias or dotted path from ``WEATHERSTREAM["PROVIDER"]``:
one name or a list of them (a chain, asked in order: :mod:`weatherstream.upstream`)."""

from __future__ import annotations

from typing import Any

from ..conf import import_subclass
from .base import ProviderError, UpstreamUnreachable, WeatherProvider

ALIASES = {
    "met-norway": "weatherstream.providers.metno.MetNorwayProvider",
    "open-meteo": "weatherstream.providers.openmeteo.OpenMeteoProvider",
    "simulated": "weatherstream.providers.simulated.SimulatedProvider",
}

__all__ = [
    "ALIASES",
    "ProviderError",
    "UpstreamUnreachable",
    "WeatherProvider",
    "provider_class",
    "provider_names",
    "providers_from_config",
]


def provider_class(name: str) -> type[WeatherProvider]:
    return import_subclass(name, aliases=ALIASES, base=WeatherProvider, setting="PROVIDER")


# "auto": the real providers that can run with the settings given, in this order, then
# simulated readings (marked so) while none of them can be reached.
AUTO = "auto"
AUTO_REAL = ("open-meteo", "met-norway")
SIMULATED = "simulated"


def provider_names(config: dict[str, Any]) -> tuple[list[str], str | None]:
    """The providers ``PROVIDER`` names, in order, and the one serving while no real one
    can be reached (``"simulated"`` with ``auto``, or listed after real ones), or None.

    ``"simulated"`` alone is the provider; beside real ones it is only the offline fallback.
    """
    setting = config["PROVIDER"]
    names: list[str] = []
    for name in [setting] if isinstance(setting, str) else list(setting):
        if name == AUTO:
            names.extend(n for n in AUTO_REAL if n != "met-norway" or config.get("MET_NORWAY_USER_AGENT"))
            names.append(SIMULATED)
        else:
            names.append(name)
    names = list(dict.fromkeys(names))  # once each, first place kept
    if SIMULATED in names and len(names) > 1:
        names.remove(SIMULATED)
        return names, SIMULATED
    return names, None


def providers_from_config(config: dict[str, Any]) -> tuple[list[WeatherProvider], WeatherProvider | None]:
    """New instances of the providers ``PROVIDER`` names (they own connections bound to
    the running event loop), and the offline fallback or None."""
    names, offline = provider_names(config)
    real = [provider_class(name).from_config(config) for name in names]
    return real, None if offline is None else provider_class(offline).from_config(config)
