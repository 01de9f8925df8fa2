"""weatherstream.places: the one Place type, its dict forms, and the checks on names and
coordinates that the protocol, the views and the geocoders share."""

import math
from types import SimpleNamespace

import pytest

from weatherstream.places import (
    Place,
    PlaceError,
    TooManyPlaces,
    UnknownPlace,
    clean_name,
    coordinate,
    coordinates,
    parse_coordinates,
)

BERLIN = Place(
    id="2950159",
    latitude=52.52437,
    longitude=13.41053,
    name="Berlin",
    country="DE",
    region="Germany",
    timezone="Europe/Berlin",
    population=3426354,
)


def test_the_dict_form_is_the_protocols_and_round_trips():
    assert BERLIN.as_dict() == {
        "id": "2950159",
        "name": "Berlin",
        "country": "DE",
        "region": "Germany",
        "lat": 52.52437,
        "lon": 13.41053,
        "timezone": "Europe/Berlin",
    }
    assert BERLIN.as_dict(population=True)["population"] == 3426354
    assert Place.from_dict(BERLIN.as_dict(population=True)) == BERLIN
    assert Place.from_dict(BERLIN.as_dict()).population == 0  # not sent to browsers


def test_a_dict_without_the_optional_fields_leaves_them_empty():
    place = Place.from_dict({"id": "1", "name": "Somewhere", "lat": 1, "lon": 2})
    assert place == Place("1", 1.0, 2.0, name="Somewhere")
    assert (place.country, place.region, place.timezone) == ("", "", "")


@pytest.mark.parametrize("broken", [{}, {"id": "1", "name": "x", "lat": "north", "lon": 0}])
def test_a_malformed_dict_raises_what_the_bus_catches(broken):
    with pytest.raises((KeyError, TypeError, ValueError)):
        Place.from_dict(broken)


def test_fields_are_a_location_rows_columns():
    fields = BERLIN.fields()
    assert "id" not in fields and fields["latitude"] == 52.52437 and fields["population"] == 3426354
    row = SimpleNamespace(id=BERLIN.id, **fields)
    assert Place.from_fields(row) == BERLIN


def test_a_point_needs_only_an_id_and_coordinates():
    point = Place("a", 1.5, -2.5)
    assert (point.id, point.latitude, point.longitude) == ("a", 1.5, -2.5)
    assert (point.name, point.country, point.population) == ("", "", 0)


@pytest.mark.parametrize(
    ("value", "axis", "message"),
    [
        ("52", "lat", "'lat' must be a number."),
        (None, "lon", "'lon' must be a number."),
        (True, "lat", "'lat' must be a number."),
        (90.0001, "lat", "'lat' must be between -90 and 90."),
        (-180.5, "lon", "'lon' must be between -180 and 180."),
        (math.nan, "lat", "'lat' must be between -90 and 90."),
        (math.inf, "lon", "'lon' must be between -180 and 180."),
        (10**400, "lat", "'lat' must be between -90 and 90."),
    ],
)
def test_a_coordinate_out_of_range_or_not_a_number_is_refused(value, axis, message):
    with pytest.raises(PlaceError) as error:
        coordinate(value, axis)
    assert str(error.value) == message


def test_the_bounds_themselves_are_allowed():
    assert coordinates(-90, 180) == (-90.0, 180.0)
    assert coordinates(90, -180) == (90.0, -180.0)
    assert isinstance(coordinate(1, "lat"), float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("52.52,13.405", (52.52, 13.405)),
        ("52.52, 13.405", (52.52, 13.405)),
        (" -33.87 , 151.21 ", (-33.87, 151.21)),
        ("+10,-20", (10.0, -20.0)),
        (".5,+1.", (0.5, 1.0)),
        ("91,0", (91.0, 0.0)),  # parsed; the range is checked by coordinates()
    ],
)
def test_parse_coordinates(text, expected):
    assert parse_coordinates(text) == expected


@pytest.mark.parametrize(
    "text", ["Berlin", "52.52", "52.52;13.4", "1,2,3", "52.52,13.4,1", "nan,0", "", 52.52, None]
)
def test_anything_else_is_not_coordinates(text):
    assert parse_coordinates(text) is None


def test_clean_name():
    assert clean_name("  Berlin ") == "Berlin"
    assert clean_name("x" * 200) == "x" * 200
    for bad, message in [
        ("   ", "Please enter a place name."),
        (None, "Please enter a place name."),
        ("x" * 201, "Place names are at most 200 characters long."),
    ]:
        with pytest.raises(PlaceError) as error:
            clean_name(bad)
        assert str(error.value) == message
    with pytest.raises(PlaceError, match="at most 5 characters"):
        clean_name("Berlin", max_length=5)


def test_domain_errors_say_what_is_wrong():
    unknown = UnknownPlace("No city called 'Berln' was found.", [BERLIN])
    assert isinstance(unknown, PlaceError) and unknown.suggestions == [BERLIN]
    assert UnknownPlace("x").suggestions == []
    assert str(TooManyPlaces(3)) == "This address may add at most 3 new places an hour."
    assert TooManyPlaces(3).limit == 3


def test_a_suggestion_carries_the_query_that_resolves_it():
    assert BERLIN.as_suggestion() == {
        "id": "2950159",
        "name": "Berlin",
        "country": "DE",
        "region": "Germany",
        "query": "Berlin, DE",
    }
    springfield = Place("4250542", 39.8, -89.6, name="Springfield", country="US", region="Illinois")
    assert springfield.as_query() == "Springfield, IL, US"
    assert Place("52.52,13.41", 52.52, 13.41, name="52.52, 13.41").as_query() == "52.52, 13.41"


def test_a_name_with_a_comma_in_it_is_its_own_query():
    misato = Place("1", 35.83, 139.87, name="Misato, Saitama", country="JP", region="Saitama")
    assert misato.as_query() == "Misato, Saitama"  # not "Misato, Saitama, JP"


def test_only_a_place_in_the_us_has_a_state_code_in_its_query():
    elsewhere = Place("1", 48.86, 2.35, name="Paris", country="FR", region="Texas")  # a state's name
    assert elsewhere.as_query() == "Paris, FR"
