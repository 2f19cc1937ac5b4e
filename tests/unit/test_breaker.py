"""CircuitBreaker transitions (pure logic, fake clock)."""

from __future__ import annotations

import pytest

from onsflux.influx.client import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_starts_closed_and_allows(clock: Clock) -> None:
    b = CircuitBreaker(3, 10, clock=clock)
    assert b.state == "closed"
    assert b.acquire() == "normal"


def test_opens_after_consecutive_failures(clock: Clock) -> None:
    b = CircuitBreaker(3, 10, clock=clock)
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open"
    assert b.acquire() is None
    assert b.retry_in() == pytest.approx(10)


def test_success_resets_the_count(clock: Clock) -> None:
    b = CircuitBreaker(3, 10, clock=clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    assert b.consecutive_failures == 2


def test_half_open_after_reset_lets_one_trial(clock: Clock) -> None:
    b = CircuitBreaker(1, 10, clock=clock)
    b.record_failure()
    clock.now += 9.9
    assert b.acquire() is None
    clock.now += 0.1
    assert b.state == "half_open"
    assert b.acquire() == "trial"
    assert b.acquire() is None  # only one trial at a time


def test_trial_success_closes(clock: Clock) -> None:
    b = CircuitBreaker(2, 10, clock=clock)
    b.record_failure()
    b.record_failure()
    clock.now += 10
    assert b.acquire() == "trial"
    b.record_success()
    assert b.state == "closed"
    assert b.consecutive_failures == 0
    assert b.acquire() == "normal"


def test_trial_failure_reopens_with_a_fresh_timer(clock: Clock) -> None:
    b = CircuitBreaker(2, 10, clock=clock)
    b.record_failure()
    b.record_failure()
    clock.now += 15
    assert b.acquire() == "trial"
    b.record_failure()
    assert b.state == "open"
    clock.now += 9
    assert b.acquire() is None
    clock.now += 1
    assert b.acquire() == "trial"


def test_abandoned_trial_lets_another_try(clock: Clock) -> None:
    b = CircuitBreaker(1, 10, clock=clock)
    b.record_failure()
    clock.now += 10
    assert b.acquire() == "trial"
    b.abandon()
    assert b.acquire() == "trial"


def test_invalid_threshold() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1)
