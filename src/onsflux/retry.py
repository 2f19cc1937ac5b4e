"""One retry policy for every remote call: InfluxDB over HTTP, Timestream, S3, DynamoDB.

What is retried is decided by the error, not the caller: an exception whose
``retryable`` attribute is true (every :class:`~onsflux.exceptions.TransientError`:
``ServerUnavailable``, ``CircuitOpen``, ``ObjectBusy``). Each adapter translates its
library's errors at the edge (httpx in ``influx.transport``, botocore in ``aws``) and
calls :meth:`RetryPolicy.call`; nothing else in onsflux loops on failures.

The policy, from :class:`~onsflux.settings.Settings`: at most ``max_attempts`` attempts;
between them the server's ``Retry-After`` when the error carries one (``retry_after``),
else exponential backoff with full jitter,
``uniform(0, min(backoff_max_seconds, backoff_base_seconds * 2**(attempt-1)))``. A
``Retry-After`` longer than ``max(backoff_max_seconds, 60)`` is not slept: the call gives
up at once, so the caller can reschedule. ``sleep`` and ``rng`` are injectable.

Built on tenacity (stop, wait, retry predicate and sleep are its hooks); botocore's own
retries are switched off (``aws.client_config``) so attempts are never multiplied.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from .settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a ``Retry-After`` up to this long (or ``backoff_max_seconds``, if longer) is slept
RETRY_AFTER_LIMIT = 60.0


def is_retryable(exc: BaseException) -> bool:
    """Whether retrying the same call may succeed: the error's ``retryable`` attribute."""
    return bool(getattr(exc, "retryable", False))


def _retry_after(exc: BaseException | None) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


class _StopWhenToldToWaitTooLong(tenacity.stop.stop_base):
    """Give up when the server asks for a wait longer than the policy will sleep."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        return self.policy.too_long(_retry_after(outcome.exception() if outcome else None))


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff (see the module docstring); one per client, from settings."""

    max_attempts: int = 5
    backoff_base_seconds: float = 0.25
    backoff_max_seconds: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                      rng: Callable[[], float] = random.random) -> RetryPolicy:
        return cls(settings.max_attempts, settings.backoff_base_seconds,
                   settings.backoff_max_seconds, sleep, rng)

    @property
    def retry_after_limit(self) -> float:
        return max(self.backoff_max_seconds, RETRY_AFTER_LIMIT)

    def too_long(self, retry_after: float | None) -> bool:
        """A server's ``Retry-After`` we will not sleep (the call gives up at once)."""
        return retry_after is not None and retry_after > self.retry_after_limit

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff after attempt number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * (2 ** (attempt - 1)))
        return float(self.rng() * ceiling)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = _retry_after(exc)
        return retry_after if retry_after is not None else self.backoff(state.attempt_number)

    def call(self, fn: Callable[[int], T], *, what: str, max_attempts: int | None = None) -> T:
        """``fn(attempt)`` until it returns, retrying while it raises a retryable error.

        ``attempt`` counts from 1 so ``fn`` can say how many were made in its error;
        ``max_attempts`` overrides the policy's (a breaker's trial call makes one).
        The last error is raised as it is.
        """
        attempts = max_attempts or self.max_attempts

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                        what, state.attempt_number, attempts, exc, delay)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(attempts),
                                   _StopWhenToldToWaitTooLong(self)),
            wait=self._wait,
            retry=tenacity.retry_if_exception(is_retryable),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result = fn(attempt.retry_state.attempt_number)
        return result
