"""The query engine against the session's real influxd 1.6.7, and the Parquet fallback.

Sample data (wide Parquet) is ingested once for this module with the ``Ingestor``; the
same files are the fallback's input. The equivalence matrix runs every aggregate, with
and without windows, with tag filters and group-by, through InfluxQL on the server and
through polars on the files, and requires the same rows and numbers (1e-9 relative); day
windows in America/Sao_Paulo (``time(1d, 3h)``: 00:00 Brasília) are held to it too.
This module never drops databases between its tests; it owns them for its duration.
"""

from __future__ import annotations

import itertools
import math
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from onsflux.exceptions import CircuitOpen, InvalidQuery, ServerUnavailable
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.ingest.encode import batches, encode_lines
from onsflux.query import AGGREGATES, Executor, ParquetFallback, QuerySpec, render, template
from onsflux.query.result import QueryResult, Row
from onsflux.settings import Settings
from tests.conftest import fast_settings
from tests.support.influx import load_wide_sample

pytestmark = pytest.mark.integration

START = date(2024, 3, 1)
DAYS = 4
T0, T1 = "2024-03-01T06:00:00Z", "2024-03-04T18:00:00Z"  # inside the data, not aligned to days
NASTY = [
    "it's", 'say "hi"', "back\\slash", "trail\\", ".*", "^itaipu$", "a|b", "|> drop()",
    "x; DROP DATABASE generation_data", "line\nbreak", "${x}", "/regex/", "' OR '1'='1",
    "\" OR \"\"=\"", "-- comment", "/* c */",
]


@pytest.fixture(scope="module")
def loaded(influx_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Settings, Path]]:
    tmp = tmp_path_factory.mktemp("query")
    s = fast_settings(influx_server.url, tmp)
    with InfluxClient(s, url=influx_server.url) as client:
        load_wide_sample(s, client, tmp / "wide", days=DAYS, start=START, seed=5)
    yield s.with_overrides(fallback_path=str(tmp / "wide")), tmp / "wide"


@pytest.fixture
def executor(loaded: tuple[Settings, Path]) -> Iterator[Executor]:
    s, _ = loaded
    with Executor(s, fallback=None) as ex:  # the server or an error, never the files
        assert ex.fallback is None
        yield ex


@pytest.fixture
def fallback(loaded: tuple[Settings, Path]) -> ParquetFallback:
    s, path = loaded
    return ParquetFallback(path, s)


def _index(result: QueryResult) -> dict[tuple[object, ...], Row]:
    out: dict[tuple[object, ...], Row] = {}
    for r in result.rows:
        assert r.key() not in out, f"duplicate row {r}"
        out[r.key()] = r
    return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_equivalent(spec: QuerySpec, server: QueryResult, local: QueryResult) -> None:
    # two code paths, or the comparison proves nothing
    assert (server.served_from, local.served_from) == ("influxdb", "s3_fallback")
    got, want = _index(server), _index(local)
    if spec.every is None:  # selectors stamp rows with a point's time: compare values only
        got = {k[:2]: v for k, v in got.items()}
        want = {k[:2]: v for k, v in want.items()}
    assert got.keys() == want.keys(), (spec.to_json(), sorted(got)[:5], sorted(want)[:5])
    bad = [(k, got[k].value, want[k].value) for k in got if not _same(got[k].value, want[k].value)]
    assert not bad, (spec.to_json(), bad[:5])
    assert server.truncated == local.truncated


SHAPES = {
    "all": {},
    "regions_by_source": {"where": {"region": ["north", "northeast"]}, "group_by": ["source"]},
    "one_plant": {"where": {"plant": "itaipu"}},
    "by_region_and_source": {"group_by": ["region", "source"], "where": {"source": ["wind", "solar"]}},
}
MATRIX = [
    pytest.param(agg, every, shape, id=f"{agg}-{every or 'total'}-{shape}")
    for agg, every, shape in itertools.product(AGGREGATES, (None, "6h", "1d"), SHAPES)
]


def _spec(agg: str, every: str | None, shape: str, **extra: object) -> QuerySpec:
    return QuerySpec.parse({
        "measurement": "generation_data", "fields": ["power_mw"], "start": T0, "stop": T1,
        "aggregate": agg, "every": every, "p": 90 if agg == "percentile" else None,
        **SHAPES[shape], **extra,
    })


@pytest.mark.parametrize(("agg", "every", "shape"), MATRIX)
def test_influxql_and_fallback_agree(executor: Executor, fallback: ParquetFallback,
                                     agg: str, every: str | None, shape: str) -> None:
    spec = _spec(agg, every, shape)
    server = executor.run(spec)
    assert server.served_from == "influxdb" and server.dialect == "influxql"
    assert server.rows, spec.to_json()
    if agg in ("first", "last") and every is None:
        # many series share the first/last timestamp; which one InfluxQL returns then
        # depends on its internal series order: require one of the tied points
        assert_tied_selector(spec, server, fallback)
        return
    assert_equivalent(spec, server, fallback.run(spec))


def assert_tied_selector(spec: QuerySpec, server: QueryResult, fallback: ParquetFallback) -> None:
    lf = fallback.long_frame(spec).filter(
        (pl.col("time") >= spec.start_ns) & (pl.col("time") < spec.stop_ns))
    for tag, values in spec.where.items():
        lf = lf.filter(pl.col(tag).is_in(list(values)))
    keys = ["_field", *spec.group_by]
    edge = pl.col("time").min() if spec.aggregate == "first" else pl.col("time").max()
    df = lf.filter(pl.col("time") == edge.over(keys)).collect()
    local = fallback.run(spec)
    assert len(server.rows) == len(local.rows)
    for row in server.rows:
        mask = pl.col("_field") == row.field
        for t in spec.group_by:
            mask &= pl.col(t) == row.tags[t]
        candidates = set(df.filter(mask)["_value"].to_list())
        assert row.value in candidates, (spec.to_json(), row, sorted(candidates)[:5])


BRT = "America/Sao_Paulo"
LOCAL_DAYS = [
    pytest.param(agg, every, shape, id=f"{agg}-{every}-{shape}-brt")
    for agg, every, shape in itertools.product(
        ("mean", "sum", "count", "max", "first", "last", "energy", "percentile"), ("1d", "7d"),
        ("all", "regions_by_source"))
]


@pytest.mark.parametrize(("agg", "every", "shape"), LOCAL_DAYS)
def test_local_day_windows_agree_and_start_at_brasilia_midnight(
        executor: Executor, fallback: ParquetFallback, agg: str, every: str, shape: str) -> None:
    spec = _spec(agg, every, shape, timezone=BRT)
    offset = "3h" if every == "1d" else "99h"  # weeks: Monday 00:00 = Thursday epoch + 4 d 3 h
    assert spec.window_offset == offset
    server = executor.run(spec)
    assert f"time({every}, {offset})" in server.query and server.rows
    local = fallback.run(spec)
    assert_equivalent(spec, server, local)
    if agg not in ("max", "first", "last", "percentile"):  # selectors: the point's time
        # every window starts at 00:00 Brasília = 03:00 UTC (not 21:00 UTC, not 00:00 UTC)
        for result in (server, local):
            assert {r.time_ns % (86400 * 10**9) for r in result.rows} == {3 * 3600 * 10**9}
            if every == "7d":  # ... on a Monday
                assert {(r.time_ns // (86400 * 10**9) + 3) % 7 for r in result.rows} == {0}


def test_local_days_on_the_server_are_brasilia_days(executor: Executor) -> None:
    """The server's ``time(1d, 3h)`` day == the sum of the hours from 00:00 to 24:00 BRT."""
    day = QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                           "where": {"region": "south"}, "start": "2024-03-02",
                           "stop": "2024-03-03", "timezone": BRT, "every": "1d",
                           "aggregate": "sum"})
    hours = day.replace(every="1h")
    (row,) = executor.run(day).rows
    assert row.time_ns == day.start_ns == 1_709_348_400 * 10**9  # 2024-03-02T03:00:00Z
    hourly = executor.run(hours).rows
    assert len(hourly) == 24
    assert math.isclose(row.value or 0, sum(r.value or 0 for r in hourly), rel_tol=1e-12)
    # and a UTC day differs: the windows really moved
    utc = executor.run(day.replace(timezone="UTC")).rows
    assert utc[0].time_ns == 1_709_337_600 * 10**9  # 2024-03-02T00:00:00Z
    # pinned: InfluxQL's offset moves boundaries *later*; time(1d, -3h) would be 21:00 UTC
    # (18:00 Brasília), the opposite of what local midnight needs
    text = executor.run(day).query.replace("time(1d, 3h)", "time(1d, -3h)")
    wrong = executor.run_influxql(text, db="consumption_data").rows
    assert {r.time_ns % (86400 * 10**9) for r in wrong} == {21 * 3600 * 10**9}


def test_dst_drift_is_a_warning_of_the_result(executor: Executor) -> None:
    spec = _spec("mean", "1d", "all", timezone=BRT, start="2019-02-01", stop="2019-03-01")
    assert spec.window_note is not None
    assert spec.window_note in executor.run(spec).warnings
    assert not executor.run(_spec("mean", "1d", "all", timezone=BRT)).warnings


@pytest.mark.parametrize("fill", ["null", "previous", 0.0])
def test_local_day_fill_agrees(executor: Executor, fallback: ParquetFallback,
                               fill: object) -> None:
    # the range runs two Brasília days past the data: empty windows to fill
    spec = _spec("mean", "1d", "regions_by_source", fill=fill, timezone=BRT,
                 start="2024-02-28", stop="2024-03-08")
    server, local = executor.run(spec), fallback.run(spec)
    assert any(r.value is None for r in server.rows) == (fill != 0.0)
    assert {r.time_ns % (86400 * 10**9) for r in server.rows} == {3 * 3600 * 10**9}
    assert_equivalent(spec, server, local)


@pytest.mark.parametrize("fill", ["null", "previous", "linear", 0.0, -1.5])
@pytest.mark.parametrize("agg", ["mean", "count", "sum", "max"])
def test_fill_semantics_agree(executor: Executor, fallback: ParquetFallback, agg: str,
                              fill: object) -> None:
    # hourly samples in 30-minute windows: every other window is empty
    spec = _spec(agg, "30m", "regions_by_source", fill=fill, start="2024-02-29T20:00:00Z",
                 stop="2024-03-01T12:00:00Z")
    server = executor.run(spec)
    # the range starts before the data: no previous value there, nothing to interpolate from
    nulls = fill in ("previous", "linear") or (fill == "null" and agg != "count")
    assert any(r.value is None for r in server.rows) == nulls
    assert_equivalent(spec, server, fallback.run(spec))


def test_multiple_fields_and_desc_order(executor: Executor, fallback: ParquetFallback) -> None:
    spec = QuerySpec.parse({"measurement": "generation_data",
                            "fields": ["power_mw", "capacity_factor"], "start": T0, "stop": T1,
                            "every": "1d", "aggregate": "mean", "group_by": ["region"],
                            "order": "desc"})
    server = executor.run(spec)
    assert {r.field for r in server.rows} == {"power_mw", "capacity_factor"}
    assert_equivalent(spec, server, fallback.run(spec))


@pytest.mark.parametrize("kind", ["top", "bottom"])
def test_top_bottom(executor: Executor, fallback: ParquetFallback, kind: str) -> None:
    spec = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                            "start": T0, "stop": T1, "aggregate": "mean", "group_by": ["plant"],
                            kind: 5})
    server, local = executor.run(spec), fallback.run(spec)
    assert server.served_from == "influxdb" and len(server.rows) == 5
    assert sorted((r.tags["plant"], round(r.value or 0, 6)) for r in server.rows) == sorted(
        (r.tags["plant"], round(r.value or 0, 6)) for r in local.rows)


def test_raw_points_limit_and_truncation(executor: Executor, fallback: ParquetFallback) -> None:
    spec = QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "where": {"region": "south"}, "start": T0, "stop": T1, "limit": 10})
    server, local = executor.run(spec), fallback.run(spec)
    assert server.served_from == "influxdb"
    assert server.truncated and local.truncated and server.row_count == 10 == local.row_count
    assert [(r.time_ns, r.value, r.tags["region"]) for r in server.rows] == [
        (r.time_ns, r.value, r.tags["region"]) for r in local.rows]
    whole = executor.run(spec.replace(limit=1000))
    assert not whole.truncated and whole.row_count == len({r.time_ns for r in whole.rows})


@pytest.mark.parametrize("name", ["generation_trend", "consumption_peak", "transmission_losses"])
def test_templates_run_and_agree(executor: Executor, fallback: ParquetFallback, name: str) -> None:
    spec = template(name, T0, T1)
    server = executor.run(spec)
    assert server.rows
    assert_equivalent(spec, server, fallback.run(spec))


# --------------------------------------------------------------------------- injection


@pytest.fixture(scope="module")
def nasty_points(loaded: tuple[Settings, Path]) -> list[str]:
    """One point per nasty plant name, written with the encoder's escaping."""
    s, _ = loaded
    # line protocol can carry neither a newline nor a trailing backslash in a tag value
    plants = [v for v in NASTY if "\n" not in v and not v.endswith("\\")]
    frame = pl.DataFrame({
        "time": [1_710_028_800_000_000_000 + i * 10**9 for i in range(len(plants))],  # 2024-03-10
        "region": ["south"] * len(plants), "source": ["wind"] * len(plants), "plant": plants,
        "power_mw": [1000.0 + i for i in range(len(plants))],
    })
    lines = encode_lines("generation_data", frame, ["region", "source", "plant"],
                         {"power_mw": "float"})
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        for a, b, body in batches(lines, 1000, 1 << 20):
            assert client.write("generation_data", body, lines=b - a).ok
    return plants


@pytest.mark.parametrize("value", NASTY)
def test_nasty_tag_values_are_inert_literals(executor: Executor, nasty_points: list[str],
                                             value: str) -> None:
    spec = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                            "where": {"plant": value}, "start": "2024-03-10",
                            "stop": "2024-03-11"})  # apart from the sample data
    rows = executor.run(spec).rows
    if value in nasty_points:  # exactly the one point with that name: matched literally
        assert [(r.tags["plant"], r.value) for r in rows] == [
            (value, 1000.0 + nasty_points.index(value))]
    else:
        assert rows == []
    # and a similar name that does not exist matches nothing (no pattern semantics)
    other = executor.run(spec.replace(where={"plant": value + "zz"}))
    assert other.rows == []


@pytest.mark.parametrize("field", ['power_mw" FROM x --', "power_mw; DROP", "*"])
def test_nasty_field_names_are_refused(field: str) -> None:
    with pytest.raises(Exception, match="no field"):
        QuerySpec.parse({"measurement": "generation_data", "fields": [field],
                         "start": T0, "stop": T1})


def test_every_rendered_influxql_of_the_matrix_runs(executor: Executor) -> None:
    """Rendering every spec shape the unit matrix renders: the server accepts them all."""
    from tests.unit.test_query_render import render_matrix

    ran = 0
    for spec in render_matrix():
        executor.client.query(render(spec, "influxql").text, db=spec.bucket, method="GET")
        ran += 1
    assert ran > 100


def test_raw_influxql_read_only(executor: Executor) -> None:
    r = executor.run_influxql('SELECT count("demand_mw") FROM "consumption_data"',
                              db="consumption_data")
    assert r.rows and r.rows[0].value == DAYS * 24 * 5
    assert executor.run_influxql("SHOW MEASUREMENTS", db="consumption_data").rows
    for bad in ('DROP DATABASE "consumption_data"',
                'SELECT * INTO "x" FROM "consumption_data"',
                'SELECT * FROM "consumption_data"; DROP DATABASE "consumption_data"',
                "-- hi\nDELETE FROM consumption_data"):
        with pytest.raises(InvalidQuery):
            executor.run_influxql(bad, db="consumption_data")
    assert executor.run_influxql("SHOW DATABASES").rows  # still there


# --------------------------------------------------------------------------- down


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there


def test_server_down_falls_back_to_parquet(loaded: tuple[Settings, Path],
                                           executor: Executor) -> None:
    s, path = loaded
    spec = template("generation_trend", T0, T1)
    down = s.with_overrides(influxdb_url=_dead_url(), breaker_failures=2)
    with Executor(down) as ex:
        first = ex.run(spec)
        assert first.served_from == "s3_fallback"
        assert "unavailable" in first.warnings[0]
        ex.run(spec)
        assert ex.client.breaker.state == "open"
        third = ex.run(spec)  # breaker open: no connection attempt at all
        assert third.served_from == "s3_fallback" and "circuit_open" in third.warnings[0]
    assert_equivalent(spec, executor.run(spec), first)


def test_without_fallback_the_error_surfaces(loaded: tuple[Settings, Path]) -> None:
    s, _ = loaded
    spec = template("consumption_peak", T0, T1)
    down = s.with_overrides(influxdb_url=_dead_url(), breaker_failures=1,
                            breaker_reset_seconds=0.2)
    with Executor(down, fallback=None) as ex:
        with pytest.raises(ServerUnavailable):
            ex.run(spec)
        with pytest.raises(CircuitOpen):
            ex.run(spec)
        assert ex.client.breaker.state == "open"
        import time

        time.sleep(0.25)
        assert ex.client.breaker.state == "half_open"
        with pytest.raises(ServerUnavailable):  # the one trial call fails: open again
            ex.run(spec)
        assert ex.client.breaker.state == "open"


def test_breaker_closes_again_when_the_server_answers(loaded: tuple[Settings, Path]) -> None:
    s, _ = loaded
    spec = template("transmission_losses", T0, T1)
    with Executor(s.with_overrides(breaker_failures=1, breaker_reset_seconds=0.2)) as ex:
        ex.client.breaker.record_failure()
        assert ex.client.breaker.state == "open"
        assert ex.run(spec).served_from == "s3_fallback"  # open: answered from Parquet
        import time

        time.sleep(0.25)
        result = ex.run(spec)  # half-open trial succeeds
        assert result.served_from == "influxdb"
        assert ex.client.breaker.state == "closed"


def test_get_does_not_protect_on_1_6_7(executor: Executor) -> None:
    """Pinned finding: 1.6.7 *executes* writes sent as GET /query (it only warns
    "deprecated use of ... in a read only context"), so ``check_influxql`` is the guard."""
    executor.client.query('CREATE DATABASE "onsflux_guard_probe"')
    executor.client.query('DROP DATABASE "onsflux_guard_probe"', method="GET")
    names = {r.tags.get("name", "") for r in executor.run_influxql("SHOW DATABASES").rows}
    assert "onsflux_guard_probe" not in names
