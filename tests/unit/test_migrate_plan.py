"""Pure parts of plan, verify and rollback: window choice, comparison, deletion ranges."""

from __future__ import annotations

import pytest

from onsflux.exceptions import ConfigError
from onsflux.migrate.plan import (
    DAY_NS,
    HOUR_NS,
    bucket_rows,
    choose_window,
    parse_window,
    partition_id,
)
from onsflux.migrate.rollback import deletions
from onsflux.migrate.state import DONE, FAILED, PENDING, MigrationStore, Partition
from onsflux.migrate.verify import compare

T0 = 1_704_067_200_000_000_000


@pytest.mark.parametrize("rows_per_hour,hours,target,expected", [
    (1, 24 * 400, 1_000_000, 365 * DAY_NS),  # sparse: one window per year
    (500, 24 * 400, 1_000_000, 30 * DAY_NS),  # 360k/30d fits, 1.08M/90d does not
    (10_000, 48, 100_000, 6 * HOUR_NS),
    (5_000_000, 3, 1_000_000, HOUR_NS),  # an hour above target: still 1h
    (0, 0, 10, 365 * DAY_NS),  # empty
])
def test_choose_window(rows_per_hour: int, hours: int, target: int, expected: int) -> None:
    hist = {T0 + i * HOUR_NS: rows_per_hour for i in range(hours)}
    assert choose_window(hist, target) == expected


def test_windows_align_and_ids() -> None:
    hist = {T0 + 5 * HOUR_NS: 3, T0 + 30 * HOUR_NS: 4}
    assert bucket_rows(hist, DAY_NS) == {T0: 3, T0 + DAY_NS: 4}
    assert partition_id("generation_data", T0, DAY_NS) == "generation_data/2024-01-01T00:00:00Z/1d"
    assert parse_window("6h") == 6 * HOUR_NS and parse_window("2d") == 2 * DAY_NS
    with pytest.raises(ConfigError):
        parse_window("1y")


def test_compare_lists_every_difference() -> None:
    a = (("region", "north"),)
    b = (("region", "south"),)
    src = {a: {"v": {"count": 3, "sum": 6.0, "min": 1.0, "max": 3.0, "abs": 6.0},
               "n": {"count": 2, "sum": 2**63 + 5, "min": 1, "max": 2**63 + 4}},
           b: {"v": {"count": 1, "sum": 1.0, "min": 1.0, "max": 1.0, "abs": 1.0}}}
    same = {a: {"v": {"count": 3, "sum": 6.0 + 1e-12, "min": 1.0, "max": 3.0},
                "n": {"count": 2, "sum": -(2**63) + 5, "min": 1, "max": 2**63 + 4}},
            b: {"v": {"count": 1, "sum": 1.0, "min": 1.0, "max": 1.0}}}
    types = {"v": "float", "n": "integer"}
    assert compare("p", src, same, types) == []  # float tolerance, int64 wrap of sums
    changed = {**same, a: {**same[a], "v": {"count": 3, "sum": 6.5, "min": 1.0, "max": 3.5}}}
    got = {(m.series, m.field, m.stat) for m in compare("p", src, changed, types)}
    assert got == {("region=north", "v", "sum"), ("region=north", "v", "max")}
    missing = {a: same[a]}
    extra = {**same, (("region", "x"),): {"v": {"count": 1, "sum": 0.0, "min": 0.0, "max": 0.0}}}
    assert [(m.series, m.stat, m.source, m.target) for m in compare("p", src, missing, types)] \
        == [("region=south", "count", 1, 0)]
    assert [(m.series, m.source, m.target) for m in compare("p", src, extra, types)] \
        == [("region=x", 0, 1)]


def test_deletions_cover_what_was_written() -> None:
    def part(pid: str, status: str, **kw: object) -> Partition:
        return Partition("m", pid, "t", "b", "meas", T0, T0 + DAY_NS, status=status, **kw)

    ps = [part("never", PENDING), part("done", DONE, attempts=1, points=5, written_min_ns=T0 + 7,
                                       written_max_ns=T0 + 9),
          part("failed", FAILED, attempts=1), part("empty", DONE, attempts=1, points=0),
          part("killed", FAILED, attempts=1)]
    # series are recorded before each write: a partition with none wrote nothing
    recorded = {"done": ['[["region", "north"]]'],
                "killed": ['[["region", "south"], ["source", "wind"]]', '[]']}
    got = {d.partition: (d.start_ns, d.stop_ns, d.series) for d in deletions(ps, recorded)}
    assert got == {"done": (T0 + 7, T0 + 10, ((("region", "north"),),)),
                   "killed": (T0, T0 + DAY_NS, ((), (("region", "south"), ("source", "wind"))))}
    # a partition that wrote before series were recorded: the whole window, every series
    assert [(d.partition, d.series) for d in deletions(ps)] == [("done", None)]


def test_delete_statements_name_every_tag_key() -> None:
    from onsflux.migrate.rollback import delete_statements

    (sql,) = delete_statements("m", ["plant", "region"], ((("region", "it's\\"),),), 5, 9)
    assert sql == ("DELETE FROM \"m\" WHERE ((\"plant\" = '' AND \"region\" = 'it\\'s\\\\')) "
                   "AND time >= 5 AND time < 9")


def test_claims_are_exclusive_and_dead_owners_reclaimed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from onsflux.migrate.state import MigrationRecord

    store = MigrationStore(tmp_path / "s.sqlite")
    store.save_plan(MigrationRecord("m", "src", "{}", DAY_NS, {}, 0.0),
                    [Partition("m", "p1", "t", "b", "x", 0, 1)])
    assert store.claim("m", "p1", "host:1") is not None
    assert store.claim("m", "p1", "host:2") is None
    import socket
    store._db.execute("UPDATE migration_partitions SET owner = ?",
                      (f"{socket.gethostname()}:999999999",))
    assert store.reclaim_stale("m") == ["p1"]
    assert store.get("m", "p1").status == PENDING  # type: ignore[union-attr]
    # re-planning keeps the status of known partitions
    store.claim("m", "p1")
    store.save_plan(MigrationRecord("m", "src", "{}", DAY_NS, {}, 0.0),
                    [Partition("m", "p1", "t", "b", "x", 0, 1)])
    assert store.get("m", "p1").status == "running"  # type: ignore[union-attr]
    store.close()
