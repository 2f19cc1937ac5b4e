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


def test_the_breaker_state_is_shared_by_processes_through_the_state_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 9 item 5: one `onsflux ask` after another (each a new process) must not each
    pay the retries: failed calls and the open state are kept under the state folder."""
    import json
    import time

    from onsflux.influx.transport import PersistedBreaker

    path = tmp_path / "breakers.json"
    url = "http://user:secret@influx.internal:8086"
    first = PersistedBreaker(3, 30.0, path, url)
    first.record_failure()
    first.record_failure()
    second = PersistedBreaker(3, 30.0, path, url)  # another process, 2 failures known
    assert second.acquire() == "normal"
    second.record_failure()  # the third: open, for every process
    assert second.state == "open"
    third = PersistedBreaker(3, 30.0, path, url)
    assert third.acquire() is None and 29.0 < third.retry_in() <= 30.0
    assert "secret" not in path.read_text() and "influx.internal" not in path.read_text()
    assert PersistedBreaker(3, 30.0, path, "http://other:8086").acquire() == "normal"
    # once the reset time has passed, a trial goes through, and its success clears the file
    quick = tmp_path / "quick.json"
    b = PersistedBreaker(1, 0.01, quick, url)
    b.record_failure()
    time.sleep(0.02)
    fresh = PersistedBreaker(1, 0.01, quick, url)
    assert fresh.acquire() in ("normal", "trial")  # the reset time has passed: calls go
    fresh.record_success()
    assert json.loads(quick.read_text()) == {}
