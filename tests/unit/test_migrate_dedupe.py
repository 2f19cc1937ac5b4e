"""Point keys across the chunks of a partition (``SeenKeys``) and the series hash.

The expected masks are written from the rows, not computed by the code under test.
"""

from __future__ import annotations

import polars as pl

from onsflux.migrate.dedupe import SeenKeys, key_hashes


def chunk(rows: list[tuple[str | None, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"region": pl.Utf8, "plant": pl.Utf8, "time": pl.Int64},
                        orient="row")


def test_a_point_seen_in_any_earlier_chunk_is_found_whatever_the_time_order() -> None:
    seen = SeenKeys()
    tags = ["region", "plant"]
    first = seen.check_and_add(chunk([("n", "a", 1), ("n", "b", 2), ("s", "a", 3)]), tags)
    assert first.to_list() == [False, False, False]
    # in time order, touching the previous chunk at t=3 (another series there: new)
    second = seen.check_and_add(chunk([("n", "a", 3), ("s", "a", 4), ("n", "b", 5)]), tags)
    assert second.to_list() == [False, False, False]
    # out of order: points of both earlier chunks again, and one new in their range
    third = seen.check_and_add(chunk([("n", "b", 5), ("n", "a", 1), ("s", "b", 2),
                                      ("s", "a", 3), ("n", "b", 9)]), tags)
    assert third.to_list() == [True, True, False, True, False]
    # a far later chunk overlaps nothing
    assert not seen.check_and_add(chunk([("n", "a", 100)]), tags).any()
    # ... until a chunk spans everything
    assert seen.check_and_add(chunk([("n", "a", 100), ("s", "b", 2)]), tags).to_list() == \
        [True, True]


def test_the_series_key_ignores_empty_and_missing_tags_and_column_order() -> None:
    a = pl.DataFrame({"region": ["n", "n"], "plant": [None, ""], "time": [1, 1]})
    b = pl.DataFrame({"time": [1, 2], "region": ["n", "n"]})  # no plant column at all
    c = pl.DataFrame({"plant": ["x"], "region": ["n"], "time": [1]})
    ha, hb, hc = (key_hashes(a, ["region", "plant"]), key_hashes(b, ["region"]),
                  key_hashes(c, ["plant", "region"]))
    assert ha[0] == ha[1] == hb[0]  # NULL, "" and absent: one series (InfluxDB drops them)
    assert hb[1] != hb[0]  # another time
    assert hc[0] != ha[0]  # another tag set
    swapped = pl.DataFrame({"region": ["x"], "plant": ["n"], "time": [1]})
    assert key_hashes(swapped, ["region", "plant"])[0] != hc[0]  # values under other keys
