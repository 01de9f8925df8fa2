import asyncio

import pytest

from tests.clock import FakeClock
from weatherstream.breaker import CircuitBreaker
from weatherstream.budget import CallBudget
from weatherstream.poller import Poller
from weatherstream.providers import Place, ProviderError, WeatherProvider
from weatherstream.providers.simulated import simulate

A = Place("a", 52.5, 13.4)
B = Place("b", 48.1, 11.6)


class CountingProvider(WeatherProvider):
    name = "counting"
    max_batch = 10

    def __init__(self, delay=0.0, fail=False):
        self.batches = []
        self.delay = delay
        self.fail = fail
        self.now = 1_790_000_000.0

    async def fetch(self, places):
        self.batches.append([p.id for p in places])
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ProviderError("down", retry_after=None)
        return [simulate(p.latitude, p.longitude, self.now) for p in places]


def make(provider, demand, clock=None, interval=10, **guards):
    delivered = []

    async def deliver(results, error):
        delivered.append((results, error))

    poller = Poller(
        provider=provider,
        interval=interval,
        demand=lambda: demand,
        deliver=deliver,
        clock=clock or FakeClock(),
        **guards,
    )
    return poller, delivered


async def test_concurrent_fetches_of_one_place_share_one_request():
    provider = CountingProvider(delay=0.05)
    poller, delivered = make(provider, [])
    results = await asyncio.gather(*(poller.fetch([A]) for _ in range(50)))
    assert provider.batches == [["a"]]
    assert len({id(r["a"]) for r in results}) == 1
    assert len(delivered) == 1


async def test_due_places_go_out_in_one_batch_then_wait_an_interval():
    provider = CountingProvider()
    clock = FakeClock()
    poller, delivered = make(provider, [A, B], clock)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.05)
    assert provider.batches == [["a", "b"]]
    # Nothing is due before the interval has passed, however often the poller wakes.
    for _ in range(5):
        poller._wake.set()
        await asyncio.sleep(0.01)
    assert len(provider.batches) == 1
    clock.now = 10.0
    poller._wake.set()
    await asyncio.sleep(0.05)
    assert provider.batches == [["a", "b"], ["a", "b"]]
    task.cancel()


async def test_request_fetches_a_new_place_at_once():
    provider = CountingProvider()
    demand = [A]
    clock = FakeClock()
    poller, _ = make(provider, demand, clock)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    demand.append(B)
    poller.request("b")
    await asyncio.sleep(0.02)
    assert provider.batches == [["a"], ["b"]]
    task.cancel()


async def test_places_not_demanded_are_not_fetched():
    provider = CountingProvider()
    demand = [A, B]
    clock = FakeClock()
    poller, _ = make(provider, demand, clock)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    demand.remove(B)
    clock.now = 10
    poller._wake.set()
    await asyncio.sleep(0.02)
    assert provider.batches == [["a", "b"], ["a"]]
    task.cancel()


async def test_failures_are_delivered_and_retried_with_backoff(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)
    provider = CountingProvider(fail=True)
    clock = FakeClock()
    poller, delivered = make(provider, [A], clock, interval=30)
    await poller.fetch([A])
    results, error = delivered[0]
    assert isinstance(error, ProviderError) and results == [(A, None)]
    assert poller._next_due["a"] == pytest.approx(5.0)  # first retry after RETRY_BASE
    await poller.fetch([A])
    assert poller._next_due["a"] == pytest.approx(10.0)  # doubled
    await poller.fetch([A])
    assert poller._next_due["a"] == pytest.approx(20.0)  # doubled again
    await poller.fetch([A])
    assert poller._next_due["a"] == pytest.approx(30.0)  # capped at the interval
    provider.fail = False
    await poller.fetch([A])
    assert poller._next_due["a"] == pytest.approx(30.0) and "a" not in poller._failures


async def test_retry_after_is_honoured():
    class Limited(CountingProvider):
        async def fetch(self, places):
            raise ProviderError("HTTP 429", retry_after=120)

    poller, _ = make(Limited(), [A])
    await poller.fetch([A])
    assert poller._next_due["a"] >= 120


async def test_batches_respect_max_batch():
    provider = CountingProvider()
    provider.max_batch = 2
    places = [Place(str(i), i, i) for i in range(5)]
    poller, _ = make(provider, places)
    await poller.fetch(places)
    assert sorted(len(b) for b in provider.batches) == [1, 2, 2]


async def test_a_provider_bug_backs_off_instead_of_spinning(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)

    class Buggy(CountingProvider):
        async def fetch(self, places):
            self.batches.append([p.id for p in places])
            raise AttributeError("'list' object has no attribute 'get'")

    provider = Buggy()
    poller, delivered = make(provider, [A])
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.2)
    task.cancel()
    assert len(provider.batches) == 1  # retried only after RETRY_BASE seconds
    assert isinstance(delivered[0][1], ProviderError)
    assert poller._next_due["a"] == pytest.approx(5.0)


async def test_a_wrong_number_of_readings_is_a_failure():
    class Short(CountingProvider):
        async def fetch(self, places):
            return []

    poller, delivered = make(Short(), [A, B])
    await poller.fetch([A, B])
    assert isinstance(delivered[0][1], ProviderError)


async def test_no_busy_loop_while_another_caller_fetches_a_due_place():
    provider = CountingProvider(delay=0.3)
    clock = FakeClock()
    poller, _ = make(provider, [A], clock)
    turns = 0
    real_demand = poller.demand

    def counting_demand():
        nonlocal turns
        turns += 1
        return real_demand()

    poller.demand = counting_demand
    outside = asyncio.create_task(poller.fetch([A]))  # e.g. the HTTP API
    await asyncio.sleep(0)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.2)
    assert turns < 5, turns
    await outside
    await asyncio.sleep(0.05)
    task.cancel()
    assert provider.batches == [["a"]]  # the run loop did not fetch it again


async def test_an_open_circuit_stops_calls_then_one_probe_closes_it():
    provider = CountingProvider(fail=True)
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=60, clock=clock)
    poller, delivered = make(provider, [A], clock, interval=30, breaker=breaker)
    for _ in range(3):
        await poller.fetch([A])
    assert len(provider.batches) == 3 and breaker.state == "open"
    await poller.fetch([A])  # refused without calling the upstream
    assert len(provider.batches) == 3
    results, error = delivered[-1]
    assert "circuit open" in str(error) and results == [(A, None)]  # subscribers go stale
    assert poller._next_due["a"] >= breaker.retry_in() == 2, "retried no sooner than the probe"
    clock.now = 60
    provider.fail = False
    await poller.fetch([A])  # the probe
    assert len(provider.batches) == 4 and breaker.state == "closed"
    assert delivered[-1][1] is None and delivered[-1][0][0][1] is not None


async def test_a_spent_budget_refuses_without_calling_the_upstream():
    provider = CountingProvider()
    clock = FakeClock()
    budget = CallBudget({"minute": 3}, clock=clock)
    poller, delivered = make(provider, [A, B], clock, budget=budget)
    await poller.fetch([A, B])
    await poller.fetch([A, B])  # 2 + 2 > 3
    assert provider.batches == [["a", "b"]]
    assert "budget" in str(delivered[-1][1])
    assert poller._next_due["a"] >= 60
    clock.now = 60
    await poller.fetch([A, B])
    assert provider.batches == [["a", "b"], ["a", "b"]]
