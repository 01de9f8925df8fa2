from tests.clock import FakeClock
from weatherstream.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


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
    assert breaker.retry_in() == 30


def test_one_probe_after_the_cooldown_then_closed_or_open_again():
    clock = FakeClock(100.0)
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.failure()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()  # the probe failed: open for another cooldown
    assert breaker.state == OPEN and breaker.retry_in() == 30
    clock.now += 30
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.retry_in() == 0
