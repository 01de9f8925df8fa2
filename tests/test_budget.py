import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.clock import FakeClock
from weatherstream.budget import CallBudget, RedisBudget

FREE_USE = {"minute": 600, "hour": 5000, "day": 10000}


def test_the_minute_limit():
    clock = FakeClock()
    budget = CallBudget(FREE_USE, clock=clock)
    assert all(budget.take(50) for _ in range(12))  # 600 calls at once
    assert not budget.take(1)
    assert budget.wait(1) == 60
    clock.now += 59.9
    assert not budget.take(1)
    clock.now += 0.1
    assert budget.take(600) and not budget.take(1)


def test_no_day_long_span_holds_more_than_the_day_limit():
    clock = FakeClock()
    budget = CallBudget(FREE_USE, clock=clock)
    spent = []  # (time, calls)
    for _ in range(2 * 24 * 60):  # two days of one-minute steps, always asking for more
        while budget.take(10):
            spent.append((clock.now, 10))
        clock.now += 60
    for start, _ in spent:  # every window starting at a spend
        in_day = sum(c for t, c in spent if start <= t < start + 86400)
        assert in_day <= 10000
    assert sum(c for _, c in spent) == 20000  # and it does allow the limit each day


def test_wait_says_when_the_oldest_calls_leave_the_window():
    clock = FakeClock()
    budget = CallBudget({"minute": 10}, clock=clock)
    assert budget.take(4)
    clock.now = 20
    assert budget.take(6)
    clock.now = 30
    assert budget.wait(1) == 30  # the 4 from t=0 leave at t=60
    assert budget.wait(5) == 50  # 5 more need the 6 from t=20 gone too
    clock.now = 60
    assert budget.take(4) and not budget.take(1)


def test_a_refused_take_spends_nothing():
    clock = FakeClock()
    budget = CallBudget({"minute": 10, "day": 15}, clock=clock)
    assert budget.take(10)
    assert not budget.take(6)
    clock.now += 60
    assert budget.remaining() == {"minute": 10, "day": 5}
    assert not budget.take(6) and budget.take(5)


def test_unknown_period_is_refused():
    with pytest.raises(ValueError):
        CallBudget({"week": 5})


def test_unknown_periods_are_named():
    with pytest.raises(ValueError, match=r"^unknown budget period\(s\): month, week$"):
        CallBudget({"week": 5, "minute": 3, "month": 9})


def test_no_limits_allow_everything_and_keep_no_history():
    clock = FakeClock()
    budget = CallBudget({}, clock=clock)
    assert all(budget.take(1000) for _ in range(3))
    assert budget.wait(10**9) == 0 and budget.remaining() == {}
    clock.now += 0.5
    assert budget.take(1) and len(budget._spent) == 1


def test_wait_stops_at_the_oldest_calls_that_free_enough():
    clock = FakeClock()
    budget = CallBudget({"minute": 10}, clock=clock)
    assert budget.take(4)
    clock.now = 20
    assert budget.take(6)
    clock.now = 30
    assert budget.wait(4) == 30  # the 4 from t=0 are exactly enough: the 6 from t=20 may stay
    assert budget.wait(0) == 0


def test_calls_exactly_a_period_old_have_left_that_periods_window():
    clock = FakeClock()
    budget = CallBudget({"minute": 10, "hour": 100}, clock=clock)
    assert budget.take(4)
    clock.now = 30
    assert budget.take(6)
    clock.now = 60  # the 4 from t=0 no longer count for the minute
    assert budget.remaining() == {"minute": 4, "hour": 90}
    assert budget.wait(5) == 30  # so only the 6 from t=30 leaving frees enough


# -- shared in Redis: one budget for every process of a cluster ----------------------------


@pytest.fixture
async def shared(redis_server, redis_client):
    """Two budgets of one provider on one Redis: two processes of a cluster."""
    made = [RedisBudget({"minute": 10, "day": 100}, redis_server.url, name="open-meteo") for _ in range(2)]
    yield made
    for budget in made:
        await budget.storage.reset()


async def test_a_budget_in_redis_is_one_for_every_process(shared):
    first, second = shared
    assert await first.until(5.5) == 0 and await first.spend(5.5)
    assert await second.until(4.4) == 0, "4.4 more fit the minute's 10"
    assert await second.until(5.5) > 0, "5.5 + 5.5 would not"
    assert not await second.spend(5.5)
    assert await second.spend(4.4)
    assert await first.remaining() == {"minute": pytest.approx(0.1), "day": pytest.approx(90.1)}


async def test_a_poller_elected_later_goes_on_with_what_was_spent(redis_server, shared):
    first, _ = shared
    assert await first.spend(9.9)  # nine locations of 1.1 calls
    later = RedisBudget({"minute": 10, "day": 100}, redis_server.url, name="open-meteo")
    wait = await later.until(1.1)
    assert 1.0 <= wait <= 60.0, "refused until the minute's oldest calls leave the window"
    assert await later.until(0.1) == 0
    other = RedisBudget({"minute": 10, "day": 100}, redis_server.url, name="met-norway")
    assert await other.until(10) == 0, "each provider has its own budget"


async def test_a_redis_budget_stretches_like_the_one_in_the_process(redis_server):
    limits = {"minute": 600, "hour": 5000, "day": 10000}
    assert RedisBudget(limits, redis_server.url, name="x").spacing(550) == CallBudget(limits).spacing(550)


async def test_a_redis_that_stops_answering_fails_the_call_instead_of_hanging_it():
    import socket
    import time

    from weatherstream.budget import REDIS_TIMEOUT

    mute = socket.socket()  # accepts connections, never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(4)
    try:
        budget = RedisBudget({"minute": 10}, f"redis://127.0.0.1:{mute.getsockname()[1]}/0", name="x")
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - whichever error redis-py raises for it
            await asyncio.wait_for(budget.until(1), 10 * REDIS_TIMEOUT)
        assert time.monotonic() - started < REDIS_TIMEOUT + 1.5, "failed by its own timeout"
    finally:
        mute.close()


# -- found by mutation testing: spacing, and the budget in Redis (docs/testing.md) -------


def test_a_budget_without_limits_needs_no_spacing():
    assert CallBudget({}).spacing(5) == 0.0


def test_a_round_bigger_than_a_limit_gets_that_whole_period():
    budget = CallBudget({"minute": 10})
    assert budget.spacing(10) == 60.0  # the minute's 10 at once: once a minute at most
    assert budget.spacing(20) == 60.0  # more than it ever allows at once: still a period


async def test_a_budget_in_redis_keeps_its_keys_under_its_own_prefix_by_provider(shared, redis_client):
    first, _ = shared
    assert await first.spend(1)
    keys = await redis_client.keys("*")
    assert keys and all(k.startswith(b"weatherstream-budget:") and b"open-meteo" in k for k in keys), keys


async def test_a_budget_in_redis_waits_until_the_oldest_calls_leave_the_window(shared, monkeypatch):
    wall = FakeClock(1_790_000_000.0)  # the limits library stamps calls with time.time()
    monkeypatch.setattr(time, "time", wall)
    first, _ = shared
    assert await first.spend(9.9)
    wall.now += 30
    assert await first.until(1.1) == pytest.approx(30.0, abs=0.01)
    wall.now += 29.5
    assert await first.until(1.1) == 1.0, "at least a second, not the half second left"
    wall.now += 0.51  # the 9.9 calls are a minute old
    assert await first.until(1.1) == 0


async def test_a_budget_in_redis_waits_for_the_longest_period_that_refuses(redis_server, monkeypatch):
    wall = FakeClock(1_790_000_000.0)
    monkeypatch.setattr(time, "time", wall)
    budget = RedisBudget({"day": 11, "minute": 10}, redis_server.url, name="longest")
    try:
        assert await budget.spend(9.9)
        wall.now += 30
        assert await budget.until(2) == pytest.approx(86_370.0, abs=0.01)  # both refuse: the day decides
    finally:
        await budget.storage.reset()


@pytest.fixture
def redis_socket():
    """A redis-server listening on a Unix socket only (REDIS_URL = unix://...)."""
    from scripts.engines import stop

    folder = Path(tempfile.mkdtemp(prefix="ws-redis-", dir="/tmp"))  # short: a socket path has a limit
    path = folder / "redis.sock"
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(path), "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not open its socket within 10 s"
            time.sleep(0.01)
        yield path
    finally:
        stop(proc, signal.SIGTERM, 10)
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_budget_in_redis_over_a_unix_socket(redis_socket):
    budget = RedisBudget({"minute": 10}, f"unix://{redis_socket}", name="open-meteo")
    assert await budget.spend(6) and await budget.until(4) == 0
    assert await budget.until(5) >= 1 and not await budget.spend(5)
    assert await budget.remaining() == {"minute": 4.0}
