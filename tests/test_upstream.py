import asyncio
import logging
import uuid

import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import load_fixture
from weatherstream import metrics
from weatherstream.breaker import CircuitBreaker
from weatherstream.budget import CallBudget, RedisBudget
from weatherstream.conf import DEFAULTS
from weatherstream.forecasts import Forecasts
from weatherstream.places import Place
from weatherstream.providers import ProviderError, UpstreamUnreachable, WeatherProvider
from weatherstream.providers.openmeteo import OpenMeteoProvider
from weatherstream.providers.simulated import SimulatedProvider, simulate
from weatherstream.upstream import (
    BUDGET_RETRY,
    FORECAST_SPACING,
    FORECASTS,
    Chain,
    Forecasting,
    Upstream,
    load_budget,
    load_chain,
)

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
        seen = []
        real_fetch = provider.fetch

        async def watched(places):
            seen.append(gauge._value.get())  # while the probe is out
            return await real_fetch(places)

        provider.fetch = watched
        await upstream.fetch([A])  # the probe
        assert seen == [0.5], "half-open while the probe is out"
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


# -- faults of the guards themselves -------------------------------------------------------


class Unwritable:
    """A shared budget whose Redis answers reads but refuses writes (out of memory)."""

    def spacing(self, calls):
        return 0.0

    async def until(self, calls):
        return 0.0

    async def spend(self, calls):
        raise ConnectionError("OOM command not allowed when used memory > 'maxmemory'")


async def test_a_budget_that_cannot_be_spent_refuses_and_says_when_to_retry():
    provider = Scripted("open-meteo")
    with pytest.raises(ProviderError, match="budget unavailable") as refused:
        await Upstream(provider, budget=Unwritable()).fetch([A])
    assert refused.value.retry_after == BUDGET_RETRY and provider.asked == []


async def test_while_the_network_stays_down_an_open_circuit_keeps_the_simulated_readings():
    clock = FakeClock(0.0)
    down = Scripted("met-norway", fail=UpstreamUnreachable("no route"), max_batch=1)
    breaker = CircuitBreaker(threshold=2, cooldown=60, clock=clock)
    links = Chain(
        [Upstream(down, breaker=breaker)], offline=SimulatedProvider(), reprobe_after=300, clock=clock
    )
    places = [A, B, PLACE]
    readings, _ = await links.fetch(places)
    assert [r.source for r in readings] == ["simulated"] * 3 and breaker.state == "open"
    clock.now = 301  # the re-probe: the circuit is open (half-open lets one through), still no network
    readings, error = await links.fetch(places)
    assert [r.source for r in readings] == ["simulated"] * 3, "refusals are no sign of a network"
    assert links.degraded and error is None


async def test_a_place_served_by_the_second_asks_the_first_again_when_its_breaker_allows():
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=5, cooldown=60, clock=clock)
    first, second = Scripted("first", fail=ProviderError("HTTP 503")), Scripted("second")
    links = chain(first, second, clock=clock, first={"breaker": breaker})
    [reading], _ = await links.fetch([A])
    assert reading.source == "second"
    assert links.first_again_in(reading) == 0.0, "closed: the first may be asked at once"
    for _ in range(4):
        await links.fetch([A])
    assert breaker.state == "open"
    assert links.first_again_in(reading) == breaker.retry_in() > 0
    [own], _ = await chain(Scripted("first")).fetch([A])
    assert chain(Scripted("first")).first_again_in(own) is None


async def test_a_refusal_is_decided_when_a_requests_turn_comes_not_before():
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=2, cooldown=60, clock=clock)

    class OneAtATime(Scripted):
        max_in_flight = 1

        async def fetch(self, places):
            await asyncio.sleep(0.01)  # a request takes time: the others would be under way
            return await super().fetch(places)

    failing = OneAtATime("met-norway", fail=ProviderError("HTTP 500"), max_batch=1)
    links = chain(failing, Scripted("open-meteo"), clock=clock, **{"met-norway": {"breaker": breaker}})
    places = [Place(f"q{i}", i, i) for i in range(10)]
    readings, _ = await links.fetch(places)
    assert [r.source for r in readings] == ["open-meteo"] * 10
    assert len(failing.asked) == 2, "once its circuit opened, the queued requests were not sent"


def test_the_chain_hands_out_places_in_the_biggest_batch_any_upstream_takes():
    links = chain(Scripted("met-norway", max_batch=1), Scripted("open-meteo", max_batch=50))
    assert links.max_batch == 50


# -- found by mutation testing (docs/testing.md) ---------------------------------------


def sample(name, labels):
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_a_providers_metrics_are_there_at_zero_before_its_first_request():
    name = f"fresh-{uuid.uuid4().hex}"  # new to this process's registry, however the test is run
    Upstream(Scripted(name))
    for outcome in ("ok", "error", "refused"):
        labels = {"provider": name, "outcome": outcome}
        assert sample("weatherstream_upstream_requests_total", labels) == 0.0, outcome
    assert sample("weatherstream_upstream_calls_total", {"provider": name}) == 0.0


async def test_each_request_is_timed_under_its_providers_name():
    upstream = Upstream(Scripted("timed"))
    count = "weatherstream_upstream_request_seconds_count"
    before = sample(count, {"provider": "timed"}) or 0.0
    await upstream.fetch([A])
    await upstream.fetch([A, B])
    assert sample(count, {"provider": "timed"}) - before == 2


async def test_refusals_and_failures_are_logged_with_the_provider_and_the_cause(caplog):
    clock = FakeClock(0.0)
    spent = Upstream(Scripted("spent"), budget=CallBudget({"minute": 1}, clock=clock))
    unreadable = Upstream(
        Scripted("unreadable"), budget=RedisBudget({"minute": 600}, "redis://127.0.0.1:9/0", name="x")
    )
    failing = Upstream(Scripted("failing", fail=ProviderError("HTTP 503")))
    buggy = Upstream(Scripted("buggy", fail=KeyError("current")))
    await spent.fetch([A])
    clock.now = 15.0
    with caplog.at_level(logging.WARNING, logger="weatherstream.upstream"):
        for upstream, places in ((spent, [A]), (unreadable, [A]), (failing, [A, B]), (buggy, [A])):
            with pytest.raises(ProviderError):
                await upstream.fetch(places)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("spent: call budget spent; 45s until it allows ")
    assert messages[1].startswith("unreadable: the call budget cannot be ")
    assert messages[1].endswith(")") and "(Error 111 connecting to 127.0.0.1:9." in messages[1]
    assert messages[2:] == [
        "failing: fetch of 2 location(s) failed: HTTP 503",
        "buggy: fetch of 1 location(s) failed unexpectedly",
    ]
    assert caplog.records[3].exc_info[0] is KeyError  # with its traceback


def test_a_chain_without_upstreams_is_refused():
    with pytest.raises(ValueError, match="^a chain needs at least one upstream$"):
        Chain([], offline=SimulatedProvider())


async def test_a_simulated_reading_is_traced_to_the_offline_provider():
    network, clock = Network(), FakeClock(0.0)
    links = offline_chain(network, clock)
    [reading], _ = await links.fetch([PLACE])
    assert reading.source == "simulated"
    assert links.provider_of(reading) is links.offline
    await links.aclose()


async def test_new_data_at_is_asked_for_that_place_and_that_reading():
    class Asked(Scripted):
        def new_data_at(self, place, reading):
            self.rhythm_asked = (place, reading)
            return 100.0

    provider = Asked("asked")
    links = chain(provider)
    [reading], _ = await links.fetch([A])
    assert links.new_data_at(A, reading) == 100.0
    assert provider.rhythm_asked == (A, reading)


async def test_while_offline_the_real_upstream_is_probed_again_exactly_after_the_reprobe_period():
    network, clock = Network(), FakeClock(0.0)
    links = offline_chain(network, clock)
    await links.fetch([PLACE])  # offline from t=0
    network.up = True
    clock.now = 299.9
    [reading], _ = await links.fetch([PLACE])
    assert reading.source == "simulated" and network.calls == 1
    clock.now = 300.0
    [reading], _ = await links.fetch([PLACE])
    assert reading.source == "open-meteo" and network.calls == 2
    await links.aclose()


async def test_a_failed_batch_leaves_the_other_batches_of_that_upstream_served():
    class FailsA(Scripted):
        async def fetch(self, places):
            if any(p.id == "a" for p in places):
                self.asked.append([p.id for p in places])
                raise ProviderError("no a")
            return await super().fetch(places)

    first, second = FailsA("first", max_batch=1), Scripted("second")
    readings, error = await chain(first, second).fetch([A, B])
    assert [r.source for r in readings] == ["second", "first"]
    assert second.asked == [["a"]] and error is None


async def test_asking_for_no_places_asks_nobody_and_is_not_taken_for_being_offline():
    network, clock = Network(), FakeClock(0.0)
    links = offline_chain(network, clock)
    assert await links.fetch([]) == ([], None)
    assert network.calls == 0 and not links.degraded


async def test_going_offline_and_back_is_logged_with_the_cause_and_the_fallback(caplog):
    network, clock = Network(), FakeClock(0.0)
    links = offline_chain(network, clock)
    with caplog.at_level(logging.WARNING, logger="weatherstream.upstream"):
        await links.fetch([PLACE])
        network.up = True
        clock.now = 300.0
        await links.fetch([PLACE])
    messages = [r.getMessage() for r in caplog.records if r.name == "weatherstream.upstream"]
    offline = [m for m in messages if m.startswith("weather upstream unreachable (")]
    assert len(offline) == 1 and "Network is unreachable" in offline[0]
    assert offline[0].endswith(
        "); serving SIMULATED readings, marked source='simulated', until it answers again"
    )
    assert messages[-1] == "weather upstream reachable again; real readings resume"
    await links.aclose()


class Closing(Scripted):
    def __init__(self, name, closed):
        super().__init__(name)
        self.closed = closed

    async def aclose(self):
        self.closed.append(self.name)


async def test_closing_a_chain_closes_every_provider_the_offline_one_too():
    closed = []
    links = Chain([Upstream(Closing("first", closed)), Upstream(Closing("second", closed))])
    await links.aclose()
    assert closed == ["first", "second"]
    closed.clear()
    links = Chain([Upstream(Closing("first", closed))], offline=Closing("offline", closed))
    await links.aclose()
    assert closed == ["first", "offline"]


def test_a_budget_in_redis_is_named_for_its_provider():
    config = {**DEFAULTS, "PROVIDER": "open-meteo", "REDIS_URL": "redis://127.0.0.1:9/0"}
    assert load_budget(config, OpenMeteoProvider()).name == "open-meteo"


async def test_the_error_of_every_upstream_joins_their_messages_and_without_a_hint_retries_by_backoff():
    first = Scripted("first", fail=ProviderError("HTTP 429", retry_after=120))
    second = Scripted("second", fail=ProviderError("HTTP 503"))  # no Retry-After
    readings, error = await chain(first, second).fetch([A])
    assert str(error) == "HTTP 429; HTTP 503"
    assert error.retry_after is None  # the poller's own backoff, sooner than 120 s


# -- forecasts (issue 15): asked of the providers that make them, on the same guards -------


def forecasts_of(place, source, issued=NOW):
    from datetime import UTC, datetime

    from weatherstream.forecasts import Forecast, Forecasts, hourly_item

    at = datetime.fromtimestamp(issued, UTC)
    hourly = Forecast(
        kind="hourly", issued_at=at, source=source, items=(hourly_item(at, temperature=place.latitude),)
    )
    return Forecasts(source=source, kinds={"hourly": hourly})


class Forecaster(Scripted):
    """A Scripted provider that also makes forecasts, as told; its forecast requests cost
    ``weight`` calls a place."""

    forecasts = True

    def __init__(self, name, *, weight=2.0, gate=None, forecast_rhythm=None, **kwargs):
        super().__init__(name, **kwargs)
        self.weight = weight
        self.gate = gate  # what forecast_gate answers, or an exception it raises
        self.gate_asked = []
        self.forecast_rhythm = forecast_rhythm
        self.forecast_asked = []
        self.rhythm_asked = []

    def forecast_calls(self, count):
        return count * self.weight

    async def fetch_forecasts(self, places):
        self.forecast_asked.append([p.id for p in places])
        if self.fail is not None:
            raise self.fail
        return [None if p.id in self.nothing else forecasts_of(p, self.name) for p in places]

    async def forecast_gate(self, places):
        self.gate_asked.append([p.id for p in places])
        if isinstance(self.gate, BaseException):
            raise self.gate
        return dict(self.gate or {})

    def forecast_new_data_at(self, place, forecasts):
        self.rhythm_asked.append((place, forecasts))
        return self.forecast_rhythm


class Offline(Forecaster):
    """The offline fallback (as the simulated provider): simulated readings and forecasts."""

    real, simulates = False, True

    def __init__(self, *, forecasts=True):
        super().__init__("simulated")
        self.forecasts = forecasts


async def test_forecasts_are_asked_only_of_the_providers_that_make_them():
    readings_only, forecaster = Scripted("custom"), Forecaster("forecaster")
    links = chain(readings_only, forecaster)
    results, error = await links.fetch([A, B], FORECASTS)
    assert error is None
    assert [r.source for r in results] == ["forecaster", "forecaster"]
    assert all(isinstance(r, Forecasts) for r in results)
    assert readings_only.asked == [], "a provider without forecasts makes no request"
    assert forecaster.forecast_asked == [["a", "b"]] and forecaster.asked == []
    assert links.first.requests == 0 and links.upstreams[1].requests == 1
    readings, _ = await links.fetch([A])  # readings still go to the first
    assert readings[0].source == "custom" and forecaster.asked == []


async def test_forecasts_the_first_forecaster_fails_go_to_the_next_that_makes_them():
    first = Forecaster("first", fail=ProviderError("HTTP 503"))
    links = chain(first, Scripted("custom"), Forecaster("third", nothing={"b"}))
    results, error = await links.fetch([A, B], FORECASTS)
    assert results[0].source == "third" and results[1] is None
    assert str(error) == "HTTP 503", "what left b without a forecast"
    assert first.forecast_asked == [["a", "b"]] and links.upstreams[2].provider.forecast_asked == [["a", "b"]]
    assert links.upstreams[1].provider.asked == []


async def test_a_chain_without_a_forecasting_upstream_asks_nobody_for_forecasts():
    custom = Scripted("custom")
    results, error = await chain(custom).fetch([A, B], FORECASTS)
    assert results == [None, None] and error is None
    assert custom.asked == []


async def test_forecast_requests_spend_the_budget_with_their_own_weight():
    clock = FakeClock(0.0)
    budget = CallBudget({"minute": 10}, clock=clock)
    forecaster = Forecaster("weighted", weight=2.5)
    upstream = Upstream(forecaster, budget=budget)
    await upstream.fetch([A, B, A], FORECASTS)  # 3 places x 2.5 calls
    assert budget.remaining() == {"minute": pytest.approx(2.5)}
    await upstream.fetch([A], "readings")  # a reading costs the provider's calls(): 1
    assert budget.remaining() == {"minute": pytest.approx(1.5)}
    with pytest.raises(ProviderError, match="budget"):
        await upstream.fetch([A], FORECASTS)  # 2.5 more would exceed 10
    assert forecaster.forecast_asked == [["a", "b", "a"]]
    assert upstream.calls(4, FORECASTS) == 10.0 and upstream.calls(4) == 4.0


async def test_forecast_calls_are_counted_in_the_providers_metrics_with_their_weight():
    name = f"forecast-calls-{uuid.uuid4().hex}"
    upstream = Upstream(Forecaster(name, weight=2.0))
    await upstream.fetch([A, B], FORECASTS)
    assert metrics.UPSTREAM_CALLS.labels(name)._value.get() == 4.0
    assert outcomes(name) == {"ok": 1, "error": 0, "refused": 0}


async def test_a_spent_budget_sends_forecasts_to_the_next_forecaster_without_calling_the_first():
    clock = FakeClock(0.0)
    first, second = Forecaster("first", weight=2.0), Forecaster("second")
    links = chain(first, second, clock=clock, first={"budget": CallBudget({"minute": 5}, clock=clock)})
    results, _ = await links.fetch([A, B], FORECASTS)  # 4 calls of 5
    assert [r.source for r in results] == ["first", "first"]
    results, _ = await links.fetch([A], FORECASTS)  # 2 more would be 6
    assert [r.source for r in results] == ["second"] and first.forecast_asked == [["a", "b"]]


def test_upstream_stretch_of_forecasts_uses_their_weight():
    budget = CallBudget({"day": 10000})
    upstream = Upstream(Forecaster("w", weight=2.0), budget=budget)
    assert upstream.stretch(500, FORECASTS) == pytest.approx(1000 * 86400 / (10000 - 1000))
    assert upstream.stretch(500) == pytest.approx(500 * 86400 / (10000 - 500))


async def test_offline_forecasts_are_simulated_only_while_readings_found_no_network():
    clock = FakeClock(0.0)
    down = Forecaster("open-meteo", fail=UpstreamUnreachable("no route"))
    offline = Offline()
    links = Chain([Upstream(down)], offline=offline, reprobe_after=300, clock=clock)
    [result], error = await links.fetch([A], FORECASTS)  # the network's state is not its to decide
    assert result is None and "no route" in str(error) and not links.degraded
    assert offline.forecast_asked == []
    [reading], _ = await links.fetch([A])  # readings find no network: the chain is offline
    assert reading.source == "simulated" and links.degraded
    clock.now = 100
    [result], error = await links.fetch([A], FORECASTS)
    assert result.source == "simulated" and error is None
    assert offline.forecast_asked == [["a"]] and len(down.forecast_asked) == 1  # not asked again
    down.fail = None
    clock.now = 300
    [reading], _ = await links.fetch([A])  # the re-probe finds it back
    assert reading.source == "open-meteo" and not links.degraded
    [result], _ = await links.fetch([A], FORECASTS)
    assert result.source == "open-meteo" and len(offline.forecast_asked) == 1


async def test_an_error_answer_to_a_forecast_request_is_not_replaced_by_simulated_forecasts():
    offline = Offline()
    links = Chain([Upstream(Forecaster("open-meteo", fail=ProviderError("HTTP 503")))], offline=offline)
    [result], error = await links.fetch([A], FORECASTS)
    assert result is None and str(error) == "HTTP 503"
    assert offline.forecast_asked == [] and not links.degraded


async def test_a_second_real_forecaster_serves_before_any_simulated_forecast():
    offline = Offline()
    links = Chain(
        [
            Upstream(Forecaster("open-meteo", fail=UpstreamUnreachable("no route"))),
            Upstream(Forecaster("met")),
        ],
        offline=offline,
    )
    [result], error = await links.fetch([A], FORECASTS)
    assert result.source == "met" and error is None and not links.degraded
    assert offline.forecast_asked == []


async def test_an_offline_fallback_without_forecasts_serves_none():
    clock = FakeClock(0.0)
    offline = Offline(forecasts=False)
    links = Chain(
        [Upstream(Forecaster("open-meteo", fail=UpstreamUnreachable("no route")))],
        offline=offline,
        reprobe_after=300,
        clock=clock,
    )
    [result], error = await links.fetch([A], FORECASTS)
    assert result is None and "no route" in str(error)
    assert offline.forecast_asked == []
    [reading], _ = await links.fetch([A])  # readings still fall back
    assert reading.source == "simulated" and links.degraded
    [result], error = await links.fetch([A], FORECASTS)  # while offline: the upstream is asked
    assert result is None and "no route" in str(error) and offline.forecast_asked == []


async def test_while_offline_forecasts_are_simulated_without_asking_the_upstream():
    clock = FakeClock(0.0)
    down = Forecaster("open-meteo", fail=UpstreamUnreachable("no route"))
    offline = Offline()
    links = Chain([Upstream(down)], offline=offline, reprobe_after=300, clock=clock)
    await links.fetch([A])  # readings found the network down
    assert links.degraded and down.asked == [["a"]]
    [result], error = await links.fetch([B], FORECASTS)
    assert result.source == "simulated" and error is None
    assert down.forecast_asked == [], "within the re-probe period: not asked"


async def test_a_forecast_fetch_does_not_take_readings_offline_while_their_upstream_answers():
    clock = FakeClock(0.0)
    custom = Scripted("custom")  # reachable, makes no forecasts
    down = Forecaster("open-meteo", fail=UpstreamUnreachable("no route"))
    links = Chain([Upstream(custom), Upstream(down)], offline=Offline(), reprobe_after=300, clock=clock)
    [result], _ = await links.fetch([A], FORECASTS)
    assert result is None or result.source == "simulated"
    [reading], error = await links.fetch([A])
    # The forecast fetch found its only forecaster unreachable; the network's state is the
    # readings' to decide: readings still come from "custom", which answers.
    assert reading.source == "custom" and error is None
    assert custom.asked == [["a"]]


async def test_a_chain_with_an_offline_fallback_but_no_forecaster_does_not_crash_on_forecasts():
    custom = Scripted("custom")
    links = Chain([Upstream(custom)], offline=Offline())
    # No upstream is asked and no error collected: nothing, no crash.
    results, error = await links.fetch([A, B], FORECASTS)
    assert error is None and custom.asked == []
    assert all(r is None or r.source == "simulated" for r in results)


# Forecasting: a chain asked for forecasts, as the forecast poller's fetcher.


def test_forecasting_is_enabled_when_some_provider_makes_forecasts():
    assert not Forecasting(chain(Scripted("custom"))).enabled
    assert not Forecasting(Chain([Upstream(Scripted("custom"))], offline=Offline())).enabled, (
        "the offline fallback alone makes none"
    )
    forecasting = Forecasting(chain(Scripted("custom"), Forecaster("f")))
    assert forecasting.enabled and [p.name for p in forecasting.providers] == ["f"]


def test_forecasting_batches_as_its_biggest_forecasting_provider():
    forecasting = Forecasting(
        chain(Scripted("custom", max_batch=500), Forecaster("a", max_batch=1), Forecaster("b", max_batch=50))
    )
    assert forecasting.max_batch == 50
    assert Forecasting(chain(Scripted("custom", max_batch=500))).max_batch == 1
    assert forecasting.resolution == FORECAST_SPACING == 3600.0


def test_forecasting_stretch_is_the_first_forecasters_budget_with_forecast_weights():
    custom_budget, forecast_budget = CallBudget({"day": 10000}), CallBudget({"day": 10000})
    links = chain(
        Scripted("custom"),
        Forecaster("f", weight=2.0),
        custom={"budget": custom_budget},
        f={"budget": forecast_budget},
    )
    forecasting = Forecasting(links)
    assert forecasting.stretch(500) == pytest.approx(1000 * 86400 / (10000 - 1000))
    assert links.stretch(500) == pytest.approx(500 * 86400 / (10000 - 500)), "readings: the first's"
    assert Forecasting(chain(Scripted("custom"), custom={"budget": custom_budget})).stretch(500) == 0.0
    assert Forecasting(chain(Forecaster("free"))).stretch(500) == 0.0


async def test_forecasting_counts_the_requests_and_places_of_its_chain():
    links = chain(Scripted("custom"), Forecaster("f"))
    forecasting = Forecasting(links)
    await forecasting.fetch([A, B])
    await links.fetch([A])
    assert (forecasting.requests, forecasting.fetches) == (2, 3)


async def test_forecasting_fetches_forecasts_of_the_chain():
    forecaster = Forecaster("f")
    forecasting = Forecasting(chain(Scripted("custom"), forecaster))
    results, error = await forecasting.fetch([A, B])
    assert error is None and [r.source for r in results] == ["f", "f"]
    assert forecaster.forecast_asked == [["a", "b"]] and forecaster.asked == []


async def test_forecasting_gate_is_the_first_forecasting_providers():
    first, second = Forecaster("first", gate={"a": 120.0}), Forecaster("second", gate={"b": 1.0})
    forecasting = Forecasting(chain(Scripted("custom"), first, second))
    assert await forecasting.gate([A, B]) == {"a": 120.0}
    assert first.gate_asked == [["a", "b"]] and second.gate_asked == []
    assert await forecasting.gate([]) == {} and first.gate_asked == [["a", "b"]], "nothing to ask"
    assert await Forecasting(chain(Scripted("custom"))).gate([A]) == {}


async def test_a_failing_forecast_gate_gates_nothing_and_is_logged(caplog):
    first = Forecaster("first", gate=RuntimeError("metadata API down"))
    forecasting = Forecasting(chain(first))
    with caplog.at_level(logging.ERROR, logger="weatherstream.upstream"):
        assert await forecasting.gate([A, B]) == {}
    [record] = caplog.records
    assert record.getMessage() == "first: forecast_gate failed" and record.exc_info[0] is RuntimeError


async def test_readings_are_never_gated():
    assert await chain(Forecaster("f", gate={"a": 60.0})).gate([A]) == {}


async def test_forecasting_new_data_at_asks_the_provider_of_the_results_source():
    first = Forecaster("first", fail=ProviderError("down"), forecast_rhythm=100.0)
    second = Forecaster("second", forecast_rhythm=200.0)
    forecasting = Forecasting(chain(first, second))
    [result], _ = await forecasting.fetch([A])
    assert result.source == "second"
    assert forecasting.new_data_at(A, result) == 200.0
    assert second.rhythm_asked == [(A, result)] and first.rhythm_asked == []
    first.fail = None
    [result], _ = await forecasting.fetch([A])
    assert forecasting.new_data_at(A, result) == 100.0 and first.rhythm_asked == [(A, result)]
    assert forecasting.new_data_at(A, forecasts_of(A, "unknown")) is None


async def test_forecasting_new_data_at_of_a_simulated_forecast_asks_the_offline_provider():
    offline = Offline()
    offline.forecast_rhythm = 300.0
    links = Chain([Upstream(Forecaster("open-meteo", fail=UpstreamUnreachable("x")))], offline=offline)
    forecasting = Forecasting(links)
    await links.fetch([A])  # readings find no network
    [result], _ = await forecasting.fetch([A])
    assert result.source == "simulated" and forecasting.new_data_at(A, result) == 300.0


async def test_a_forecast_of_the_first_forecaster_is_not_hurried_back_to_a_provider_without_forecasts():
    forecaster = Forecaster("f")
    forecasting = Forecasting(chain(Scripted("custom"), forecaster))
    [result], _ = await forecasting.fetch([A])
    # Measured against the first provider that makes forecasts, not the chain's first
    # ("custom", which makes none): not a fallback's forecast, no hurry.
    assert forecasting.first_again_in(result) is None
