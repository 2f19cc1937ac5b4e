"""The cutover comparator: exact keys and timestamps, exact ints/strings, relative float
tolerance, ignore rules, and each outcome."""

from __future__ import annotations

import pytest

from onsflux.cutover.compare import IgnoreRules, Tolerance, compare_results, compare_rows, digest
from onsflux.exceptions import ConfigError, QueryError, ServerUnavailable
from onsflux.query.result import QueryResult, Row

T = 1_709_251_200_000_000_000


def row(value: object, t: int = T, field: str = "power_mw", **tags: str) -> Row:
    return Row(t, "generation_data", field, value, tags or {"region": "north"})  # type: ignore[arg-type]


def result(rows: list[Row]) -> QueryResult:
    return QueryResult(rows, False, "influxdb", "influxql", "q")


def test_equal_answers_match_whatever_the_row_order() -> None:
    a = [row(1.0), row(2.0, T + 1)]
    c = compare_rows(a, list(reversed(a)))
    assert c.outcome == "match" and c.diffs == []
    assert c.control_digest == c.candidate_digest


def test_floats_within_relative_tolerance_match_and_beyond_do_not() -> None:
    assert compare_rows([row(1000.0)], [row(1000.0 * (1 + 1e-12))]).outcome == "match"
    c = compare_rows([row(1000.0)], [row(1000.001)], tol=Tolerance(rel=1e-9, abs=0))
    assert c.outcome == "value"
    assert c.diffs[0].control == 1000.0 and c.diffs[0].candidate == 1000.001
    assert c.diffs[0].time_ns == T and c.diffs[0].tags == {"region": "north"}


def test_integers_and_strings_are_exact() -> None:
    assert compare_rows([row(10)], [row(11)], tol=Tolerance(rel=0.5)).outcome == "value"
    assert compare_rows([row("a")], [row("a ")]).outcome == "value"
    assert compare_rows([row(True)], [row(1)]).outcome == "value"
    assert compare_rows([row(None)], [row(None)]).outcome == "match"
    assert compare_rows([row(None)], [row(0.0)]).outcome == "value"


def test_timestamps_are_exact_to_the_nanosecond() -> None:
    c = compare_rows([row(1.0, T)], [row(1.0, T + 1)])
    assert c.outcome == "missing"
    assert c.counts == {"missing": 1, "extra": 1, "value": 0}
    kinds = {d.kind: d.time_ns for d in c.diffs}
    assert kinds == {"missing": T, "extra": T + 1}


def test_extra_rows_on_the_candidate() -> None:
    c = compare_rows([row(1.0)], [row(1.0), row(2.0, region="south")])
    assert c.outcome == "extra" and c.diffs[0].tags == {"region": "south"}


def test_ignore_rules_drop_fields_and_tag_keys() -> None:
    a = [row(1.0, region="north", plant_id="x"), row(5.0, field="availability")]
    b = [row(1.0, region="north"), row(9.0, field="availability")]
    assert compare_rows(a, b).outcome != "match"
    rules = IgnoreRules.parse("field:availability, tag:plant_id")
    assert compare_rows(a, b, ignore=rules).outcome == "match"
    assert rules.as_text() == "field:availability,tag:plant_id"
    with pytest.raises(ConfigError, match="field:NAME or tag:NAME"):
        IgnoreRules.parse("region")


def test_diff_sample_is_bounded_but_counts_are_complete() -> None:
    a = [row(float(i), T + i) for i in range(100)]
    b = [row(float(i) + 1, T + i) for i in range(100)]
    c = compare_rows(a, b, max_diff=10)
    assert c.counts["value"] == 100 and len(c.diffs) == 10


def test_one_side_raising_is_an_error_and_both_raising_alike_is_a_match() -> None:
    ok = result([row(1.0)])
    down = ServerUnavailable("connection refused")
    c = compare_results(ok, down)
    assert c.outcome == "error" and "ServerUnavailable" in c.detail
    assert c.control_digest == digest(ok.rows) and c.candidate_digest is None
    assert compare_results(down, ServerUnavailable("also down")).outcome == "match"
    assert compare_results(QueryError("bad"), down).outcome == "error"


def test_a_slow_candidate_is_a_timeout() -> None:
    ok = result([row(1.0)])
    assert compare_results(ok, ok, candidate_ms=50, timeout_ms=10).outcome == "timeout"
    assert compare_results(ok, ok, candidate_ms=5, timeout_ms=10).outcome == "match"
