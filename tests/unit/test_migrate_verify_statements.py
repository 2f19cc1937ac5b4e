"""Verify's statement planning: bounded ranges, sampled timestamps, merged sub-ranges.

Pure functions, table-driven; the integration tests (``test_migrate_verify.py``) run the
statements on a real InfluxDB.
"""

from __future__ import annotations

import random

import pytest

from onsflux.migrate.state import Partition
from onsflux.migrate.verify import (
    Checks,
    _combine,
    _merge_fields,
    sample_series,
    series_predicate,
    spans,
    value_statements,
)

D = 86_400_000_000_000


def part(i: int, est: int, days: int = 1, start_day: int | None = None) -> Partition:
    start = (start_day if start_day is not None else i * days) * D
    return Partition("m", f"p{i}", "t", "b", "gen", start, start + days * D, est_rows=est)


@pytest.mark.parametrize("parts,limit,want", [
    # contiguous partitions of one window share a range while the estimate fits
    ([part(0, 400), part(1, 400), part(2, 400)], 1000,
     [(0, 2 * D, ("p0", "p1"), True), (2 * D, 3 * D, ("p2",), False)]),
    # a gap between windows starts a new range
    ([part(0, 10), part(3, 10)], 1000, [(0, D, ("p0",), False), (3 * D, 4 * D, ("p3",), False)]),
    # another window size starts a new range
    ([part(0, 10), part(1, 10, days=2, start_day=1)], 1000,
     [(0, D, ("p0",), False), (D, 3 * D, ("p1",), False)]),
    # a partition above the limit is cut into equal sub-ranges covering its window
    ([part(0, 2500)], 1000,
     [(0, D // 3, ("p0",), False), (D // 3, 2 * D // 3, ("p0",), False),
      (2 * D // 3, D, ("p0",), False)]),
    # no estimate: alone, as if it held the limit
    ([part(0, 0), part(1, 10)], 1000, [(0, D, ("p0",), False), (D, 2 * D, ("p1",), False)]),
])
def test_spans_bound_each_statement(parts: list[Partition], limit: int,
                                    want: list[tuple[int, int, tuple[str, ...], bool]]) -> None:
    got = [(a, b, tuple(p.id for p in ps), grouped) for a, b, ps, grouped in spans(parts, limit)]
    assert got == want


def test_value_statements_group_by_the_window_only_across_partitions() -> None:
    sts = value_statements("gen", [part(0, 10), part(1, 10), part(5, 10)],
                           {"power": "float", "label": "string"}, ("sum",), 1000)
    sql = [s.sql for s in sts]
    assert len(sql) == 4  # two ranges × two fields
    assert sql[1] == ('SELECT count("power") AS "count\x01power", sum("power") AS '
                      f'"sum\x01power" FROM "gen" WHERE time >= 0 AND time < {2 * D} '
                      "GROUP BY time(1d), * fill(none)")
    assert sql[0].startswith('SELECT count("label") AS "count\x01label" FROM "gen"')  # no sum
    assert sql[3].endswith(f"time >= {5 * D} AND time < {6 * D} GROUP BY *")
    assert [s.partition_of(D).id for s in sts[:1]] == ["p1"]  # a bucket is a partition
    assert sts[0].partition_of(7 * D) is None


def test_series_predicate_names_every_tag_key() -> None:
    assert series_predicate((("region", "north"),), ["region", "source"]) == \
        """("region" = 'north' AND "source" = '')"""
    assert series_predicate((("region", "it's"),), ["region"]) == """("region" = 'it\\'s')"""


def test_the_sample_holds_the_fraction_of_values_and_at_least_one_series() -> None:
    src = {(("s", str(i)),): {"f": {"count": 100_000}} for i in range(50)}
    got = sample_series(src, "f", Checks(sample=0.02), random.Random(1))
    assert got is not None and len(got) == 1  # 2% of 5M values: one 100k series
    assert sample_series(src, "f", Checks(sample=0.1), random.Random(1)) is not None
    assert len(sample_series(src, "f", Checks(sample=0.1), random.Random(1)) or []) == 5
    assert sample_series(src, "f", Checks(full=True), random.Random(1)) is None  # every one
    assert sample_series(src, "f", Checks(sample=1.0), random.Random(1)) is None
    small = {(("s", "a"),): {"f": {"count": 10}}}
    assert sample_series(small, "f", Checks(), random.Random(1)) is None
    picks = {tuple(sample_series(src, "f", Checks(), random.Random(seed)) or [])
             for seed in range(20)}
    assert len(picks) > 5  # a different series from one verify to the next


def test_sub_ranges_merge_into_the_partition_statistics() -> None:
    a = {(("s", "x"),): {"i": {"count": 2, "sum": 2**63 - 1, "min": -5, "max": 7},
                         "f": {"count": 1, "sum": 1.5, "min": 1.5, "max": 1.5}}}
    b = {(("s", "x"),): {"i": {"count": 3, "sum": 10, "min": -9, "max": 3},
                         "f": {"count": 2, "sum": 2.0, "min": 0.5, "max": 1.5}}}
    got = _merge_fields([a, b])[(("s", "x"),)]
    assert got["i"] == {"count": 5, "sum": -(2**63) + 9, "min": -9, "max": 7}  # int64 wrap
    assert got["f"] == {"count": 3, "sum": 3.5, "min": 0.5, "max": 1.5}
    into: dict[str, object] = {}
    for stat, v in (("first", 5), ("first", 3), ("last", 5), ("last", 9)):
        _combine(into, stat, v)
    assert into == {"first": 3, "last": 9}
