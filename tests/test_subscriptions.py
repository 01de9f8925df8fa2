"""Subscriptions: who watches what in one process, the grace after the last one leaves,
and the limits per client address (connections, new places an hour)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.clock import FakeClock
from weatherstream import subscriptions as subscriptions_module
from weatherstream.places import TooManyPlaces
from weatherstream.subscriptions import HOUR, Subscriptions, forecast_key

CONFIG = {"DEMAND_GRACE": 30.0, "MAX_CONNECTIONS_PER_ADDRESS": 2, "NEW_PLACES_PER_HOUR": 3}


class Inbox:
    def push(self, text, prepared=None):
        pass


@pytest.fixture
def clock(monkeypatch):
    """The module's monotonic clock, moved by hand (time.monotonic elsewhere untouched)."""
    clock = FakeClock(1000.0)
    monkeypatch.setattr(subscriptions_module, "time", SimpleNamespace(monotonic=clock))
    return clock


def make(**config) -> Subscriptions:
    return Subscriptions({**CONFIG, **config})


def test_add_and_discard_keep_the_hubs_subscribers():
    subs, a, b = make(), Inbox(), Inbox()
    assert subs.add("berlin", a) is True
    assert subs.add("berlin", b) is False
    assert subs.hub.count("berlin") == 2
    subs.discard("berlin", a)
    assert subs.hub.count("berlin") == 1
    subs.discard("berlin", b)
    assert subs.hub.count("berlin") == 0


def test_a_place_stays_watched_for_the_grace_period_after_its_last_subscriber_left(clock):
    subs, a, b = make(), Inbox(), Inbox()
    subs.add("berlin", a)
    subs.add("berlin", b)
    subs.add("paris", Inbox())
    assert subs.watched() == {"berlin", "paris"}
    subs.discard("berlin", a)
    clock.now += 100  # another subscriber is left: no grace running
    assert subs.watched() == {"berlin", "paris"}
    subs.discard("berlin", b)  # the last one: the grace starts now
    clock.now += 30.0
    assert subs.watched() == {"berlin", "paris"}  # DEMAND_GRACE seconds, to the end
    clock.now += 0.001
    assert subs.watched() == {"paris"}
    assert subs.released == {}  # forgotten, not only filtered out


def test_a_subscriber_back_within_the_grace_ends_it(clock):
    subs, a = make(), Inbox()
    subs.add("berlin", a)
    subs.discard("berlin", a)
    clock.now += 20
    assert subs.add("berlin", a) is True  # the hub's first again: the caller asks for a fetch
    clock.now += 100
    assert subs.watched() == {"berlin"}
    subs.discard("berlin", a)  # a new grace, from now
    clock.now += 29
    assert subs.watched() == {"berlin"}
    clock.now += 2
    assert subs.watched() == set()


def test_no_grace_without_demand_grace(clock):
    subs, a = make(DEMAND_GRACE=0), Inbox()
    subs.add("berlin", a)
    subs.discard("berlin", a)
    clock.now += 0.001
    assert subs.watched() == set()


def test_discarding_what_was_never_added_starts_no_grace(clock):
    subs = make()
    subs.discard("berlin", Inbox())
    assert subs.watched() == set() and subs.released == {}


def test_a_subscribe_under_way_keeps_a_place_busy_until_it_ends():
    subs, a = make(), Inbox()
    assert subs.busy() == set()
    with subs.joining("berlin"):
        assert subs.busy() == {"berlin"}
        assert subs.watched() == set()  # busy, not watched: nobody to fetch for yet
        with subs.joining("berlin"):  # two concurrent subscribes
            pass
        assert subs.busy() == {"berlin"}, "the other subscribe is still under way"
    assert subs.busy() == set()
    subs.add("paris", a)
    with pytest.raises(RuntimeError), subs.joining("rome"):
        raise RuntimeError("the look-up failed")
    assert subs.busy() == {"paris"}


def test_a_released_place_in_its_grace_is_not_busy(clock):
    subs, a = make(), Inbox()
    subs.add("berlin", a)
    subs.discard("berlin", a)
    assert subs.watched() == {"berlin"} and subs.busy() == set()


def test_connections_are_counted_per_address_up_to_the_limit():
    subs = make()
    assert [subs.connected("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert subs.addresses == {"10.0.0.1": 2}, "a refused connection is not counted"
    assert subs.connected("10.0.0.2") is True  # another address has its own count
    subs.disconnected("10.0.0.1")
    assert subs.connected("10.0.0.1") is True
    assert subs.connected("10.0.0.1") is False
    for _ in range(2):
        subs.disconnected("10.0.0.1")
    subs.disconnected("10.0.0.2")
    assert subs.addresses == {}
    subs.disconnected("10.0.0.2")  # once more than it connected: never below zero
    assert subs.addresses == {}
    assert [subs.connected("10.0.0.2") for _ in range(3)] == [True, True, False]


def test_no_connection_limit():
    subs = make(MAX_CONNECTIONS_PER_ADDRESS=None)
    assert all(subs.connected("10.0.0.1") for _ in range(1000))
    assert subs.addresses == {"10.0.0.1": 1000}


def test_an_address_may_add_so_many_new_places_an_hour(clock):
    subs = make()
    places = ["a", "b", "c", "d"]
    assert [subs.admit(p, "10.0.0.1") for p in places] == [True, True, True, False]
    assert subs.admit("d", "10.0.0.2") is True  # another address has its own allowance
    assert subs.admit("b", "10.0.0.1") is True, "a place it added within the hour is free"
    with pytest.raises(TooManyPlaces) as refused:
        subs.require_admitted("d", "10.0.0.1")
    assert refused.value.limit == 3
    subs.require_admitted("a", "10.0.0.1")  # admitted: no exception


def test_watching_a_place_watched_here_or_in_its_grace_is_free(clock):
    subs, inbox = make(NEW_PLACES_PER_HOUR=1), Inbox()
    assert subs.admit("a", "10.0.0.1") is True
    subs.add("watched", inbox)
    subs.add("released", inbox)
    subs.discard("released", inbox)
    assert subs.admit("watched", "10.0.0.1") is True
    assert subs.admit("released", "10.0.0.1") is True
    assert subs.new_places == {"10.0.0.1": {"a": 1000.0}}, "neither counted"
    clock.now += 31  # the grace is over
    subs.watched()
    assert subs.admit("released", "10.0.0.1") is False


def test_no_address_or_no_limit_is_always_admitted_and_counts_nothing():
    subs = make(NEW_PLACES_PER_HOUR=1)
    assert all(subs.admit(str(i), None) for i in range(10))
    subs = make(NEW_PLACES_PER_HOUR=None)
    assert all(subs.admit(str(i), "10.0.0.1") for i in range(10))
    assert subs.new_places == {}


def test_a_place_added_an_hour_ago_no_longer_counts(clock):
    subs = make(NEW_PLACES_PER_HOUR=2)
    subs.admit("a", "10.0.0.1")
    clock.now += 600
    subs.admit("b", "10.0.0.1")
    assert subs.admit("c", "10.0.0.1") is False
    clock.now += HOUR - 600 - 0.001  # a is not yet an hour old
    assert subs.admit("c", "10.0.0.1") is False
    clock.now += 0.001  # now it is
    assert subs.admit("c", "10.0.0.1") is True
    assert subs.admit("a", "10.0.0.1") is False, "forgotten: a new place again, over the limit"
    assert subs.new_places["10.0.0.1"] == {"b": 1600.0, "c": 1000.0 + HOUR}


def test_sweep_forgets_addresses_that_added_nothing_for_an_hour(clock):
    subs = make()
    subs.admit("a", "10.0.0.1")
    subs.admit("b", "10.0.0.2")
    clock.now += 60
    subs.admit("c", "10.0.0.2")
    clock.now += HOUR - 60
    subs.sweep()
    assert set(subs.new_places) == {"10.0.0.2"}  # its latest place is not an hour old
    clock.now += 60
    subs.sweep()
    assert subs.new_places == {}


# Forecast subscribers (issue 15): one hub key per place and kind, a grace per place.


def test_forecast_subscribers_are_held_per_place_and_kind():
    subs, a, b = make(), Inbox(), Inbox()
    assert subs.add_forecast("berlin", "hourly", a) is True  # the place's first
    assert subs.add_forecast("berlin", "hourly", b) is False
    assert subs.add_forecast("berlin", "daily", a) is False, "a first of its kind, not of the place"
    assert subs.forecast_hub.count(forecast_key("hourly", "berlin")) == 2
    assert subs.forecast_hub.count(forecast_key("daily", "berlin")) == 1
    assert subs.add_forecast("paris", "daily", b) is True
    assert subs.forecast_watched() == {"berlin", "paris"}
    assert subs.hub.count("berlin") == 0 and subs.watched() == set(), "readings are subscribed apart"
    subs.discard_forecast("berlin", "hourly", a)
    assert subs.forecast_hub.count(forecast_key("hourly", "berlin")) == 1
    assert subs.forecast_hub.count(forecast_key("daily", "berlin")) == 1


def test_forecast_key_names_the_kind_and_the_place():
    assert forecast_key("hourly", "52.52,13.41") == "hourly:52.52,13.41"
    assert forecast_key("daily", "2950159") != forecast_key("hourly", "2950159")


def test_a_place_stays_in_forecast_demand_for_the_grace_after_its_last_forecast_subscriber_left(clock):
    subs, a, b = make(), Inbox(), Inbox()
    subs.add_forecast("berlin", "hourly", a)
    subs.add_forecast("berlin", "daily", b)
    subs.add_forecast("paris", "hourly", Inbox())
    subs.discard_forecast("berlin", "hourly", a)
    assert subs.forecasts_released == {}, "a subscriber of the other kind is left: no grace"
    clock.now += 100
    assert subs.forecast_watched() == {"berlin", "paris"}
    assert subs.forecasts_released == {}
    subs.discard_forecast("berlin", "daily", b)  # the last one, of any kind: the grace starts now
    clock.now += 30.0
    assert subs.forecast_watched() == {"berlin", "paris"}  # DEMAND_GRACE seconds, to the end
    clock.now += 0.001
    assert subs.forecast_watched() == {"paris"}
    assert subs.forecasts_released == {}  # forgotten, not only filtered out


def test_the_forecast_grace_is_the_same_whichever_kind_left_last(clock):
    subs, a = make(), Inbox()
    subs.add_forecast("berlin", "daily", a)
    subs.add_forecast("berlin", "hourly", a)
    subs.discard_forecast("berlin", "daily", a)
    clock.now += 5
    subs.discard_forecast("berlin", "hourly", a)  # the grace from now, not from the first leaving
    clock.now += 30
    assert subs.forecast_watched() == {"berlin"}
    clock.now += 0.001
    assert subs.forecast_watched() == set()


def test_a_forecast_subscriber_back_within_the_grace_ends_it(clock):
    subs, a = make(), Inbox()
    subs.add_forecast("berlin", "hourly", a)
    subs.discard_forecast("berlin", "hourly", a)
    clock.now += 20
    assert subs.add_forecast("berlin", "daily", a) is False, "in its grace: still in demand, no new fetch"
    assert subs.forecasts_released == {}, "the grace ended"
    clock.now += 100
    assert subs.forecast_watched() == {"berlin"}
    subs.discard_forecast("berlin", "daily", a)  # a new grace, from now
    clock.now += 29
    assert subs.forecast_watched() == {"berlin"}
    clock.now += 2
    assert subs.forecast_watched() == set()
    assert subs.add_forecast("berlin", "hourly", a) is True, "past the grace: the first again"


def test_the_forecast_grace_and_the_readings_grace_run_apart(clock):
    subs, a = make(), Inbox()
    subs.add("berlin", a)
    subs.add_forecast("berlin", "hourly", a)
    subs.discard_forecast("berlin", "hourly", a)  # the forecast is left; the readings are not
    clock.now += 31
    assert subs.forecast_watched() == set() and subs.watched() == {"berlin"}
    subs.add_forecast("berlin", "hourly", a)
    subs.discard("berlin", a)  # the readings are left; the forecast is not
    clock.now += 31
    assert subs.watched() == set() and subs.forecast_watched() == {"berlin"}


def test_no_forecast_grace_without_demand_grace(clock):
    subs, a = make(DEMAND_GRACE=0), Inbox()
    subs.add_forecast("berlin", "hourly", a)
    subs.discard_forecast("berlin", "hourly", a)
    assert subs.forecast_watched() == {"berlin"}
    clock.now += 0.001
    assert subs.forecast_watched() == set()


def test_discarding_a_forecast_subscription_never_added_starts_no_grace(clock):
    subs, a = make(), Inbox()
    subs.discard_forecast("berlin", "hourly", Inbox())
    assert subs.forecast_watched() == set() and subs.forecasts_released == {}
    subs.add_forecast("berlin", "daily", a)
    subs.discard_forecast("berlin", "hourly", a)  # not subscribed to that kind
    subs.discard_forecast("berlin", "daily", Inbox())  # another subscriber
    assert subs.forecasts_released == {} and subs.forecast_hub.count(forecast_key("daily", "berlin")) == 1
