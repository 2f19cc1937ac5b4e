"""The SQLite state store: object records, rejects and dead letters (no server needed)."""

import polars as pl

from onsflux.frames import make_rejects
from onsflux.state.store import FAILED, OK, RUNNING, SqliteStateStore


def test_object_lifecycle_and_rejects(tmp_path) -> None:
    store = SqliteStateStore(tmp_path / "s.sqlite")
    rec = store.begin("a.csv", "size:1:mtime:1")
    assert rec.status == RUNNING and rec.attempts == 1
    store.add_rejects("a.csv", make_rejects("a.csv", [3, 7], "power_mw", ["nan", "-inf"], "not finite"))
    rec.status, rec.points, rec.measurements = OK, 10, ["generation_data"]
    store.finish(rec)
    got = store.get("a.csv")
    assert got is not None and got.status == OK and got.points == 10
    assert got.measurements == ["generation_data"] and got.finished_at is not None
    rejects = store.rejects("a.csv")
    assert rejects["row"].to_list() == [3, 7] and rejects["reason"].to_list() == ["not finite"] * 2
    # a new version of the object starts with a clean rejects list
    rec2 = store.begin("a.csv", "size:2:mtime:2")
    assert rec2.attempts == 2 and store.rejects("a.csv").height == 0


def test_dead_letters_open_count_and_resolve(tmp_path) -> None:
    store = SqliteStateStore(tmp_path / "s.sqlite")
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


def test_store_is_shared_between_connections(tmp_path) -> None:
    a = SqliteStateStore(tmp_path / "s.sqlite")
    b = SqliteStateStore(tmp_path / "s.sqlite")
    a.begin("x", "f")
    assert b.get("x") is not None
    assert isinstance(b.rejects(), pl.DataFrame)
