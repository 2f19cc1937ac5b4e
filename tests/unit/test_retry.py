"""The one retry policy (``onsflux.retry``) and the ``retryable`` attribute it reads.

AWS cannot run here: the S3 and DynamoDB cases use botocore's Stubber to make the
service answer throttling first, then success, and check the policy retried it.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from onsflux import exceptions
from onsflux.exceptions import ConfigError, ServerUnavailable, SourceError, StateStoreError
from onsflux.retry import RetryPolicy
from onsflux.settings import Settings


def _policy(sleeps: list[float], **kw: Any) -> RetryPolicy:
    values: dict[str, Any] = {"max_attempts": 4, "backoff_base_seconds": 1.0,
                              "backoff_max_seconds": 3.0}
    values.update(kw)
    return RetryPolicy(**values, sleep=sleeps.append, rng=lambda: 0.5)


def test_retryable_errors_are_retried_with_full_jitter_backoff() -> None:
    sleeps: list[float] = []
    seen: list[int] = []

    def flaky(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 4:
            raise ServerUnavailable("down")
        return "ok"

    assert _policy(sleeps).call(flaky, what="t") == "ok"
    assert seen == [1, 2, 3, 4]
    # rng 0.5 × min(3, 1 × 2**(n-1)): 0.5, 1.0, then capped at 1.5
    assert sleeps == [0.5, 1.0, 1.5]


def test_terminal_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def bad(attempt: int) -> None:
        calls.append(attempt)
        raise ConfigError("wrong")

    with pytest.raises(ConfigError):
        _policy(sleeps).call(bad, what="t")
    assert calls == [1] and sleeps == []


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    sleeps: list[float] = []

    def down(attempt: int) -> None:
        raise ServerUnavailable(f"down at attempt {attempt}")

    with pytest.raises(ServerUnavailable, match="attempt 3"):
        _policy(sleeps, max_attempts=3).call(down, what="t")
    assert len(sleeps) == 2


def test_retry_after_is_slept_and_too_long_gives_up_at_once() -> None:
    sleeps: list[float] = []
    answers = [ServerUnavailable("busy", retry_after=7.0), None]

    def once(attempt: int) -> str:
        err = answers[attempt - 1]
        if err:
            raise err
        return "ok"

    assert _policy(sleeps).call(once, what="t") == "ok" and sleeps == [7.0]

    sleeps.clear()

    def far(attempt: int) -> None:
        raise ServerUnavailable("come back tomorrow", retry_after=86_400)

    with pytest.raises(ServerUnavailable):
        _policy(sleeps).call(far, what="t")
    assert sleeps == []


def test_a_trial_call_makes_one_attempt() -> None:
    calls: list[int] = []

    def down(attempt: int) -> None:
        calls.append(attempt)
        raise ServerUnavailable("down")

    with pytest.raises(ServerUnavailable):
        _policy([]).call(down, what="t", max_attempts=1)
    assert calls == [1]


def test_policy_comes_from_settings() -> None:
    s = Settings(max_attempts=7, backoff_base_seconds=0.1, backoff_max_seconds=2.0)  # type: ignore[call-arg]
    p = RetryPolicy.from_settings(s)
    assert (p.max_attempts, p.backoff_base_seconds, p.backoff_max_seconds) == (7, 0.1, 2.0)


def test_retryable_is_true_exactly_on_the_transient_branch() -> None:
    classes = [c for _, c in inspect.getmembers(exceptions, inspect.isclass)
               if issubclass(c, exceptions.OnsfluxError)]
    assert len(classes) > 10
    for cls in classes:
        assert cls.retryable is issubclass(cls, exceptions.TransientError), cls


def test_s3_listing_is_retried_by_the_policy() -> None:
    """botocore Stubber: S3 answers 503 SlowDown, then the listing."""
    from onsflux.sources.objects import list_objects, s3_client

    settings = Settings(s3_endpoint_url="http://stubbed-s3.invalid:9",  # type: ignore[call-arg]
                        backoff_base_seconds=0, max_attempts=3)
    client = s3_client(settings)
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "SlowDown", "slow down", 503)
        stub.add_response("list_objects_v2", {
            "Contents": [{"Key": "ons/a.csv", "Size": 3, "ETag": '"e1"',
                          "LastModified": datetime(2024, 1, 1, tzinfo=UTC)}],
            "IsTruncated": False,
        }, {"Bucket": "b", "Prefix": "ons/"})
        refs = list_objects(["s3://b/ons/"], settings)
        stub.assert_no_pending_responses()
    assert [r.url for r in refs] == ["s3://b/ons/a.csv"]


def test_s3_listing_gives_up_as_unavailable_and_a_missing_bucket_is_terminal() -> None:
    """botocore Stubber: persistent 503s, then NoSuchBucket (not retried)."""
    from onsflux.sources.objects import list_objects, s3_client

    settings = Settings(s3_endpoint_url="http://stubbed-s3-2.invalid:9",  # type: ignore[call-arg]
                        backoff_base_seconds=0, max_attempts=2)
    with Stubber(s3_client(settings)) as stub:
        for _ in range(2):
            stub.add_client_error("list_objects_v2", "SlowDown", "slow down", 503)
        with pytest.raises(ServerUnavailable, match="SlowDown"):
            list_objects(["s3://b/ons/"], settings)
        stub.add_client_error("list_objects_v2", "NoSuchBucket", "no bucket", 404)
        with pytest.raises(SourceError, match="no such bucket"):
            list_objects(["s3://b/ons/"], settings)
        stub.assert_no_pending_responses()


def test_dynamodb_throttling_is_retried_then_terminal_errors_are_not() -> None:
    """botocore Stubber: DynamoDB throttles once, then answers; then refuses access."""
    from onsflux.state.dynamodb import DynamoStateStore

    sleeps: list[float] = []
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x",
                                    aws_secret_access_key="y")
    store = DynamoStateStore("t", region="us-east-1", session=session,
                             retry=RetryPolicy(max_attempts=3, sleep=sleeps.append,
                                               rng=lambda: 1.0))
    with Stubber(store._ddb) as stub:
        stub.add_client_error("get_item", "ProvisionedThroughputExceededException", "slow", 400)
        stub.add_response("get_item", {})
        assert store.get("missing.csv") is None
        stub.add_client_error("get_item", "AccessDeniedException", "no", 400)
        with pytest.raises(StateStoreError, match="AccessDenied"):
            store.get("k")
        stub.assert_no_pending_responses()
    assert sleeps == [0.25]


def test_cutover_dynamodb_store_uses_the_same_policy() -> None:
    """botocore Stubber: the cutover store's DynamoDB reads throttle once, then answer."""
    from onsflux.cutover.state import DynamoCutoverStore

    sleeps: list[float] = []
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x",
                                    aws_secret_access_key="y")
    store = DynamoCutoverStore("t", region="us-east-1", session=session,
                               retry=RetryPolicy(max_attempts=2, sleep=sleeps.append,
                                                 rng=lambda: 1.0))
    with Stubber(store._ddb) as stub:
        stub.add_client_error("get_item", "ThrottlingException", "slow", 400)
        stub.add_response("get_item", {})
        assert store.get_state().version == 0
        stub.assert_no_pending_responses()
    assert sleeps == [0.25]
