import logging

import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import load_fixture
from weatherstream import metrics
from weatherstream.breaker import CircuitBreaker
from weatherstream.budget import CallBudget, RedisBudget
from weatherstream.conf import DEFAULTS
from weatherstream.places import Place
from weatherstream.providers import ProviderError, UpstreamUnreachable, WeatherProvider
from weatherstream.providers.openmeteo import OpenMeteoProvider
from weatherstream.providers.simulated import SimulatedProvider, simulate
from weatherstream.upstream import BUDGET_RETRY, Chain, Upstream, load_budget, load_chain

A = Place("a", 52.5, 13.4)
B = Place("b", 48.1, 11.6)
PLACE = Place("2756071", 52.21833, 6.89583)
NOW = 1_790_000_000.0


class Scripted(WeatherProvider):
    """Answers as told: a reading per place, None for places in ``nothing``, or raises."""

    def __init__(self, name, *, fail=None, nothing=(), max_batch=10, rhythm=None):
        self.name = name
        self.fail = fail
        self.nothing = set(nothing)
        self.max_batch = max_batch
        self.rhythm = rhythm
        self.asked = []

    async def fetch(self, places):
        self.asked.append([p.id for p in places])
        if self.fail is not None:
            raise self.fail
        return [
            None if p.id in self.nothing else simulate(p.latitude, p.longitude, NOW, source=self.name)
            for p in places
        ]

    def new_data_at(self, place, reading):
        return self.rhythm


def chain(*providers, clock=None, **guards):
    clock = clock or FakeClock()
    return Chain([Upstream(p, **guards.get(p.name, {})) for p in providers], clock=clock)


async def test_the_first_upstream_serves_and_the_second_is_not_asked():
    first, second = Scripted("first"), Scripted("second")
    readings, error = await chain(first, second).fetch([A, B])
    assert error is None
    assert [r.source for r in readings] == ["first", "first"]
    assert second.asked == []


async def test_places_the_first_fails_go_to_the_next_which_serves_them_under_its_name():
    first, second = Scripted("first", fail=ProviderError("HTTP 503")), Scripted("second")
    readings, error = await chain(first, second).fetch([A, B])
    assert error is None
    assert [r.source for r in readings] == ["second", "second"]
    assert first.asked == [["a", "b"]] and second.asked == [["a", "b"]]


async def test_only_the_places_the_first_had_nothing_for_go_to_the_next():
    first, second = Scripted("first", nothing={"b"}), Scripted("second")
    readings, error = await chain(first, second).fetch([A, B])
    assert [r.source for r in readings] == ["first", "second"]
    assert second.asked == [["b"]]
    assert error is None


async def test_the_next_upstream_gets_batches_of_its_own_size():
    first = Scripted("first", fail=ProviderError("down"))
    second = Scripted("second", max_batch=1)
    readings, _ = await chain(first, second).fetch([A, B])
    assert sorted(second.asked) == [["a"], ["b"]]
    assert [r.source for r in readings] == ["second", "second"]


async def test_when_every_upstream_fails_the_error_names_them_all_and_the_soonest_retry():
    first = Scripted("first", fail=ProviderError("HTTP 429", retry_after=120))
    second = Scripted("second", fail=ProviderError("HTTP 503", retry_after=30))
    readings, error = await chain(first, second).fetch([A])
    assert readings == [None]
    assert "HTTP 429" in str(error) and "HTTP 503" in str(error)
    assert error.retry_after == 30


async def test_a_place_nobody_had_a_reading_for_is_none_without_an_error():
    first, second = Scripted("first", nothing={"a"}), Scripted("second", nothing={"a"})
    readings, error = await chain(first, second).fetch([A])
    assert readings == [None] and error is None
    assert second.asked == [["a"]]


async def test_an_open_circuit_costs_the_first_no_call_then_its_probe_takes_back_over():
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=2, cooldown=60, clock=clock)
    first, second = Scripted("first", fail=ProviderError("down")), Scripted("second")
    links = chain(first, second, clock=clock, first={"breaker": breaker})
    for _ in range(2):
        readings, _ = await links.fetch([A])
        assert readings[0].source == "second"
    assert breaker.state == "open" and len(first.asked) == 2
    assert links.source == "second"

    readings, _ = await links.fetch([A])  # open: the first is not called
    assert len(first.asked) == 2 and readings[0].source == "second"

    first.fail = None
    clock.now = 2.0  # the first probe is due
    readings, _ = await links.fetch([A])
    assert len(first.asked) == 3 and readings[0].source == "first"
    assert breaker.state == "closed" and links.source == "first"
    readings, _ = await links.fetch([A])
    assert readings[0].source == "first" and len(second.asked) == 3


async def test_a_spent_budget_sends_places_to_the_next_upstream_without_calling_the_first():
    clock = FakeClock(0.0)
    first, second = Scripted("first"), Scripted("second")
    links = chain(first, second, clock=clock, first={"budget": CallBudget({"minute": 2}, clock=clock)})
    readings, _ = await links.fetch([A, B])
    assert [r.source for r in readings] == ["first", "first"]
    readings, _ = await links.fetch([A, B])
    assert [r.source for r in readings] == ["second", "second"]
    assert first.asked == [["a", "b"]]


async def test_budget_counts_calls_the_way_the_provider_does():
    clock = FakeClock(0.0)

    class Weighted(Scripted):
        def calls(self, count):
            return count * 1.1

    budget = CallBudget({"minute": 10}, clock=clock)
    upstream = Upstream(Weighted("weighted"), budget=budget)
    await upstream.fetch([A] * 9)  # 9.9 calls
    assert budget.remaining() == {"minute": pytest.approx(0.1)}
    with pytest.raises(ProviderError, match="budget"):
        await upstream.fetch([A])  # 1.1 more would exceed 10


def test_stretch_is_the_interval_at_which_the_watched_places_fit_every_period():
    class Weighted(Scripted):
        def calls(self, count):
            return count * 1.1

    budget = CallBudget({"minute": 600, "hour": 5000, "day": 10000})
    upstream = Upstream(Weighted("w"), budget=budget)
    # 500 places x 1.1 calls: a day's window of 10,000 holds 18 rounds (both its ends).
    assert upstream.stretch(500) == pytest.approx(550 * 86400 / (10000 - 550))
    assert upstream.stretch(0) == 0.0
    assert Upstream(Scripted("free")).stretch(500) == 0.0


def outcomes(name):
    return {o: metrics.UPSTREAM_REQUESTS.labels(name, o)._value.get() for o in ("ok", "error", "refused")}


async def test_requests_are_counted_by_provider_and_outcome_and_timed():
    clock = FakeClock(0.0)
    first = Scripted("metrics-first")
    before, calls = outcomes("metrics-first"), metrics.UPSTREAM_CALLS.labels("metrics-first")._value.get()
    seconds = metrics.UPSTREAM_SECONDS.labels("metrics-first")._sum.get()
    upstream = Upstream(first, budget=CallBudget({"minute": 3}, clock=clock))
    await upstream.fetch([A])
    await upstream.fetch([A])
    first.fail = ProviderError("down")
    with pytest.raises(ProviderError):
        await upstream.fetch([A])
    with pytest.raises(ProviderError, match="budget"):
        await upstream.fetch([A])  # refused
    after = outcomes("metrics-first")
    assert {o: after[o] - before[o] for o in after} == {"ok": 2, "error": 1, "refused": 1}
    assert metrics.UPSTREAM_CALLS.labels("metrics-first")._value.get() - calls == 3
    assert 0 <= metrics.UPSTREAM_SECONDS.labels("metrics-first")._sum.get() - seconds < 5


async def test_the_circuit_gauge_and_log_follow_each_providers_breaker(caplog):
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=2, cooldown=60, clock=clock)
    provider = Scripted("gauge", fail=ProviderError("down"))
    upstream = Upstream(provider, breaker=breaker)
    gauge = metrics.CIRCUIT_OPEN.labels("gauge")
    with caplog.at_level("WARNING", logger="weatherstream.upstream"):
        with pytest.raises(ProviderError):
            await upstream.fetch([A])
        assert gauge._value.get() == 0.0  # one failure: still closed
        with pytest.raises(ProviderError):
            await upstream.fetch([A])
        assert gauge._value.get() == 1.0
        clock.now = 2.0
        provider.fail = None
        await upstream.fetch([A])  # the probe
        assert gauge._value.get() == 0.0
    transitions = [r.getMessage() for r in caplog.records if "upstream circuit" in r.getMessage()]
    assert transitions == [
        "gauge: upstream circuit closed -> open",
        "gauge: upstream circuit half-open -> closed",
    ]


async def test_a_provider_bug_is_a_failure_not_a_crash():
    upstream = Upstream(Scripted("buggy", fail=KeyError("current")))
    with pytest.raises(ProviderError, match="KeyError"):
        await upstream.fetch([A])


async def test_new_data_at_asks_the_provider_that_served_the_reading():
    first = Scripted("first", fail=ProviderError("down"), rhythm=100.0)
    second = Scripted("second", rhythm=200.0)
    links = chain(first, second)
    [reading], _ = await links.fetch([A])
    assert links.new_data_at(A, reading) == 200.0
    first.fail = None
    [reading], _ = await links.fetch([A])
    assert links.new_data_at(A, reading) == 100.0


# -- offline: simulated readings only while no real upstream can be reached ------------


class Network:
    def __init__(self):
        self.up = False
        self.calls = 0

    def __call__(self, request):
        self.calls += 1
        if not self.up:
            raise httpx.ConnectError("[Errno 101] Network is unreachable", request=request)
        return httpx.Response(200, json=load_fixture("open-meteo/forecast_current.json"))


def offline_chain(network, clock, *more):
    real = [Upstream(OpenMeteoProvider(transport=httpx.MockTransport(network))), *more]
    return Chain(real, offline=SimulatedProvider(), reprobe_after=300, clock=clock)


async def test_falls_back_to_marked_simulated_readings_and_recovers(caplog):
    network, clock = Network(), FakeClock(0.0)
    links = offline_chain(network, clock)
    assert links.source == "open-meteo"
    with caplog.at_level(logging.WARNING):
        [reading], error = await links.fetch([PLACE])
    assert reading.source == "simulated" and error is None
    assert links.degraded and links.source == "simulated"
    assert "SIMULATED" in caplog.text

    clock.now = 100  # within the re-probe period the upstream is not asked again
    [reading], _ = await links.fetch([PLACE])
    assert network.calls == 1 and reading.source == "simulated"

    network.up = True
    clock.now = 301
    [reading], _ = await links.fetch([PLACE])
    assert reading.source == "open-meteo"
    assert not links.degraded and links.source == "open-meteo"
    await links.aclose()


async def test_an_error_answer_is_not_replaced_by_simulated_weather():
    def broken(request):
        return httpx.Response(503)

    links = Chain(
        [Upstream(OpenMeteoProvider(transport=httpx.MockTransport(broken)))], offline=SimulatedProvider()
    )
    [reading], error = await links.fetch([PLACE])
    assert reading is None and "503" in str(error)
    assert not links.degraded
    await links.aclose()


async def test_the_second_real_upstream_serves_before_any_simulated_reading():
    network, clock = Network(), FakeClock(0.0)
    second = Scripted("met-norway")
    links = offline_chain(network, clock, Upstream(second))
    [reading], error = await links.fetch([PLACE])
    assert reading.source == "met-norway" and error is None
    assert not links.degraded


async def test_simulated_only_when_every_real_upstream_is_unreachable():
    network, clock = Network(), FakeClock(0.0)
    second = Scripted("met-norway", fail=UpstreamUnreachable("no route"))
    links = offline_chain(network, clock, Upstream(second))
    [reading], _ = await links.fetch([PLACE])
    assert reading.source == "simulated" and links.degraded


# -- from the settings -------------------------------------------------------------------


def names(config):
    links = load_chain({**DEFAULTS, **config})
    return [u.name for u in links.upstreams], links.offline and links.offline.name


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, (["open-meteo"], "simulated")),  # auto, MET Norway not configured
        (
            {"MET_NORWAY_USER_AGENT": "weather.example.org admin@example.org"},
            (["open-meteo", "met-norway"], "simulated"),
        ),
        ({"PROVIDER": "open-meteo"}, (["open-meteo"], None)),
        ({"PROVIDER": "simulated"}, (["simulated"], None)),
        (
            {"PROVIDER": ["met-norway", "open-meteo"], "MET_NORWAY_USER_AGENT": "x.example admin@x.example"},
            (["met-norway", "open-meteo"], None),
        ),
        ({"PROVIDER": ["open-meteo", "simulated"]}, (["open-meteo"], "simulated")),
        ({"PROVIDER": ["open-meteo", "auto"]}, (["open-meteo"], "simulated")),
    ],
)
async def test_the_chain_provider_names(config, expected):
    assert names(config) == expected


async def test_only_a_metered_provider_gets_the_call_budget():
    links = load_chain({**DEFAULTS, "PROVIDER": ["open-meteo", "simulated"]})
    assert links.first.budget is not None and links.first.breaker is not None
    links = load_chain({**DEFAULTS, "PROVIDER": "simulated"})
    assert links.first.budget is None


async def test_with_redis_the_budget_is_shared_in_it_and_without_it_kept_in_the_process():
    config = {**DEFAULTS, "PROVIDER": "open-meteo", "REDIS_URL": "redis://127.0.0.1:9/0"}
    assert isinstance(load_budget(config, OpenMeteoProvider()), RedisBudget)
    assert isinstance(load_budget({**config, "REDIS_URL": None}, OpenMeteoProvider()), CallBudget)
    assert load_budget({**config, "UPSTREAM_BUDGET": None}, OpenMeteoProvider()) is None
    assert load_budget(config, SimulatedProvider()) is None  # not metered


async def test_an_unreadable_shared_budget_spends_nothing_and_retries_soon():
    provider = Scripted("open-meteo")
    budget = RedisBudget({"minute": 600}, "redis://127.0.0.1:9/0", name="open-meteo")  # nobody there
    upstream = Upstream(provider, budget=budget)
    with pytest.raises(ProviderError, match="budget unavailable") as refused:
        await upstream.fetch([A])
    assert refused.value.retry_after == BUDGET_RETRY and provider.asked == []
