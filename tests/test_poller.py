import asyncio
import time

import pytest

from tests.clock import FakeClock
from weatherstream.breaker import CircuitBreaker
from weatherstream.budget import CallBudget
from weatherstream.places import Place
from weatherstream.poller import RETRY_BASE, RHYTHM_CEILING, Poller
from weatherstream.providers import ProviderError, WeatherProvider
from weatherstream.providers.simulated import simulate
from weatherstream.upstream import Chain, Upstream

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
    assert poller.due_in("a") == pytest.approx(5.0) and poller.failures("a") == 1  # after RETRY_BASE
    await poller.fetch([A])
    assert poller.due_in("a") == pytest.approx(10.0)  # doubled
    await poller.fetch([A])
    assert poller.due_in("a") == pytest.approx(20.0)  # doubled again
    await poller.fetch([A])
    assert poller.due_in("a") == pytest.approx(30.0) and poller.failures("a") == 4  # capped at the interval
    provider.fail = False
    await poller.fetch([A])
    assert poller.due_in("a") == pytest.approx(30.0) and poller.failures("a") == 0


async def test_retry_after_is_honoured():
    class Limited(CountingProvider):
        async def fetch(self, places):
            raise ProviderError("HTTP 429", retry_after=120)

    poller, _ = make(Limited(), [A])
    await poller.fetch([A])
    assert poller.due_in("a") >= 120


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
    assert poller.due_in("a") == pytest.approx(5.0)


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
    assert "counting: circuit open" in str(error) and results == [(A, None)]  # subscribers go stale
    assert poller.due_in("a") >= breaker.retry_in() == 2, "retried no sooner than the probe"
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
    assert poller.due_in("a") >= 60
    clock.now = 60
    await poller.fetch([A, B])
    assert provider.batches == [["a", "b"], ["a", "b"]]


# -- found by mutation testing (docs/testing.md) ---------------------------------------

from weatherstream import metrics  # noqa: E402


class FakeSchedule:
    """A shared schedule: ``skip`` (ids -> seconds until due) answers every claim; None
    answers "fetch nothing"; an exception stands for the shared store being down."""

    def __init__(self, skip=(), fail=None):
        self.skip = None if skip is None else dict(skip)
        self.fail = fail
        self.claims = []
        self.rescheduled = []

    async def claim(self, ids, interval):
        self.claims.append((list(ids), interval))
        if self.fail is not None:
            raise self.fail
        return self.skip

    async def reschedule(self, delays):
        self.rescheduled.append(delays)


async def turn(poller):
    """Let the run loop take one turn (it is woken, reads demand, fetches what is due)."""
    poller._wake.set()
    await asyncio.sleep(0.02)


async def test_a_shared_schedule_fetches_only_the_places_no_other_poller_fetched():
    provider = CountingProvider()
    clock = FakeClock(100.0)
    schedule = FakeSchedule(skip={"b": 7.0})
    poller, delivered = make(provider, [A, B], clock, interval=30, schedule=schedule)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert schedule.claims == [(["a", "b"], 30)]
    assert provider.batches == [["a"]]
    assert (poller.due_in("a"), poller.due_in("b")) == (30.0, 7.0)  # b: when the other poller's is due
    assert schedule.rescheduled == [{"a": 30.0}]  # when a is really due, for every poller
    assert [place for place, _ in delivered[0][0]] == [A]


@pytest.mark.parametrize("answer", [None, ConnectionError("redis down")])
async def test_without_a_claim_nothing_is_fetched_and_it_is_asked_again_within_a_second(answer):
    provider = CountingProvider()
    clock = FakeClock(100.0)
    if answer is None:
        schedule = FakeSchedule(skip=None)
    else:
        schedule = FakeSchedule(fail=answer)
    poller, delivered = make(provider, [A, B], clock, interval=30, schedule=schedule)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert provider.batches == [] and delivered == []
    assert (poller.due_in("a"), poller.due_in("b")) == (1.0, 1.0)


async def test_without_a_claim_a_short_interval_is_kept():
    schedule = FakeSchedule(skip=None)
    poller, _ = make(CountingProvider(), [A], FakeClock(100.0), interval=0.25, schedule=schedule)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert poller.due_in("a") == 0.25


async def test_failed_places_are_rescheduled_in_the_shared_schedule(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)

    class Partial(CountingProvider):
        async def fetch(self, places):
            self.batches.append([p.id for p in places])
            return [simulate(A.latitude, A.longitude, self.now) if p is A else None for p in places]

    clock = FakeClock(100.0)
    schedule = FakeSchedule()
    poller, delivered = make(Partial(), [A, B], clock, interval=30, schedule=schedule)
    await poller.fetch([A, B])
    assert schedule.rescheduled == [{"a": 30.0, "b": 5.0}]  # b: due again after the first retry wait
    assert delivered[0][1] is None and delivered[0][0][0][1] is not None and delivered[0][0][1] == (B, None)
    assert (poller.due_in("a"), poller.due_in("b")) == (30.0, 5.0)
    provider = CountingProvider(fail=True)
    poller, _ = make(provider, [A, B], clock, interval=30, schedule=schedule)
    await poller.fetch([A, B])
    assert schedule.rescheduled[-1] == {"a": 5.0, "b": 5.0}


async def test_a_failing_reschedule_still_delivers(caplog):
    class Down(FakeSchedule):
        async def reschedule(self, delays):
            raise ConnectionError("redis down")

    poller, delivered = make(CountingProvider(fail=True), [A], schedule=Down())
    await poller.fetch([A])
    assert len(delivered) == 1 and isinstance(delivered[0][1], ProviderError)


async def test_a_cancelled_fetch_keeps_its_slots():
    # The request may have reached the upstream: giving the slots back would let the next
    # leader fetch the same places again at once (the double fetch seen at a handover).
    schedule = FakeSchedule()
    poller, delivered = make(CountingProvider(delay=10), [A, B], schedule=schedule)
    fetch = asyncio.create_task(poller.fetch([A, B]))
    await asyncio.sleep(0.02)
    fetch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(fetch, 5)
    assert schedule.rescheduled == []
    assert delivered == [] and poller._inflight == {}


async def test_counts_requests_and_fetched_places_and_returns_the_readings():
    provider = CountingProvider()
    provider.max_batch = 2
    places = [Place(str(i), i, i) for i in range(3)]
    poller, delivered = make(provider, places)
    assert poller.requests == 0 and poller.fetches == 0
    got = await poller.fetch(places)
    assert poller.requests == 2 and poller.fetches == 3
    assert got == {p.id: r for results, _ in delivered for p, r in results}
    assert all(reading is not None for reading in got.values())
    await poller.fetch(places[:1])
    assert poller.requests == 3 and poller.fetches == 4


async def test_a_place_without_a_usable_reading_is_retried_like_a_failure(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)

    class Empty(CountingProvider):
        async def fetch(self, places):
            return [None for _ in places]

    poller, delivered = make(Empty(), [A], FakeClock(100.0), interval=30)
    await poller.fetch([A])
    assert delivered == [([(A, None)], None)]
    assert poller.due_in("a") == 5.0 and poller.failures("a") == 1


async def test_the_retry_wait_is_jittered_down_to_half_and_never_below_the_interval(monkeypatch):
    asked = []

    def lowest(a, b):
        asked.append((a, b))
        return a

    monkeypatch.setattr("random.uniform", lowest)
    clock = FakeClock(100.0)
    poller, _ = make(CountingProvider(fail=True), [A], clock, interval=30)
    await poller.fetch([A])
    assert asked == [(0.5, 1.0)] and poller.due_in("a") == 2.5
    poller, _ = make(CountingProvider(fail=True), [A], clock, interval=0.5)
    await poller.fetch([A])
    assert poller.due_in("a") == 0.25  # min(interval, RETRY_BASE) jittered, no floor


async def test_an_unexpected_provider_error_is_named_in_the_delivered_error():
    class Buggy(CountingProvider):
        async def fetch(self, places):
            raise KeyError("current")

    poller, delivered = make(Buggy(), [A])
    await poller.fetch([A])
    assert str(delivered[0][1]) == "KeyError: 'current'"


async def test_a_wrong_number_of_readings_says_how_many():
    class Short(CountingProvider):
        async def fetch(self, places):
            return []

    poller, delivered = make(Short(), [A, B])
    await poller.fetch([A, B])
    assert str(delivered[0][1]) == "0 readings for 2 locations"


async def test_refusals_carry_when_to_retry():
    provider = CountingProvider()
    clock = FakeClock(0.0)
    budget = CallBudget({"minute": 3}, clock=clock)
    poller, delivered = make(provider, [A, B], clock, budget=budget)
    await poller.fetch([A, B])
    clock.now = 59.5
    await poller.fetch([A, B])  # half a second before the first two calls leave the window
    assert delivered[-1][1].retry_after == 0.5 and len(provider.batches) == 1
    clock.now = 60.0  # the window is empty again
    four = [Place(str(i), i, i) for i in range(4)]
    await poller.fetch(four)  # more than the budget ever allows at once
    assert (
        str(delivered[-1][1])
        == "counting: a batch of 4 locations is more than its call budget allows at once"
    )
    breaker = CircuitBreaker(threshold=1, cooldown=60, clock=clock)
    poller, delivered = make(CountingProvider(fail=True), [A], clock, breaker=breaker)
    await poller.fetch([A])
    await poller.fetch([A])
    assert str(delivered[-1][1]).startswith("counting: circuit open") and delivered[-1][1].retry_after == 2.0


async def test_the_run_loop_wakes_by_itself_when_the_next_place_is_due():
    provider = CountingProvider()
    poller, _ = make(provider, [A], clock=time.monotonic, interval=0.1)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.5)
    task.cancel()
    assert 2 <= len(provider.batches) <= 6, provider.batches  # at 0, 0.1, 0.2, ... s


async def test_the_run_loop_survives_a_turn_with_nothing_to_fetch():
    provider = CountingProvider()
    demand = []
    poller, _ = make(provider, demand)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    demand.append(A)
    poller.request("a")
    await asyncio.sleep(0.02)
    task.cancel()
    assert provider.batches == [["a"]]


async def test_no_busy_loop_while_a_place_past_its_due_time_is_being_fetched():
    provider = CountingProvider()
    clock = FakeClock()
    poller, _ = make(provider, [A], clock)
    await poller.fetch([A])  # due again at 10
    clock.now = 10.0
    provider.delay = 0.3
    outside = asyncio.create_task(poller.fetch([A]))
    await asyncio.sleep(0)
    turns = 0
    real_demand = poller.demand

    def counting_demand():
        nonlocal turns
        turns += 1
        return real_demand()

    poller.demand = counting_demand
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.2)
    assert turns < 5, turns
    await outside
    task.cancel()


async def test_a_place_no_longer_watched_starts_its_backoff_afresh(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)
    provider = CountingProvider(fail=True)
    demand = [A]
    clock = FakeClock()
    poller, _ = make(provider, demand, clock, interval=30)
    await poller.fetch([A])
    await poller.fetch([A])
    assert poller.failures("a") == 2
    demand.clear()
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert poller.failures("a") == 0 and poller.due_in("a") is None


async def test_the_lag_gauge_says_how_late_the_most_overdue_place_is():
    provider = CountingProvider(delay=0.2)  # the gauge is read while a turn's fetch is under way
    demand = [A]
    clock = FakeClock(0.0)
    poller, _ = make(provider, demand, clock, interval=0.5)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    assert metrics.POLLER_LAG._value.get() == 0.0  # a new place is not late
    await asyncio.sleep(0.3)
    clock.now = 2.0  # a was due at 0.5
    demand.append(B)  # never fetched: not late either
    await turn(poller)
    assert metrics.POLLER_LAG._value.get() == 1.5
    await asyncio.sleep(0.3)
    clock.now = 2.25  # a and b are due at 2.5
    demand.append(Place("c", 1.0, 1.0))  # new: not late
    await turn(poller)
    assert metrics.POLLER_LAG._value.get() == 0.0
    task.cancel()


async def test_the_run_loop_ends_when_cancelled_just_as_it_is_woken():
    # Python 3.11's wait_for (with a timeout) returned normally when a cancellation met an
    # event already set, and the loop went on: an engine's stop() then waited forever.
    for settle in range(3):
        provider = CountingProvider()
        poller, _ = make(provider, [A], FakeClock())
        task = asyncio.create_task(poller.run())
        async with asyncio.timeout(5):
            while not provider.batches:  # A fetched: the loop now waits, with a timeout
                await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        poller._wake.set()
        for _ in range(settle):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled(), settle


# -- when a place is due: the upstream's rhythm, the call budget --------------------------


class Rhythmic(CountingProvider):
    """Says when its upstream has something new: ``at`` seconds of wall time."""

    name = "simulated"  # the source of its readings: the chain asks the provider by it

    def __init__(self, at):
        super().__init__()
        self.at = at

    def new_data_at(self, place, reading):
        return self.at


async def test_a_place_is_due_when_its_upstream_has_something_new():
    clock, wall = FakeClock(0.0), FakeClock(1_000.0)
    provider = Rhythmic(at=1_300.0)
    poller = rhythmic([A], clock, wall, provider=provider)
    await poller.fetch([A])
    assert poller.due_in("a") == 300.0  # when the upstream's next value is there, not an interval on
    provider.at = 1_010.0  # new data sooner than the spacing allows: the spacing holds
    await poller.fetch([A])
    assert poller.due_in("a") == 60.0
    provider.at = None  # no rhythm known: every interval
    await poller.fetch([A])
    assert poller.due_in("a") == 900.0


async def noop(results, error):
    pass


def rhythmic(demand, clock, wall, **source):
    """A poller of a provider (or chain) that says when its upstream has something new:
    every 900 s at most, 60 s apart at least."""
    return Poller(
        interval=900, spacing=60, demand=lambda: demand, deliver=noop, clock=clock, wall=wall, **source
    )


class Weighted(CountingProvider):
    """Counts calls as Open-Meteo does for 11 variables, and logs when each went out."""

    max_batch = 50

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.sent = []  # (time, calls)
        self.per_place = {}

    def calls(self, count):
        return count * 1.1

    async def fetch(self, places):
        self.sent.append((self.clock(), self.calls(len(places))))
        for p in places:
            self.per_place.setdefault(p.id, []).append(self.clock())
        return await super().fetch(places)


def budgeted(provider, places, clock, limits, **more):
    """A poller of ``places`` every 900 s at most, within a call budget of ``limits``."""
    budget = CallBudget(limits, clock=clock)
    return Poller(
        provider=provider,
        interval=900,
        demand=lambda: places,
        deliver=noop,
        clock=clock,
        budget=budget,
        **more,
    )


async def run_until(poller, clock, places, end):
    """Run the poller on a fake clock: jump to each next due time until ``end``."""
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(100_000):  # a bound, not a wait: each step moves the clock forward
            for _ in range(50):
                await asyncio.sleep(0)
            nxt = clock.now + min(poller.due_in(p.id) for p in places)
            if nxt > end:
                return
            clock.now = max(clock.now, nxt)
            poller._wake.set()
        raise AssertionError("the poller never got past the end")
    finally:
        task.cancel()


def most_in_any_window(sent, period):
    """The most calls spent within any span of ``period`` seconds (windows open at a call)."""
    return max(sum(c for t, c in sent if start <= t < start + period) for start, _ in sent)


async def test_a_simulated_day_of_500_places_on_the_free_tier():
    clock = FakeClock(0.0)
    provider = Weighted(clock)
    places = [Place(f"p{i}", i / 10, i / 10) for i in range(500)]
    free = {"minute": 600, "hour": 5000, "day": 10000}
    poller = budgeted(provider, places, clock, free)
    await run_until(poller, clock, places, end=86_400.0)
    # 500 places x 1.1 calls: 18 rounds fit 10,000 a day (a day's window holds the rounds
    # at both its ends), one every 86,400 x 550 / 9,450 s: stretched evenly for all.
    interval = 86_400 * 550 / 9_450
    assert poller.effective_interval == pytest.approx(interval)
    rounds = {pid: len(times) for pid, times in provider.per_place.items()}
    assert set(rounds) == {p.id for p in places}, "nobody starved"
    assert set(rounds.values()) == {18}  # every place at the same pace
    gaps = {round(b - a, 6) for times in provider.per_place.values() for a, b in zip(times, times[1:])}
    assert gaps == {round(interval, 6)}
    for period, limit in ((60, 600), (3600, 5000), (86_400, 10_000)):
        assert most_in_any_window(provider.sent, period) <= limit + 1e-9, period


async def test_when_the_budget_runs_short_the_most_watched_places_go_first():
    clock = FakeClock(0.0)
    provider = Weighted(clock)
    places = [Place(f"p{i}", i / 10, i / 10) for i in range(200)]
    watchers = {p.id: i for i, p in enumerate(places)}  # p199 is watched most
    # one batch of 50 (55 calls) a minute
    poller = budgeted(provider, places, clock, {"minute": 100}, watchers=watchers.__getitem__)
    task = asyncio.create_task(poller.run())
    for _ in range(50):
        await asyncio.sleep(0)
    task.cancel()
    fetched = {pid for pid, times in provider.per_place.items() if times}
    assert fetched == {f"p{i}" for i in range(150, 200)}


async def test_the_effective_interval_is_a_metric():
    clock = FakeClock(0.0)
    places = [Place(f"m{i}", i, i) for i in range(100)]
    poller = budgeted(Weighted(clock), places, clock, {"day": 1100})  # 110 calls a round: 10 a day
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.01)
    task.cancel()
    assert metrics.EFFECTIVE_INTERVAL._value.get() == pytest.approx(86_400 * 110 / 990)


async def test_places_due_a_hair_apart_go_out_in_one_request():
    clock, wall = FakeClock(0.0), FakeClock(1_000.0)
    provider = Rhythmic(at=1_300.0)
    poller = rhythmic([A, B], clock, wall, provider=provider)
    await poller.fetch([A])
    clock.now, wall.now = 0.1, 1_000.1 + 1e-6  # B a moment later, the two clocks a hair apart
    await poller.fetch([B])
    assert poller.due_in("a") != poller.due_in("b")
    clock.now = 0.1 + poller.due_in("b")  # the earlier of the two
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert provider.batches[-1] == ["a", "b"]


async def test_a_turn_that_fails_puts_its_places_back_instead_of_spinning():
    class Broken(Chain):
        calls = 0

        async def fetch(self, places):
            Broken.calls += 1
            raise RuntimeError("a bug below the poller")

    clock = FakeClock(0.0)
    poller = Poller(
        chain=Broken([Upstream(CountingProvider())]),
        interval=30,
        demand=lambda: [A],
        deliver=noop,
        clock=clock,
    )
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.05)
    task.cancel()
    assert Broken.calls == 1, "the same turn was not repeated at once"
    assert poller.due_in("a") == RETRY_BASE


async def test_a_place_failing_for_days_still_backs_off_without_overflowing(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)
    poller, _ = make(CountingProvider(fail=True), [A], FakeClock(0.0), interval=30)
    poller._failures["a"] = 5000  # days of a place failing every interval
    await poller.fetch([A])
    assert poller.due_in("a") == 30  # capped at the interval, no OverflowError


async def test_an_absurd_expires_cannot_park_a_watched_place_for_good():
    clock, wall = FakeClock(0.0), FakeClock(1_000.0)
    provider = Rhythmic(at=1_000.0 + 10 * 365 * 86400)  # "expires in ten years"
    poller = rhythmic([A], clock, wall, provider=provider)
    await poller.fetch([A])
    assert poller.due_in("a") == RHYTHM_CEILING * 900


async def test_a_place_the_second_provider_served_asks_the_first_again_soon():
    clock, wall = FakeClock(0.0), FakeClock(1_000.0)

    class Second(Rhythmic):
        name = "met-norway"

        async def fetch(self, places):
            return [simulate(p.latitude, p.longitude, self.now, source=self.name) for p in places]

    first = CountingProvider(fail=True)
    second = Second(at=1_000.0 + 1800)  # the second's own next value: in 30 minutes
    chain = Chain([Upstream(first), Upstream(second)])
    poller = rhythmic([A], clock, wall, chain=chain)
    await poller.fetch([A])
    assert poller.due_in("a") == 60, "not 30 minutes: the first may be back by then"


# -- found by mutation testing, the rhythm and the guards (docs/testing.md) ------------


def test_a_poller_needs_a_chain_or_a_provider():
    with pytest.raises(TypeError, match="^Poller needs a chain or a provider$"):
        Poller(interval=10, demand=lambda: [], deliver=noop)


async def test_a_requested_place_is_due_at_once():
    poller, _ = make(CountingProvider(), [A], FakeClock(0.0))
    poller.request("a")
    assert poller.due_in("a") == 0.0


async def test_before_its_first_turn_a_poller_fetches_at_its_own_short_interval():
    poller, _ = make(CountingProvider(), [A], FakeClock(100.0), interval=0.25)
    await poller.fetch([A])  # no run() yet: nothing has stretched the interval
    assert poller.due_in("a") == 0.25


async def test_a_place_due_within_a_tenth_of_the_spacing_goes_out_with_the_turns_others():
    provider = CountingProvider()
    clock = FakeClock(0.0)
    poller, _ = make(provider, [A, B], clock, interval=5)
    await poller.fetch([A])  # due at 5
    clock.now = 0.5
    await poller.fetch([B])  # due at 5.5: exactly a tenth of the spacing after a
    clock.now = 5.0
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.02)
    task.cancel()
    assert provider.batches == [["a"], ["b"], ["a", "b"]]


class PartlyServed(CountingProvider):
    """Has a reading for every place but those in ``nothing``."""

    def __init__(self, nothing=()):
        super().__init__()
        self.nothing = set(nothing)

    async def fetch(self, places):
        readings = await super().fetch(places)
        return [None if p.id in self.nothing else r for p, r in zip(places, readings, strict=True)]


async def test_a_batch_with_some_readings_delivers_them_without_an_error(monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)
    chain = Chain([Upstream(PartlyServed(nothing={"b"})), Upstream(CountingProvider(fail=True))])
    delivered = []

    async def deliver(results, error):
        delivered.append((results, error))

    poller = Poller(chain=chain, interval=30, demand=lambda: [A, B], deliver=deliver, clock=FakeClock(0.0))
    await poller.fetch([A, B])
    [(results, error)] = delivered
    assert error is None, "a's subscribers get a's reading, not b's error"
    assert results[0][0] is A and results[0][1] is not None and results[1] == (B, None)
    assert poller.failures("b") == 1 and poller.due_in("b") == 5.0  # b retried like a failure


async def test_each_place_is_due_by_its_own_upstream_rhythm():
    class PerPlace(Rhythmic):
        def new_data_at(self, place, reading):
            return self.at[place.id]

    clock, wall = FakeClock(0.0), FakeClock(1_000.0)
    provider = PerPlace(at={"a": 1_300.0, "b": 1_600.0})
    poller = rhythmic([A, B], clock, wall, provider=provider)
    await poller.fetch([A, B])
    assert (poller.due_in("a"), poller.due_in("b")) == (300.0, 600.0)


async def test_a_failed_turn_is_logged_with_its_traceback(caplog):
    async def deliver(results, error):
        raise RuntimeError("a bug in delivery")

    poller = Poller(
        provider=CountingProvider(), interval=30, demand=lambda: [A], deliver=deliver, clock=FakeClock(0.0)
    )
    with caplog.at_level("ERROR", logger="weatherstream.poller"):
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.02)
        task.cancel()
    [record] = [r for r in caplog.records if r.name == "weatherstream.poller"]
    assert record.getMessage() == "poller turn failed"
    assert record.exc_info[0] is RuntimeError


async def test_a_failing_shared_store_is_logged_with_its_error(caplog):
    class Down(FakeSchedule):
        async def reschedule(self, delays):
            raise ConnectionError("redis down on reschedule")

    with caplog.at_level("WARNING", logger="weatherstream.poller"):
        poller, _ = make(
            CountingProvider(),
            [A],
            FakeClock(100.0),
            schedule=FakeSchedule(fail=ConnectionError("redis down")),
        )
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.02)
        task.cancel()
        poller, _ = make(CountingProvider(), [A], schedule=Down())
        await poller.fetch([A])
    messages = [r.getMessage() for r in caplog.records if r.name == "weatherstream.poller"]
    assert messages == [
        "claiming fetch slots failed: redis down",
        "recording the fetch schedule failed: redis down on reschedule",
    ]


# -- the chain's gate (issue 15: forecasts are fetched when a model run may have changed them)


class Gated(Chain):
    """A chain whose gate holds back the places in ``wait`` (id -> seconds), as told, and
    keeps what it was asked."""

    def __init__(self, provider, wait=None):
        super().__init__([Upstream(provider)])
        self.wait = dict(wait or {})
        self.gated = []

    async def gate(self, places):
        self.gated.append([p.id for p in places])
        return {p.id: self.wait[p.id] for p in places if p.id in self.wait}


C = Place("c", 50.1, 8.7)


async def test_gated_places_are_not_fetched_and_are_due_again_when_the_gate_says():
    provider = CountingProvider()
    clock = FakeClock(100.0)
    gated = Gated(provider, wait={"b": 120.0})
    poller, delivered = make(provider, [A, B, C], clock, interval=300, chain=gated)
    task = asyncio.create_task(poller.run())
    try:
        await turn(poller)
        assert gated.gated == [["a", "b", "c"]], "the gate is asked of every due place"
        assert provider.batches == [["a", "c"]], "the others in one batch"
        assert [place for place, _ in delivered[0][0]] == [A, C]
        assert (poller.due_in("a"), poller.due_in("b"), poller.due_in("c")) == (300.0, 120.0, 300.0)
        gated.wait = {}
        clock.now = 218.9  # b is not due yet (nor within a turn's coalescing second), nor a and c
        await turn(poller)
        assert len(provider.batches) == 1 and len(gated.gated) == 1
        clock.now = 220.0  # b's wait is over: the gate is asked again, and lets it through
        await turn(poller)
        assert gated.gated[-1] == ["b"] and provider.batches[-1] == ["b"]
        assert poller.due_in("b") == 300.0
    finally:
        task.cancel()


async def test_when_every_due_place_is_gated_nothing_is_fetched_or_delivered():
    provider = CountingProvider()
    clock = FakeClock(0.0)
    gated = Gated(provider, wait={"a": 600.0, "b": 300.0})
    poller, delivered = make(provider, [A, B], clock, interval=30, chain=gated)
    task = asyncio.create_task(poller.run())
    try:
        await turn(poller)
        for _ in range(3):  # woken again: nothing is due, the gate is not asked again
            await turn(poller)
        assert provider.batches == [] and delivered == []
        assert gated.gated == [["a", "b"]]
        assert (poller.due_in("a"), poller.due_in("b")) == (600.0, 300.0)
    finally:
        task.cancel()


@pytest.mark.parametrize("seconds", [0.0, -5.0, 0.2])
async def test_a_gate_saying_now_does_not_make_the_poller_spin(seconds):
    from weatherstream.poller import COALESCE

    provider = CountingProvider()
    clock = FakeClock(0.0)
    gated = Gated(provider, wait={"a": seconds})
    poller, _ = make(provider, [A], clock, interval=30, chain=gated)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.1)
        assert len(gated.gated) == 1, "asked once, not at every wake"
        assert poller.due_in("a") == COALESCE
    finally:
        task.cancel()


async def test_a_shared_schedule_and_the_gate_each_hold_back_their_places():
    provider = CountingProvider()
    clock = FakeClock(100.0)
    gated = Gated(provider, wait={"c": 60.0})
    schedule = FakeSchedule(skip={"b": 7.0})
    poller, _ = make(provider, [A, B, C], clock, interval=30, schedule=schedule, chain=gated)
    task = asyncio.create_task(poller.run())
    try:
        await turn(poller)
        assert provider.batches == [["a"]] and "c" in gated.gated[0]
        assert (poller.due_in("a"), poller.due_in("b"), poller.due_in("c")) == (30.0, 7.0, 60.0)
        assert schedule.rescheduled[0]["a"] == 30.0
    finally:
        task.cancel()


async def test_a_fetch_outside_the_run_loop_is_not_gated():
    provider = CountingProvider()
    gated = Gated(provider, wait={"a": 600.0})
    poller, _ = make(provider, [A], FakeClock(0.0), chain=gated)
    await poller.fetch([A])  # e.g. the HTTP API asking for a place nobody holds
    assert provider.batches == [["a"]] and gated.gated == []


class Slots:
    """A shared schedule as RedisLease keeps it: a claim takes the slot of each place not
    due (due = now + interval), and skips the others with the seconds until theirs."""

    def __init__(self, clock):
        self.clock = clock
        self.due = {}

    async def claim(self, ids, interval):
        now, skip = self.clock(), {}
        for pid in ids:
            if self.due.get(pid, 0.0) > now:
                skip[pid] = self.due[pid] - now
            else:
                self.due[pid] = now + interval
        return skip

    async def reschedule(self, delays):
        now = self.clock()
        for pid, delay in delays.items():
            self.due[pid] = now + delay


async def test_with_a_shared_schedule_a_gated_place_is_due_again_when_the_gate_says():
    provider = CountingProvider()
    clock = FakeClock(0.0)
    gated = Gated(provider, wait={"a": 600.0})
    poller, _ = make(provider, [A], clock, interval=3600, schedule=Slots(clock), chain=gated)
    task = asyncio.create_task(poller.run())
    try:
        await turn(poller)
        assert provider.batches == [] and poller.due_in("a") == 600.0
        gated.wait = {}  # a new model run: the place has something new
        clock.now = 600.0
        await turn(poller)
        # The gate runs before the claim: a gated place holds no slot for the whole
        # interval (3600 s), and is asked again after the gate's 600 s.
        assert provider.batches == [["a"]]
    finally:
        task.cancel()
