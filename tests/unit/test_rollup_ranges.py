"""The range arithmetic behind the ingest's pre-count (``query/rollup.py``): which whole
hours of a chunk the server has not been asked about yet. A wrong answer here would let
an object keep rollup rows for hours it never proved it owned."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onsflux.query.rollup import merge_ranges, uncovered_ranges


def test_merge_joins_touching_and_overlapping_ranges() -> None:
    assert merge_ranges([(5, 7), (0, 2), (2, 3), (6, 9), (4, 4)]) == [(0, 3), (5, 9)]


def test_uncovered_parts_of_a_range() -> None:
    assert uncovered_ranges([], 0, 10) == [(0, 10)]
    assert uncovered_ranges([(0, 10)], 2, 8) == []
    assert uncovered_ranges([(2, 4), (6, 7)], 0, 10) == [(0, 2), (4, 6), (7, 10)]
    assert uncovered_ranges([(0, 3)], 3, 5) == [(3, 5)]
    assert uncovered_ranges([(8, 20)], 0, 10) == [(0, 8)]


ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)).map(sorted).map(tuple),
                  max_size=6)


@given(ranges, st.integers(0, 60), st.integers(0, 60))
def test_uncovered_is_exactly_the_points_outside(rs: list[tuple[int, int]], a: int, b: int
                                                 ) -> None:
    start, stop = min(a, b), max(a, b)
    covered = {x for lo, hi in rs for x in range(lo, hi)}
    gaps = uncovered_ranges(rs, start, stop)
    assert {x for lo, hi in gaps for x in range(lo, hi)} == set(range(start, stop)) - covered
    assert all(lo < hi for lo, hi in gaps)
    assert gaps == merge_ranges(gaps)  # sorted, disjoint, not touching
