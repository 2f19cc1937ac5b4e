"""Server drops mapped back to the batch's rows (shared by ingest and migration)."""

from __future__ import annotations

import polars as pl

from onsflux.influx import WriteOutcome
from onsflux.influx.errors import WriteError
from onsflux.ingest.dropped import server_rejects

FRAME = pl.DataFrame({"_row": pl.Series([11, 12, 13, 14], dtype=pl.UInt64),
                      "time": [40, 10, 30, 20], "a": [1.0, None, 2.0, None],
                      "b": [None, 1, None, 2]})
LINES = pl.Series(["l11", "l12", "l13", "l14"])


def conflict(field: str, dropped: int | None) -> WriteOutcome:
    return WriteOutcome(status=400, lines=4, errors=[
        WriteError("field_type_conflict", f"conflict on {field}", dropped=dropped, field=field)])


def test_type_conflict_names_the_rows_carrying_the_field() -> None:
    got = server_rejects("f.csv", FRAME, LINES, conflict("b", 2))
    assert got["row"].to_list() == [12, 14] and set(got["column"]) == {"b"}


def test_retention_names_the_oldest_and_parse_errors_their_line() -> None:
    old = WriteOutcome(status=400, lines=4, errors=[
        WriteError("beyond_retention", "beyond retention", dropped=2)])
    assert sorted(server_rejects("f", FRAME, LINES, old)["row"].to_list()) == [12, 14]
    bad = WriteOutcome(status=400, lines=4, errors=[
        WriteError("unable_to_parse", "unable to parse", dropped=1, line="l13")])
    assert server_rejects("f", FRAME, LINES, bad)["row"].to_list() == [13]


def test_a_count_that_does_not_match_blames_no_row() -> None:
    got = server_rejects("f", FRAME, LINES, conflict("a", 1))  # 2 rows carry "a", 1 dropped
    assert got.height == 1 and got["row"].to_list() == [None]
    assert "somewhere in rows 11-14" in got["reason"][0]


def test_refused_batch_rejects_every_row_and_no_errors_none() -> None:
    refused = WriteOutcome(status=400, lines=4, refused=True, errors=[
        WriteError("field_type_conflict", "field type conflict")])
    assert server_rejects("f", FRAME, LINES, refused)["row"].to_list() == [11, 12, 13, 14]
    assert server_rejects("f", FRAME, LINES, WriteOutcome(status=204, lines=4)).height == 0
