"""The geocoder chain the engine asks, and loading geocoders by alias or dotted path."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from weatherstream.conf import get_config
from weatherstream.geocoding import (
    Geocoder,
    GeocoderChain,
    OfflineGeocoder,
    OpenMeteoGeocoder,
    load_geocoders,
)
from weatherstream.geocoding.base import SUGGESTIONS
from weatherstream.places import Place, PlaceError, UnknownPlace


class Fixed(Geocoder):
    """Knows one name; records what it was asked."""

    def __init__(self, name, place, suggestions=()):
        self.known, self.place, self.suggestions, self.asked = name, place, list(suggestions), []

    async def find(self, query):
        self.asked.append(query)
        return self.place if query == self.known else None

    def suggest(self, query, limit):
        return self.suggestions[:limit]


ONE, TWO = Place("1", 1.0, 1.0, name="One"), Place("2", 2.0, 2.0, name="Two")


async def test_the_first_geocoder_that_finds_a_name_answers():
    first, second = Fixed("One", ONE), Fixed("Two", TWO)
    chain = GeocoderChain([first, second])
    assert await chain.find(" One ") == ONE
    assert second.asked == []  # not asked: the first knew it
    assert await chain.find("Two") == TWO
    assert first.asked == ["One", "Two"] and second.asked == ["Two"]


async def test_a_name_nobody_finds_is_unknown_with_everyones_suggestions_capped():
    chain = GeocoderChain([Fixed("One", ONE, [ONE, TWO]), Fixed("Two", TWO, [TWO, ONE])])
    with pytest.raises(UnknownPlace) as error:
        await chain.find("Three")
    assert str(error.value) == "No city called 'Three' was found."
    assert error.value.suggestions == [ONE, TWO, TWO][:SUGGESTIONS]


async def test_suggestions_are_asked_for_the_cleaned_name_at_most_suggestions_of_each():
    class Suggests(Geocoder):
        def __init__(self):
            self.asked = []

        def suggest(self, query, limit):
            self.asked.append((query, limit))
            return []

    first, second = Suggests(), Suggests()
    with pytest.raises(UnknownPlace):
        await GeocoderChain([first, second]).find("  Berln ")
    assert first.asked == second.asked == [("Berln", SUGGESTIONS)]


async def test_a_name_longer_than_max_city_length_is_refused():
    first = Fixed("Berlin", ONE)
    with pytest.raises(PlaceError, match="Place names are at most 5 characters long."):
        await GeocoderChain([first], max_length=5).find("Berlin")
    assert first.asked == []
    config = {**get_config(), "GEOCODERS": ["offline"], "MAX_CITY_LENGTH": 7}
    assert load_geocoders(config).max_length == 7


async def test_a_bad_name_is_refused_before_any_geocoder_is_asked():
    first = Fixed("One", ONE)
    with pytest.raises(PlaceError, match="Please enter a place name."):
        await GeocoderChain([first]).find("  ")
    assert first.asked == []


def test_coordinates_are_checked_then_described_by_the_first_that_can():
    class Describes(Geocoder):
        def at(self, latitude, longitude):
            return Place("here", latitude, longitude, name="Here")

    assert GeocoderChain([Geocoder(), Describes()]).at(1, 2) == Place("here", 1.0, 2.0, name="Here")
    bare = GeocoderChain([Geocoder()]).at(52.5, 13.4)  # nobody describes points: a bare one
    assert (bare.id, bare.name) == ("52.50,13.40", "52.50, 13.40")
    with pytest.raises(PlaceError, match="'lon' must be between -180 and 180."):
        GeocoderChain([Describes()]).at(0, 181)


def test_a_point_nobody_describes_keeps_its_exact_coordinates():
    point = GeocoderChain([Geocoder()]).at(52.5234, 13.4114)
    assert point == Place("52.52,13.41", 52.5234, 13.4114, name="52.52, 13.41")


async def test_loaded_by_alias_or_dotted_path_in_order():
    base = {**get_config(), "GEOCODERS": None, "ONLINE_GEOCODING": True}
    kinds = lambda config: [type(g) for g in load_geocoders(config).geocoders]  # noqa: E731
    assert kinds(base) == [OfflineGeocoder, OpenMeteoGeocoder]
    assert kinds({**base, "ONLINE_GEOCODING": False}) == [OfflineGeocoder]
    path = "weatherstream.geocoding.openmeteo.OpenMeteoGeocoder"
    assert kinds({**base, "GEOCODERS": [path, "offline"]}) == [OpenMeteoGeocoder, OfflineGeocoder]
    with pytest.raises(ImproperlyConfigured, match="not a Geocoder subclass"):
        load_geocoders({**base, "GEOCODERS": ["weatherstream.places.Place"]})
    with pytest.raises(ImproperlyConfigured, match="neither one of"):
        load_geocoders({**base, "GEOCODERS": ["nowhere.Geocoder"]})


def test_a_geocoder_that_cannot_be_loaded_names_the_setting_to_fix():
    with pytest.raises(ImproperlyConfigured) as error:
        load_geocoders({**get_config(), "GEOCODERS": ["nowhere.Geocoder"]})
    assert str(error.value).startswith("WEATHERSTREAM['GEOCODERS']: 'nowhere.Geocoder' is neither one of")


def test_every_engine_shares_the_one_offline_index():
    config = {**get_config(), "GEOCODERS": ["offline"]}
    assert load_geocoders(config).geocoders[0] is load_geocoders(config).geocoders[0]
