from tests.clock import FakeClock
from weatherstream.breaker import CLOSED, FIRST_COOLDOWN, HALF_OPEN, OPEN, CircuitBreaker


def test_opens_after_threshold_failures_in_a_row():
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=FakeClock(100.0))
    for _ in range(2):
        breaker.failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.success()  # resets the count
    for _ in range(2):
        breaker.failure()
    assert breaker.state == CLOSED
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    assert breaker.retry_in() == FIRST_COOLDOWN == 2.0


def test_one_probe_after_the_cooldown_then_closed_or_open_again():
    clock = FakeClock(100.0)
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.failure()
    clock.now += 1.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()  # the probe failed: open for twice as long
    assert breaker.state == OPEN and breaker.retry_in() == 4
    clock.now += 4
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.retry_in() == 0


def test_the_wait_doubles_with_each_failed_probe_up_to_the_cooldown_and_resets():
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.failure()
    waits = []
    for _ in range(6):
        waits.append(breaker.retry_in())
        clock.now += breaker.retry_in()
        assert breaker.allow()
        breaker.failure()
    assert waits == [2, 4, 8, 16, 30, 30]
    clock.now += breaker.retry_in()
    assert breaker.allow()
    breaker.success()
    breaker.failure()  # a new outage starts short again
    assert breaker.retry_in() == 2


def test_a_cooldown_shorter_than_the_first_wait_caps_it():
    breaker = CircuitBreaker(threshold=1, cooldown=0.5, clock=FakeClock(0.0))
    breaker.failure()
    assert breaker.retry_in() == 0.5


def test_a_probe_that_never_reports_back_is_replaced_after_the_wait():
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.failure()
    clock.now = 2.0
    assert breaker.allow() and breaker.state == HALF_OPEN  # the probe (then cancelled, say)
    clock.now = 3.9
    assert not breaker.allow()
    clock.now = 4.0  # exactly one wait after the lost probe: another
    assert breaker.allow() and breaker.state == HALF_OPEN
    clock.now = 5.0  # counted from the second probe, not the first
    assert not breaker.allow()
    clock.now = 6.0
    assert breaker.allow()
