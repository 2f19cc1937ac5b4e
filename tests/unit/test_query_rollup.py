"""The rollup planner, without a server: which rollup answers which spec, how a period
that is not made of whole buckets is split, and how the parts' statistics recombine.

The rows the planner's queries return are checked against the raw series on a real
server in ``tests/integration/test_rollups.py``; here the rules are pinned as a table.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from onsflux.query import QuerySpec
from onsflux.query.rollup import (
    DAILY,
    HOURLY,
    REGION_HOURLY,
    Plan,
    combine,
    patched,
    plans,
    rollups_of,
    why_not,
)

H = 3_600_000_000_000
D = 24 * H
T0 = 1_709_251_200_000_000_000  # 2024-03-01T00:00:00Z, a UTC midnight


def _spec(**kw: Any) -> QuerySpec:
    data: dict[str, Any] = {"measurement": "generation_data", "fields": ["power_mw"],
                            "start": "2024-03-01T00:00:00Z", "stop": "2024-03-31T00:00:00Z",
                            "aggregate": "mean"}
    data.update(kw)
    return QuerySpec.parse(data)


def test_the_chain_is_cheapest_first_and_only_daily_keeps_plants() -> None:
    assert rollups_of("generation_data") == (REGION_HOURLY, HOURLY, DAILY)
    assert rollups_of("consumption_data") == ()
    assert HOURLY.period_ns == H and DAILY.period_ns == D
    assert "plant" in DAILY.tags and "plant" not in HOURLY.tags
    assert len({r.markers for r in rollups_of("generation_data")}) == 3  # coverage per rollup


# (spec overrides, the rollups of the candidate plans in order)
CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"group_by": ["plant"]}, ["generation_data_1d"]),
    ({"where": {"plant": ["itaipu"]}, "every": "1d", "timezone": "UTC"}, ["generation_data_1d"]),
    ({"group_by": ["region"]},
     ["generation_data_region_1h", "generation_data_1h", "generation_data_1d"]),
    ({"group_by": ["source"], "every": "3h"}, ["generation_data_1h"]),  # 3h: not whole days
    ({"group_by": ["plant"], "every": "2d"}, ["generation_data_1d"]),
    ({"group_by": ["plant"], "aggregate": "energy"}, ["generation_data_1d"]),
    ({"group_by": ["plant"], "aggregate": "max", "every": "1d"}, ["generation_data_1d"]),
    # whole hours, not whole days: the daily rollup over the days holding the period when
    # the raw series has nothing in them outside it (widened), else the whole days inside
    # and the raw ends (split)
    ({"group_by": ["plant"], "start": "2024-03-01T05:00:00Z",
      "stop": "2024-03-30T07:00:00Z"}, ["generation_data_1d", "generation_data_1d"]),
    # cannot: a half day, 6-hour windows, a local-time day, median, min without windows,
    # top, fill null over a split period, a tag no rollup keeps, a field none keeps
    ({"group_by": ["plant"], "start": "2024-03-01T00:00:00Z",
      "stop": "2024-03-01T12:00:00Z"}, []),
    ({"group_by": ["plant"], "every": "6h"}, []),
    ({"group_by": ["plant"], "every": "1d", "timezone": "America/Sao_Paulo"}, []),
    ({"group_by": ["plant"], "aggregate": "median"}, []),
    ({"group_by": ["plant"], "aggregate": "min"}, []),
    ({"top": 3}, []),
    ({"group_by": ["plant"], "every": "1d", "fill": "null",
      "start": "2024-03-01T05:00:00Z"}, []),
    ({"group_by": ["state"]}, []),
    ({"fields": ["capacity_factor"]}, []),
    # fill null over whole days reads one rollup alone, so it may
    ({"group_by": ["plant"], "every": "1d", "fill": "null"}, ["generation_data_1d"]),
    # local-midnight windows are whole hours: the hourly rollup answers them
    ({"group_by": ["region"], "every": "1d", "timezone": "America/Sao_Paulo"},
     ["generation_data_region_1h", "generation_data_1h"]),
]


@pytest.mark.parametrize("overrides,expected", CASES)
def test_candidate_plans(overrides: dict[str, Any], expected: list[str]) -> None:
    spec = _spec(**overrides)
    got = plans(spec)
    assert [p.rollup.name for p in got] == expected
    for p in got:
        assert why_not(spec, p.rollup) is None
        assert p.rollup.name in p.text
    if not expected:
        assert why_not(spec) is not None


def test_whole_buckets_read_the_rollup_alone() -> None:
    (p,) = plans(_spec(group_by=["plant"]))
    assert not p.parts  # one statement whose rows are the answer
    assert (p.start_ns, p.stop_ns) == (T0, T0 + 30 * D)
    assert 'FROM "generation_data"."onsflux_rollups"."generation_data_1d"' in p.text
    assert 'FROM "generation_data" ' not in p.text
    assert 'sum("power_mw_sum") / sum("power_mw_count")' in p.text


@pytest.mark.parametrize("aggregate,expr", [
    ("mean", '"power_mw_sum" / "power_mw_count"'), ("sum", '"power_mw_sum"'),
    ("count", '"power_mw_count"'), ("min", '"power_mw_min"'), ("max", '"power_mw_max"'),
    ("energy", '"power_mw_sum" * 1.0'),
])
def test_rows_that_are_the_answer_are_selected_not_aggregated(aggregate: str, expr: str) -> None:
    """Hourly windows by region from the per-region hourly rollup: each rollup row is one
    window of one series, so the statement reads them as they are (no GROUP BY time)."""
    spec = _spec(aggregate=aggregate, every="1h", group_by=["region"], order="desc")
    text = plans(spec)[0].text
    assert text.startswith(f'SELECT {expr} AS "power_mw" FROM ') and REGION_HOURLY.name in text
    assert "time(" not in text and text.endswith(
        'GROUP BY "region" ORDER BY time DESC LIMIT 10001')
    # not when windows span several rows, groups merge rows, or empty windows are filled
    for other in (spec.replace(every="3h"), spec.replace(group_by=[]),
                  spec.replace(fill="null")):
        assert "time(" in plans(other)[0].text


def _split(spec: QuerySpec) -> Plan:
    """The split plan (the second candidate, after the widened one)."""
    widened, split = plans(spec)
    assert widened.gaps and not widened.parts and split.parts and not split.gaps
    return split


def test_a_widened_plan_reads_whole_days_when_the_raw_gaps_are_empty() -> None:
    spec = _spec(group_by=["plant"], where={"source": "wind"},
                 start="2024-03-01T05:00:00Z", stop="2024-03-30T07:00:00Z")
    widened = plans(spec)[0]
    assert (widened.start_ns, widened.stop_ns) == (T0, T0 + 30 * D)  # coverage: all 30 days
    assert widened.gaps == ((T0, T0 + 5 * H), (T0 + 29 * D + 7 * H, T0 + 30 * D))
    assert widened.text.count("SELECT") == 1 and "generation_data_1d" in widened.text
    counts = widened.gaps_text.split(";\n")
    assert len(counts) == 2
    for text in counts:  # the gaps are counted on the raw series, with the spec's filters
        assert text.startswith('SELECT count("power_mw")') and 'FROM "generation_data" ' in text
        assert "\"source\" = 'wind'" in text


def test_a_period_of_whole_hours_is_split_at_midnights() -> None:
    spec = _spec(group_by=["plant"], start="2024-03-01T05:00:00Z", stop="2024-03-30T07:00:00Z")
    p = _split(spec)
    spans = [(part.source, part.start_ns, part.stop_ns) for part in p.parts]
    assert spans == [
        ("generation_data", T0 + 5 * H, T0 + D),                # raw: 5h .. midnight
        ("generation_data_1d", T0 + D, T0 + 29 * D),           # the whole days
        ("generation_data", T0 + 29 * D, T0 + 29 * D + 7 * H),  # raw: midnight .. 7h
    ]
    assert (p.start_ns, p.stop_ns) == (T0 + D, T0 + 29 * D)  # coverage: the rollup's days
    assert p.text.count(";") == 2  # one request, three statements
    for part in p.parts:
        assert "GROUP BY" in part.text and '"plant"' in part.text


def test_an_aligned_start_has_no_head_part() -> None:
    p = _split(_spec(group_by=["plant"], stop="2024-03-30T07:00:00Z"))
    assert [part.source for part in p.parts] == ["generation_data_1d", "generation_data"]


def _result(sid: int, series: list[tuple[dict[str, str], list[str], list[list[Any]]]]
            ) -> dict[str, Any]:
    return {"statement_id": sid, "series": [
        {"name": "x", "tags": tags, "columns": ["time", *cols], "values": values}
        for tags, cols, values in series]}


def test_combine_recombines_statistics_of_the_parts() -> None:
    spec = _spec(group_by=["plant"], start="2024-03-01T05:00:00Z", stop="2024-03-30T07:00:00Z")
    p = _split(spec)
    cols = ["power_mw__sum", "power_mw__count"]
    results = [
        _result(0, [({"plant": "b"}, cols, [[T0 + 5 * H, 10.0, 2]])]),
        _result(1, [({"plant": "a"}, cols, [[T0 + D, 30.0, 3]]),
                    ({"plant": "b"}, cols, [[T0 + D, 50.0, 3]])]),
        _result(2, [({"plant": "a"}, cols, [[T0 + 29 * D, 6.0, 1]])]),
    ]
    rows = combine(spec, p, results)
    # series in the server's order (by tag set), times at the spec's start (no windows)
    assert [(r.tags, r.time_ns, r.value) for r in rows] == [
        ({"plant": "a"}, spec.start_ns, 36.0 / 4),
        ({"plant": "b"}, spec.start_ns, 60.0 / 5),
    ]


@pytest.mark.parametrize("aggregate,cols,expected", [
    ("sum", ["power_mw__sum"], [7.0, 5.0]),
    ("count", ["power_mw__count"], [3.0, 2.0]),
    ("min", ["power_mw__min"], [1.0, 5.0]),
    ("max", ["power_mw__max"], [4.0, 5.0]),
    ("energy", ["power_mw__sum"], [7.0, 5.0]),  # hourly samples: MWh = sum x 1 h
])
def test_combine_per_window(aggregate: str, cols: list[str], expected: list[float]) -> None:
    """Two-day windows: the head part and the first whole day share the first window."""
    spec = _spec(aggregate=aggregate, every="2d", timezone="UTC", where={"plant": "itaipu"},
                 start="2024-03-02T05:00:00Z", stop="2024-03-06T00:00:00Z")
    p = _split(spec)
    assert [part.source for part in p.parts] == ["generation_data", "generation_data_1d"]
    w0, w1 = T0 + D, T0 + 3 * D  # 2d windows start on even days since the epoch
    value = {"power_mw__sum": (3.0, 4.0, 5.0), "power_mw__count": (1, 2, 2),
             "power_mw__min": (1.0, 2.0, 5.0), "power_mw__max": (1.0, 4.0, 5.0)}
    head = [[w0, *(value[c][0] for c in cols)]]
    days = [[w0, *(value[c][1] for c in cols)], [w1, *(value[c][2] for c in cols)]]
    rows = combine(spec, p, [_result(0, [({}, cols, head)]), _result(1, [({}, cols, days)])])
    assert [(r.time_ns, r.value) for r in rows] == [(w0, expected[0]), (w1, expected[1])]


def test_combine_orders_descending_and_keeps_one_more_than_the_limit_per_series() -> None:
    spec = _spec(aggregate="sum", every="1d", timezone="UTC", order="desc", limit=2,
                 where={"plant": "itaipu"}, start="2024-03-01T05:00:00Z",
                 stop="2024-03-05T00:00:00Z")
    p = _split(spec)
    cols = ["power_mw__sum"]
    days = [[T0 + k * D, float(k)] for k in (3, 2, 1)]  # the server answers newest first
    rows = combine(spec, p, [_result(0, [({}, cols, [[T0, 0.5]])]),
                             _result(1, [({}, cols, days)])])
    assert [r.time_ns for r in rows] == [T0 + 3 * D, T0 + 2 * D, T0 + D]  # limit + 1


def test_refresh_and_markers_follow_each_rollups_period() -> None:
    text = DAILY.refresh_influxql(T0, T0 + 2 * D)
    assert 'INTO "generation_data"."onsflux_rollups"."generation_data_1d"' in text
    assert "time(1d)" in text and '"plant"' in text
    assert "time(1h)" in HOURLY.refresh_influxql(T0, T0 + H)
    assert DAILY.span(T0 + 5 * H, T0 + D + 7 * H) == (T0, T0 + 2 * D)
    assert HOURLY.span(T0 + 5 * H + 1, T0 + 5 * H + 2) == (T0 + 5 * H, T0 + 6 * H)
    lines = DAILY.marker_lines(T0, T0 + 2 * D).decode().splitlines()
    assert lines == [f"{DAILY.markers},measurement=generation_data covered=1i {T0}",
                     f"{DAILY.markers},measurement=generation_data covered=1i {T0 + D}"]


def test_partials_are_each_rollups_statistics_per_period_and_tags() -> None:
    frame = pl.DataFrame({
        "time": [T0 + 1 * H, T0 + 2 * H, T0 + D + 3 * H, T0 + 4 * H],
        "region": ["south", "south", "south", "south"], "source": ["wind"] * 4,
        "plant": ["osorio", "osorio", "osorio", "campos"],
        "power_mw": [10.0, 30.0, 5.0, 7.0], "capacity_factor": [0.1, 0.2, 0.3, 0.4],
    })
    daily = DAILY.partials(frame, ["power_mw", "capacity_factor"])
    assert daily is not None
    got = {(r["time"], r["plant"]): (r["power_mw_sum"], r["power_mw_count"], r["power_mw_min"],
                                     r["power_mw_max"]) for r in daily.to_dicts()}
    assert got == {(T0, "osorio"): (40.0, 2, 10.0, 30.0), (T0 + D, "osorio"): (5.0, 1, 5.0, 5.0),
                   (T0, "campos"): (7.0, 1, 7.0, 7.0)}
    assert "capacity_factor_sum" not in daily.columns  # only the rolled fields
    hourly = HOURLY.partials(frame, ["power_mw"])
    assert hourly is not None and hourly.height == 4 and "plant" not in hourly.columns
    assert DAILY.partials(frame.drop("plant"), ["power_mw"]) is None  # a tag it keeps is missing


def test_patched_reads_uncovered_periods_raw_and_the_covered_from_the_rollup() -> None:
    """Day 3 of five is shared with another file (uncovered): days 1-2 and 4-5 come from
    the daily rollup, day 3 and the ends from the raw series."""
    spec = _spec(group_by=["plant"], start="2024-03-01T05:00:00Z", stop="2024-03-07T07:00:00Z")
    days = [T0 + k * D for k in range(1, 6)]  # the whole days inside: Mar 2 .. Mar 6
    p = patched(spec, DAILY, {days[0], days[1], days[3]})
    assert p is not None
    assert [(part.source, part.start_ns, part.stop_ns) for part in p.parts] == [
        ("generation_data", T0 + 5 * H, days[0]),
        ("generation_data_1d", days[0], days[2]),
        ("generation_data", days[2], days[3]),
        ("generation_data_1d", days[3], days[4]),
        ("generation_data", days[4], T0 + 6 * D + 7 * H),  # the uncovered last day, the end
    ]
    # the statistics of any number of parts add up as for three
    cols = ["power_mw__sum", "power_mw__count"]
    results = [_result(i, [({"plant": "a"}, cols, [[part.start_ns, float(i + 1), 1]])])
               for i, part in enumerate(p.parts)]
    [row] = combine(spec, p, results)
    assert row.value == (1 + 2 + 3 + 4 + 5) / 5 and row.time_ns == spec.start_ns


@pytest.mark.parametrize("covered,why", [
    (set(), "nothing covered"),
    ({T0 + D, T0 + 2 * D}, "fewer than half of the five days"),
])
def test_patched_gives_up_when_raw_is_about_as_cheap(covered: set[int], why: str) -> None:
    spec = _spec(group_by=["plant"], start="2024-03-01T05:00:00Z", stop="2024-03-07T07:00:00Z")
    assert patched(spec, DAILY, covered) is None, why


def test_patched_never_fills_windows_or_answers_what_the_rollup_cannot() -> None:
    days = {T0 + k * D for k in range(30)}
    spec = _spec(group_by=["plant"], every="1d", timezone="UTC", fill="null")
    assert patched(spec, DAILY, days) is None
    assert patched(_spec(group_by=["plant"]), HOURLY, days) is None  # hourly drops plant
    assert patched(_spec(group_by=["plant"], aggregate="median"), DAILY, days) is None
