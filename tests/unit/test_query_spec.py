"""QuerySpec: validation against the catalog, JSON round trips, clear errors."""

from __future__ import annotations

import pytest

from onsflux.exceptions import CatalogError, InvalidQuery, QueryError
from onsflux.query import AGGREGATES, QuerySpec, duration_ns, template
from onsflux.query.spec import NS

BASE = {"measurement": "generation_data", "fields": ["power_mw"], "start": "2024-03-01",
        "stop": "2024-03-02"}


def make(**kw: object) -> QuerySpec:
    return QuerySpec.parse({**BASE, **kw})


def test_naive_times_are_read_in_the_spec_time_zone() -> None:
    s = make(timezone="America/Sao_Paulo")
    assert s.start.isoformat() == "2024-03-01T03:00:00+00:00"
    assert s.start_ns == 1_709_262_000 * NS
    assert make().start_ns == 1_709_251_200 * NS
    assert make(start="2024-03-01T01:30:00-03:00").start.hour == 4


@pytest.mark.parametrize("agg", AGGREGATES)
def test_json_round_trip(agg: str) -> None:
    s = make(aggregate=agg, every="1d", p=50 if agg == "percentile" else None,
             where={"region": ["Sudeste", "N"], "plant": "it's"}, group_by=["source"],
             fill=0 if agg != "count" else "null", order="desc", limit=7)
    again = QuerySpec.parse(s.to_json())
    assert again == s and again.to_json() == s.to_json()
    assert s.where["region"] == ("southeast", "north")  # aliases resolved to slugs


@pytest.mark.parametrize(("kw", "error", "match"), [
    ({"measurement": "nope"}, CatalogError, "unknown measurement"),
    ({"fields": ["demand_mw"]}, CatalogError, "no field 'demand_mw'"),
    ({"fields": []}, InvalidQuery, "at least one field"),
    ({"where": {"region": "atlantis"}}, CatalogError, "unknown region 'atlantis'"),
    ({"where": {"sector": "total"}}, CatalogError, "no tag 'sector'"),
    ({"where": {"plant": []}}, InvalidQuery, "no values"),
    ({"where": {"plant": ""}}, InvalidQuery, "empty value"),
    ({"group_by": ["colour"]}, CatalogError, "cannot group by"),
    ({"stop": "2024-03-01"}, InvalidQuery, "empty time range"),
    ({"start": "yesterday"}, InvalidQuery, "invalid time"),
    ({"timezone": "Mars/Olympus"}, InvalidQuery, "unknown time zone"),
    ({"every": "1h"}, InvalidQuery, "needs an aggregate"),
    ({"every": "1mo", "aggregate": "mean"}, InvalidQuery, "invalid duration"),
    ({"every": "1s", "aggregate": "mean", "stop": "2030-01-01"}, InvalidQuery, "windows"),
    ({"aggregate": "percentile"}, InvalidQuery, "p in"),
    ({"aggregate": "percentile", "p": 0}, InvalidQuery, "p in"),
    ({"aggregate": "mean", "p": 5}, InvalidQuery, "only meaningful"),
    ({"fields": ["capacity_factor"], "aggregate": "energy"}, InvalidQuery, "use sum"),
    ({"fill": "null"}, InvalidQuery, "fill applies to windows"),
    ({"fill": "sideways", "every": "1h", "aggregate": "mean"}, InvalidQuery, "invalid fill"),
    ({"top": 1, "bottom": 1}, InvalidQuery, "not both"),
    ({"top": 1, "fields": ["power_mw", "capacity_factor"]}, InvalidQuery, "exactly one"),
    ({"group_by": ["region"]}, InvalidQuery, "needs an aggregate"),
    ({"limit": 0}, InvalidQuery, "limit"),
    ({"aggregate": "integral"}, InvalidQuery, "aggregate"),
    ({"into": "x"}, InvalidQuery, "Extra inputs"),
])
def test_clear_errors(kw: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make(**kw)


def test_errors_belong_to_the_query_family() -> None:
    assert issubclass(InvalidQuery, QueryError)
    with pytest.raises(InvalidQuery, match="not valid JSON"):
        QuerySpec.parse("{")
    with pytest.raises(InvalidQuery, match="needs 'stop'"):
        QuerySpec.parse({"measurement": "generation_data", "fields": "power_mw", "start": "2024-01-01"})


def test_energy_interval_is_a_property() -> None:
    assert make(aggregate="energy").interval_hours == 1.0
    assert make(aggregate="energy", sample_interval="30m").interval_hours == 0.5
    assert duration_ns("2w") == 14 * 86400 * NS


def test_templates() -> None:
    t = template("generation_trend", "2024-03-01", "2024-03-31")
    assert (t.measurement, t.fields, t.every, t.aggregate, t.group_by) == (
        "generation_data", ("power_mw",), "1h", "mean", ("region",))
    assert template("consumption_peak", "2024-03-01", "2024-03-31").aggregate == "max"
    assert template("transmission_losses", "2024-03-01", "2024-03-31").fields == ("losses_mwh",)
    with pytest.raises(InvalidQuery, match="unknown template"):
        template("nope", "2024-03-01", "2024-03-31")


def test_public_api() -> None:
    import onsflux.query as q

    assert sorted(q.__all__) == sorted(n for n in q.__all__ if hasattr(q, n))
    assert {"QuerySpec", "Executor", "ParquetFallback", "render", "render_all",
            "check_influxql", "template"} <= set(q.__all__)


# --------------------------------------------------------------------------- local-day windows

def test_day_windows_start_at_local_midnight_and_the_offset_is_derived() -> None:
    s = make(timezone="America/Sao_Paulo", every="1d", aggregate="mean")
    assert s.window_offset == "3h" and s.window_offset_ns == 3 * 3600 * NS
    assert s.window_start_ns(s.start_ns + 5 * 3600 * NS) == s.start_ns  # 00:00 BRT = 03:00Z
    assert s.window_start_ns(s.start_ns - 1) == s.start_ns - 86400 * NS
    assert "offset" not in s.to_json()  # derived, never stored: JSON round trips unchanged
    assert QuerySpec.parse(s.to_json()) == s
    week = make(timezone="America/Sao_Paulo", every="7d", aggregate="sum")
    assert week.window_offset == "99h"  # Monday 00:00 Brasília: 4 days past the epoch's Thursday
    from datetime import UTC, datetime

    monday = datetime.fromtimestamp(week.window_start_ns(week.start_ns) / NS, UTC)
    assert monday.weekday() == 0 and monday.hour == 3
    assert make(every="7d", aggregate="sum").window_offset == "4d"  # UTC weeks: Monday too
    assert make(timezone="America/Sao_Paulo", every="24h", aggregate="sum").window_offset == "3h"
    east = make(timezone="Asia/Kolkata", every="1d", aggregate="mean")
    assert east.window_offset == "-330m"


@pytest.mark.parametrize("kw", [
    {"every": "1d", "aggregate": "mean"},                                      # UTC
    {"timezone": "America/Sao_Paulo", "every": "1h", "aggregate": "mean"},     # under a day
    {"timezone": "America/Sao_Paulo", "every": "36h", "aggregate": "mean"},    # not whole days
    {"timezone": "America/Sao_Paulo", "aggregate": "mean"},                    # no window
])
def test_no_window_offset(kw: dict[str, object]) -> None:
    s = make(**kw)
    assert s.window_offset is None and s.window_offset_ns == 0 and s.window_note is None


def test_dst_inside_the_range_is_said_not_hidden() -> None:
    # Brazil's last DST ended on 2019-02-17; the offset at start (-02:00) is used throughout
    s = make(timezone="America/Sao_Paulo", every="1d", aggregate="mean",
             start="2019-02-01", stop="2019-03-01")
    assert s.window_offset == "2h"
    assert s.window_note is not None and "-02:00" in s.window_note
    assert "daylight saving" in s.window_note
    assert make(timezone="America/Sao_Paulo", every="1d", aggregate="mean",
                start="2019-03-01", stop="2024-03-01").window_note is None
    # DST without any offset at start still drifts: said too
    assert make(timezone="Europe/London", every="1d", aggregate="mean",
                start="2024-01-01", stop="2024-06-01").window_note is not None
