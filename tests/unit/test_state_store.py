"""The state store contract, run against SQLite and against DynamoDB + SQS.

DynamoDB and SQS cannot run here: moto's in-process AWS mock stands in for them (the
tests say so by their ``dynamodb`` parameter id). SQLite is the real thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl
import pytest

from onsflux.exceptions import ConfigError, ObjectBusy
from onsflux.frames import make_rejects
from onsflux.state.store import FAILED, OK, RUNNING, SqliteStateStore, StateStore, open_store


@pytest.fixture
def dynamo_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StateStore]:
    """DynamoDB + SQS through moto (AWS cannot run here)."""
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        import boto3

        queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="dlq")
        s = open_store("dynamodb://onsflux-state", region="us-east-1",
                       queue_url=queue["QueueUrl"])
        s.create_table()  # type: ignore[attr-defined]
        s.queue_for_test = queue["QueueUrl"]  # type: ignore[attr-defined]
        yield s


@pytest.fixture(params=["sqlite", "dynamodb-moto"])
def store(request: pytest.FixtureRequest, tmp_path) -> StateStore:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return SqliteStateStore(tmp_path / "s.sqlite")
    return request.getfixturevalue("dynamo_store")  # type: ignore[no-any-return]


def test_object_lifecycle_and_rejects(store: StateStore) -> None:
    rec = store.begin("a.csv", "size:1:mtime:1")
    assert rec.status == RUNNING and rec.attempts == 1
    store.add_rejects("a.csv", make_rejects("a.csv", [3, 7], "power_mw", ["nan", "-inf"],
                                            "not finite"))
    rec.status, rec.points, rec.measurements = OK, 10, ["generation_data"]
    store.finish(rec)
    got = store.get("a.csv")
    assert got is not None and got.status == OK and got.points == 10
    assert got.measurements == ["generation_data"] and got.finished_at is not None
    rejects = store.rejects("a.csv")
    assert rejects["row"].to_list() == [3, 7] and rejects["reason"].to_list() == ["not finite"] * 2
    assert rejects["value"].to_list() == ["nan", "-inf"]
    # a new version of the object starts with a clean rejects list
    rec2 = store.begin("a.csv", "size:2:mtime:2")
    assert rec2.attempts == 2 and store.rejects("a.csv").height == 0
    assert [o.key for o in store.objects()] == ["a.csv"]


def test_many_rejects_are_all_kept(store: StateStore) -> None:
    rec = store.begin("big.csv", "f")
    store.add_rejects("big.csv", make_rejects("big.csv", list(range(1, 61)), "x", None, "bad"))
    assert store.rejects("big.csv").height == 60
    assert store.rejects("big.csv", limit=7).height == 7
    rec.status = OK
    store.finish(rec)
    store.begin("big.csv", "f2")  # more than one batch (DynamoDB: 25) of old rejects to drop
    assert store.rejects("big.csv").height == 0


def test_dead_letters_open_count_and_resolve(store: StateStore) -> None:
    store.begin("b.parquet", "f1")
    store.fail("b.parquet", "f1", "unavailable", "InfluxDB down")
    store.begin("b.parquet", "f1")
    store.fail("b.parquet", "f1", "unavailable", "still down")
    [dead] = store.dead_letters()
    assert dead.key == "b.parquet" and dead.attempts == 2 and dead.reason == "still down"
    assert store.get("b.parquet").status == FAILED  # type: ignore[union-attr]
    rec = store.begin("b.parquet", "f1")
    rec.status = OK
    store.finish(rec)
    assert store.dead_letters() == []


def test_dynamodb_claims_and_sqs_dead_letters(dynamo_store: StateStore) -> None:
    store = dynamo_store
    store.begin("c.parquet", "f")
    with pytest.raises(ObjectBusy, match="another worker"):
        store.begin("c.parquet", "f")  # the same S3 event delivered twice, concurrently
    store.fail("c.parquet", "f", "source", "truncated")
    import boto3

    msgs = boto3.client("sqs", region_name="us-east-1").receive_message(
        QueueUrl=store.queue_for_test)["Messages"]  # type: ignore[attr-defined]
    assert json.loads(msgs[0]["Body"])["reason"] == "truncated"
    store.begin("c.parquet", "f")  # a failed object can be claimed again


def test_sqlite_store_is_shared_between_connections(tmp_path) -> None:
    a = SqliteStateStore(tmp_path / "s.sqlite")
    b = SqliteStateStore(tmp_path / "s.sqlite")
    a.begin("x", "f")
    assert b.get("x") is not None
    assert isinstance(b.rejects(), pl.DataFrame)


def test_dynamodb_location_needs_a_table() -> None:
    with pytest.raises(ConfigError, match="dynamodb://TABLE"):
        open_store("dynamodb://")


def test_clear_rejects_forgets_one_key_only(store: StateStore) -> None:
    store.add_rejects("migrate:p1", make_rejects("x", [1, 2], "c", None, "bad"))
    store.add_rejects("migrate:p2", make_rejects("y", [3], "c", None, "bad"))
    store.clear_rejects("migrate:p1")
    assert store.rejects("migrate:p1").height == 0 and store.rejects("migrate:p2").height == 1
