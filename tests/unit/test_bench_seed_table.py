"""``onsflux bench seed`` judges each check on the median of its runs, min and max beside
it: one lucky or unlucky run must not decide met or missed."""

from __future__ import annotations

from typing import Any

from onsflux.bench.seed import _median_run, _table


def _run(write_p95: float, query_p95: dict[str, float], ops: int, errors: int = 0
         ) -> dict[str, Any]:
    return {
        "writes": {"latency": {"p95_ms": write_p95, "p50_ms": write_p95 / 2},
                   "achieved_points_per_s": 10_000, "errors": errors},
        "queries": {n: {"p95_ms": v, "p50_ms": v / 2, "served_from": "influxdb", "query": n}
                    for n, v in query_p95.items()},
        "mixed": {"ops_per_s": ops, "requests_per_s": 50.0,
                  "read": {"p95_ms": 100.0, "errors": 0},
                  "write": {"p95_ms": 200.0, "errors": 0}},
    }


def test_the_median_run_decides_and_the_spread_is_shown() -> None:
    runs = [_run(15, {"trend": 90, "by_plant": 240}, 6000),
            _run(80, {"trend": 100, "by_plant": 900}, 4000),   # one bad run
            _run(18, {"trend": 95, "by_plant": 230}, 5500)]
    result = _median_run(runs)
    assert result["writes"]["p95_ms"] == {"median": 18, "min": 15, "max": 80}
    assert result["queries"]["by_plant"]["p95_ms"]["median"] == 240
    a, b, c = _table(result)
    assert a["goal_met"] and "18 ms [15-80]" in a["measured"]
    assert b["goal_met"] and "(by_plant)" in b["measured"]  # the worst query is named
    assert c["goal_met"] and c["measured"].startswith("5500 ops/s [4000-6000]")


def test_errors_fail_a_check_whatever_the_latency() -> None:
    runs = [_run(5, {"q": 10}, 9000, errors=1)] * 3
    a, _, _ = _table(_median_run(runs))
    assert not a["goal_met"] and not a["original_met"]
