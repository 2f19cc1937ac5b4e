"""Hourly and daily rollups against the session's real influxd: rollup answers equal raw
answers.

The same spec runs twice on the same server: once with rollups on (the planner answers
from ``generation_data_region_1h`` — per region and hour —, ``generation_data_1h`` — per
region, source and hour — or ``generation_data_1d`` — per region, source, plant and UTC
day — when exactly equivalent, reading the raw series
for the ends of a period that are not whole buckets) and once with them off (the raw
series). Across aggregates x windows x filters x groups the rows must match: same
series in the same order, same times, counts/min/max bit-identical, sums and means to
1e-12 relative (the server adds the same numbers in another order). Then the data
changes under the rollups — a re-ingest with new values, another object in the same
hours, a deleted series, a migration — and the answers must still match.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from onsflux.influx import InfluxClient, ServerHandle, WriteOutcome
from onsflux.influx.rollup import refresh, uncover
from onsflux.ingest.pipeline import Ingestor
from onsflux.plants import PLANTS
from onsflux.query import Executor, QuerySpec, rollup
from onsflux.query.result import QueryResult
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.support.influx import load_wide_sample

pytestmark = pytest.mark.integration

START = date(2024, 3, 4)
DAYS = 3
PERIOD = {"start": "2024-03-04T03:00:00Z", "stop": "2024-03-07T03:00:00Z"}  # Brasília days
AGGREGATES = ["mean", "sum", "count", "min", "max", "energy"]
WINDOWS = [None, "1h", "3h", "1d"]
FILTERS: list[dict[str, list[str]]] = [
    {}, {"region": ["northeast"]}, {"source": ["wind", "solar"]},
    {"region": ["southeast"], "source": ["hydro"]},
]
GROUPS: list[list[str]] = [[], ["region"], ["source"], ["region", "source"]]
#: the daily rollup: UTC days alone (two whole days); widened to whole UTC days (the
#: Brasília days: the data starts and ends with them, so the rest of those UTC days is
#: empty); split into whole days and raw ends (inside the data)
DAY_PERIODS = [{"start": "2024-03-05T00:00:00Z", "stop": "2024-03-07T00:00:00Z"}, PERIOD,
               {"start": "2024-03-04T06:00:00Z", "stop": "2024-03-06T21:00:00Z"}]
DAY_WINDOWS = [None, "1d", "2d"]
DAY_FILTERS: list[dict[str, list[str]]] = [
    {}, {"plant": ["itaipu", "tucurui"]}, {"source": ["wind"]},
    {"region": ["northeast"], "plant": ["xingo", "sobradinho"]},
]
DAY_GROUPS: list[list[str]] = [["plant"], ["region", "plant"], [], ["source"]]
REGION, HOURLY, DAILY = "generation_data_region_1h", "generation_data_1h", "generation_data_1d"
NORTHEAST_WIND = {p.slug for p in PLANTS if p.region == "northeast" and p.source == "wind"}


@pytest.fixture(scope="module")
def loaded(influx_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Settings, Path]]:
    tmp = tmp_path_factory.mktemp("rollups")
    s = fast_settings(influx_server.url, tmp)
    with InfluxClient(s, url=influx_server.url) as client:
        load_wide_sample(s, client, tmp / "wide", days=DAYS, start=START, seed=9)
    yield s, tmp
    for pair in _EXECUTORS.values():
        for ex in pair:
            ex.close()
    _EXECUTORS.clear()


def _spec(aggregate: str, every: str | None, where: dict[str, list[str]],
          group_by: list[str], period: dict[str, str] = PERIOD,
          timezone: str = "America/Sao_Paulo") -> QuerySpec:
    data: dict[str, object] = {"measurement": "generation_data", "fields": ["power_mw"],
                               **period, "aggregate": aggregate, "where": where,
                               "group_by": group_by, "timezone": timezone}
    if every:
        data["every"] = every
    return QuerySpec.parse(data)


_EXECUTORS: dict[int, tuple[Executor, Executor]] = {}


def _both(s: Settings, spec: QuerySpec) -> tuple[QueryResult, QueryResult]:
    """``spec`` with rollups on, and with them off (one pair of executors per settings)."""
    pair = _EXECUTORS.get(id(s))
    if pair is None:
        pair = _EXECUTORS[id(s)] = (Executor(s, fallback=None),
                                    Executor(s.with_overrides(rollups=False), fallback=None))
    on, off = pair
    return on.run(spec), off.run(spec)


def _used(query: str) -> str | None:
    """The rollup a query read (its statements name one at most), None: the raw series."""
    names = set(re.findall(r'"onsflux_rollups"\."([^"]+)"', query))
    assert len(names) <= 1, query
    return names.pop() if names else None


def _expected_rollup(spec: QuerySpec) -> str | None:
    """Which rollup the planner must pick: the cheapest whose tags the spec needs."""
    if spec.every is None and spec.aggregate in ("min", "max"):
        return None  # the raw sample's time is part of the answer
    tags = {*spec.where, *spec.group_by}
    return REGION if tags <= {"region"} else HOURLY if tags <= {"region", "source"} else DAILY


def _assert_same(spec: QuerySpec, got: QueryResult, want: QueryResult) -> None:
    assert len(got.rows) == len(want.rows), (spec.to_dict(), got.query)
    # the same series in the same order (the server's: by tag set, then time)
    assert [r.key() for r in got.rows] == [r.key() for r in want.rows], got.query
    by_key = {r.key(): r.value for r in want.rows}
    exact = spec.aggregate in ("count", "min", "max")
    for row in got.rows:
        assert row.key() in by_key, (row, got.query)
        expected = by_key[row.key()]
        if exact or expected is None or row.value is None:
            assert row.value == expected, (row, expected, got.query)
        else:
            assert math.isclose(row.value, expected, rel_tol=1e-12), (row, expected)


@pytest.mark.parametrize("aggregate,every", list(itertools.product(AGGREGATES, WINDOWS)))
def test_rollup_answers_equal_raw_answers(loaded: tuple[Settings, Path], aggregate: str,
                                          every: str | None) -> None:
    s, _ = loaded
    for where, group_by in itertools.product(FILTERS, GROUPS):
        spec = _spec(aggregate, every, where, group_by)
        got, raw = _both(s, spec)
        assert _used(raw.query) is None
        # min/max without windows: the raw sample's time is part of the answer (raw)
        assert _used(got.query) == _expected_rollup(spec), got.query
        assert raw.rows, spec.to_dict()  # the comparison compares something
        _assert_same(spec, got, raw)


@pytest.mark.parametrize("aggregate,every,period", list(itertools.product(
    AGGREGATES, DAY_WINDOWS, range(len(DAY_PERIODS)))))
def test_daily_rollup_answers_equal_raw_answers(loaded: tuple[Settings, Path], aggregate: str,
                                                every: str | None, period: int) -> None:
    """Per plant (filters and groups), UTC-day windows: the daily rollup answers alone over
    whole days, over the whole UTC days holding the Brasília days (nothing else in them),
    and with the raw series for the ends of a period inside the data."""
    s, _ = loaded
    for where, group_by in itertools.product(DAY_FILTERS, DAY_GROUPS):
        spec = _spec(aggregate, every, where, group_by, DAY_PERIODS[period], timezone="UTC")
        got, raw = _both(s, spec)
        assert _used(raw.query) is None
        want = _expected_rollup(spec)
        assert _used(got.query) == want, (spec.to_dict(), got.query)
        if want == DAILY:  # the ends of the period are read raw only when split
            assert ('FROM "generation_data" ' in got.query) == (period == 2), got.query
        assert raw.rows, spec.to_dict()
        _assert_same(spec, got, raw)


def test_specs_the_daily_rollup_cannot_answer_read_the_raw_series(
        loaded: tuple[Settings, Path]) -> None:
    s, _ = loaded
    days = DAY_PERIODS[0]
    cases = [
        _spec("mean", None, {}, ["plant"], {"start": "2024-03-05T00:00:00Z",
                                             "stop": "2024-03-05T12:00:00Z"}, "UTC"),  # half a day
        _spec("sum", "6h", {}, ["plant"], days, "UTC"),                # 6-hour windows
        _spec("sum", "1d", {}, ["plant"], days),                       # local-time days (-03:00)
        _spec("median", None, {"plant": ["itaipu"]}, [], days, "UTC"),  # needs raw samples
        _spec("max", None, {}, ["plant"], days, "UTC"),                # the raw sample's time
        QuerySpec.parse({**_spec("mean", "1d", {}, ["plant"], PERIOD, "UTC").to_dict(),
                         "fill": "null"}),                             # fill over split period
        # beyond the covered days: the markers say the rollup does not cover it
        _spec("sum", None, {}, ["plant"], {"start": "2024-03-01T00:00:00Z",
                                            "stop": "2024-03-06T00:00:00Z"}, "UTC"),
    ]
    for spec in cases:
        got, raw = _both(s, spec)
        assert _used(got.query) is None, spec.to_dict()
        assert got.rows and got.rows == raw.rows, spec.to_dict()


def test_whole_hours_inside_a_period_are_read_from_the_hourly_rollup(
        loaded: tuple[Settings, Path]) -> None:
    """Half an hour at each end: the whole hours come from the rollup, the ends raw."""
    s, _ = loaded
    for aggregate, every in [("sum", None), ("mean", "1h"), ("count", "3h"), ("max", "1h")]:
        spec = _spec(aggregate, every, {"region": ["south"]}, ["source"],
                     {"start": "2024-03-04T03:30:00Z", "stop": "2024-03-06T12:30:00Z"})
        got, raw = _both(s, spec)
        assert _used(got.query) == HOURLY and 'FROM "generation_data" ' in got.query, got.query
        assert raw.rows
        _assert_same(spec, got, raw)


def test_the_daily_rollup_stands_in_for_uncovered_hours(loaded: tuple[Settings, Path]) -> None:
    """Region totals need no source or plant, but when the hourly rollups lost their
    coverage the next one answers them (summing sources, then plants), and ``refresh``
    brings the hourly ones back."""
    s, _ = loaded
    spec = _spec("sum", "1d", {}, ["region"], DAY_PERIODS[0], "UTC")
    assert _used(_both(s, spec)[0].query) == REGION
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        uncover(client, "generation_data", spec.start_ns, spec.stop_ns,
                rollups=[rollup.REGION_HOURLY])
        got, raw = _both(s, spec)
        assert _used(got.query) == HOURLY, got.query
        _assert_same(spec, got, raw)
        uncover(client, "generation_data", spec.start_ns, spec.stop_ns, rollups=[rollup.HOURLY])
        got, raw = _both(s, spec)
        assert _used(got.query) == DAILY, got.query
        _assert_same(spec, got, raw)
        refresh(client, "generation_data", spec.start_ns, spec.stop_ns - 1)
    assert _used(_both(s, spec)[0].query) == REGION


def test_specs_a_rollup_cannot_answer_read_the_raw_series(loaded: tuple[Settings, Path]) -> None:
    s, _ = loaded
    cases = [
        _spec("mean", "1h", {"plant": ["itaipu"]}, []),               # hourly drops plant
        _spec("mean", None, {}, ["state"]),                           # group both drop
        _spec("median", "1h", {}, []),                                # needs raw samples
        _spec("mean", "30m", {}, []),                                 # not whole hours
        QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                         "start": "2024-03-04T03:30:00Z", "stop": "2024-03-04T04:30:00Z",
                         "aggregate": "sum"}),                        # no whole hour inside
        # mostly beyond the covered periods: fewer than half of any rollup's are covered
        QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                         "start": "2024-02-20T00:00:00Z", "stop": "2024-03-07T03:00:00Z",
                         "aggregate": "sum", "group_by": ["region"]}),
    ]
    for spec in cases:
        got, raw = _both(s, spec)
        assert _used(got.query) is None, spec.to_dict()
        assert got.rows == raw.rows


def test_rollups_follow_a_reingest_and_a_deletion(loaded: tuple[Settings, Path]) -> None:
    """New values for a file and a deleted series: the rollup answers follow the raw data."""
    s, tmp = loaded
    spec = _spec("sum", "1d", {}, ["region", "source"])
    mean = _spec("mean", "1h", {}, ["region"])
    by_plant = _spec("sum", "1d", {}, ["plant"], DAY_PERIODS[0], "UTC")
    plant_mean = _spec("mean", None, {"source": ["wind"]}, ["plant"], PERIOD, "UTC")
    before, _ = _both(s, spec)
    plants_before, _ = _both(s, by_plant)
    # re-ingest the generation file with every value doubled
    wide = next(p for p in (tmp / "wide").iterdir() if "generation" in p.name)
    doubled = tmp / "doubled" / wide.name
    doubled.parent.mkdir()
    frame = pl.read_parquet(wide) if wide.suffix == ".parquet" else pl.read_csv(wide)
    frame.with_columns(pl.col("power_mw") * 2).write_parquet(doubled.with_suffix(".parquet"))
    store = SqliteStateStore(s.state_path)
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        try:
            summary = Ingestor(s, store, client).ingest([str(doubled.with_suffix(".parquet"))],
                                                        force=True)
        finally:
            store.close()
        assert summary.failed == 0, summary.as_dict()
        after, raw_after = _both(s, spec)
        assert _used(after.query) == HOURLY
        _assert_same(spec, after, raw_after)
        old = {r.key(): r.value for r in before.rows}
        assert any(r.value != old.get(r.key()) for r in after.rows)  # it really changed
        for q in (by_plant, plant_mean):  # the re-ingest kept the daily rollup too
            got, raw = _both(s, q)
            assert _used(got.query) == DAILY, got.query
            _assert_same(q, got, raw)
        old = {r.key(): r.value for r in plants_before.rows}
        assert any(r.value != old.get(r.key()) for r in _both(s, by_plant)[0].rows)
        # delete one region's wind series (what a rollback does), then refresh with clear
        client.query("DELETE FROM generation_data WHERE region = 'northeast' "
                     "AND source = 'wind'", db="generation_data")
        refresh(client, "generation_data", QuerySpec.parse({**spec.to_dict()}).start_ns,
                spec.stop_ns - 1, clear=True)
    for q in (spec, mean, by_plant, plant_mean):
        got, raw = _both(s, q)
        assert _used(got.query) == _expected_rollup(q), got.query
        _assert_same(q, got, raw)
    gone, _ = _both(s, spec)
    assert not [r for r in gone.rows if r.tags == {"region": "northeast", "source": "wind"}]
    wind, _ = _both(s, plant_mean)
    assert wind.rows and not [r for r in wind.rows if r.tags["plant"] in NORTHEAST_WIND]


def test_an_ingest_with_rollups_off_still_uncovers_what_it_changes(
        loaded: tuple[Settings, Path]) -> None:
    """``ONSFLUX_ROLLUPS=false`` on the writer: it keeps no rollup, but the periods it
    rewrote must not stay covered by rows computed from the old values."""
    s, tmp = loaded
    spec = _spec("sum", "1d", {}, ["region"], DAY_PERIODS[0], "UTC")
    by_plant = _spec("mean", None, {}, ["plant"], DAY_PERIODS[0], "UTC")
    assert _used(_both(s, spec)[0].query) == REGION
    wide = next(p for p in (tmp / "wide").iterdir() if "generation" in p.name)
    frame = pl.read_parquet(wide) if wide.suffix == ".parquet" else pl.read_csv(wide)
    tripled = tmp / "tripled.parquet"
    frame.with_columns(pl.col("power_mw") * 3).write_parquet(tripled)
    store = SqliteStateStore(s.state_path)
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        try:
            summary = Ingestor(s.with_overrides(rollups=False), store, client).ingest(
                [str(tripled)], force=True)
        finally:
            store.close()
        assert summary.failed == 0, summary.as_dict()
        for q in (spec, by_plant):
            got, raw = _both(s, q)
            assert _used(got.query) is None, got.query
            assert got.rows == raw.rows
        refresh(client, "generation_data", QuerySpec.parse(PERIOD | {
            "measurement": "generation_data", "fields": ["power_mw"]}).start_ns,
            QuerySpec.parse(PERIOD | {"measurement": "generation_data",
                                      "fields": ["power_mw"]}).stop_ns - 1)
    for q in (spec, by_plant):  # refresh rebuilt every rollup from the raw series
        got, raw = _both(s, q)
        assert _used(got.query) == _expected_rollup(q), got.query
        _assert_same(q, got, raw)


def test_a_reingest_that_fails_midway_leaves_no_stale_rollup(
        loaded: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrected file re-ingested into covered hours, and the server goes away after a
    few batches: the hours already rewritten must not be answered from the old rollup
    (their markers go before the raw points change, not after the object succeeds).
    Retrying the object covers them again with the new values, though the failed attempt
    could not say it ended."""
    import onsflux.ingest.pipeline as pipeline
    from onsflux.exceptions import ServerUnavailable

    s, tmp = loaded
    spec = _spec("sum", "1d", {}, ["region", "source"])
    hourly = _spec("mean", "1h", {}, ["region"])
    by_plant = _spec("mean", None, {}, ["plant"], {"start": "2024-03-04T00:00:00Z",
                                                    "stop": "2024-03-06T00:00:00Z"}, "UTC")
    assert _used(_both(s, spec)[0].query) == HOURLY
    assert _used(_both(s, by_plant)[0].query) == DAILY
    wide = next(p for p in (tmp / "wide").iterdir() if "generation" in p.name)
    frame = pl.read_parquet(wide) if wide.suffix == ".parquet" else pl.read_csv(wide)
    corrected = tmp / "corrected" / "generation_data.parquet"
    corrected.parent.mkdir()
    frame.with_columns(pl.col("power_mw") * 3 + 1).write_parquet(corrected)
    small = s.with_overrides(chunk_rows=400, batch_lines=100)

    real_write = pipeline.write_batch
    calls = {"n": 0}

    def server_goes_away(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] > 6:  # the first chunk and a half are written
            raise ServerUnavailable("simulated: InfluxDB went away mid-ingest")
        return real_write(*args, **kwargs)  # type: ignore[arg-type]

    def ingest() -> pipeline.Summary:
        store = SqliteStateStore(s.state_path)
        with InfluxClient(small, url=s.influxdb_url or "") as client:
            try:
                summary = Ingestor(small, store, client).ingest([str(corrected)], force=True)
            finally:
                store.close()
        return summary

    monkeypatch.setattr(pipeline, "write_batch", server_goes_away)
    # gone for good: the failed attempt cannot say its claims ended either
    monkeypatch.setattr(pipeline.Ingestor, "_end_claims", lambda self, expect: None)
    failed = ingest()
    assert failed.failed == 1 and failed.points > 0
    for q in (spec, hourly, by_plant):
        got, raw = _both(s, q)
        # the rewritten hours (and their days) read raw, the others may still be rolled up
        assert 'FROM "generation_data" ' in got.query, got.query
        _assert_same(q, got, raw)

    monkeypatch.undo()
    retried = ingest()  # its own earlier attempt's claims do not hold it back
    assert retried.failed == 0, retried.as_dict()
    for q in (spec, hourly, by_plant):
        got, raw = _both(s, q)
        assert _used(got.query) == _expected_rollup(q)  # covered again, with the new values
        _assert_same(q, got, raw)


def test_an_object_sharing_hours_with_another_uncovers_them(
        loaded: tuple[Settings, Path]) -> None:
    """A second object with other plants in the same hours: the first object's rollup no
    longer holds every point of those hours, so they are uncovered and read raw — and the
    answer counts both objects' points."""
    s, tmp = loaded
    spec = _spec("count", "1d", {}, ["region"])
    before, _ = _both(s, spec)
    assert _used(before.query) == REGION
    extra = tmp / "extra.parquet"
    pl.DataFrame({
        "time": pl.Series([1709532000000000000, 1709535600000000000]).cast(
            pl.Datetime("ns", "UTC")),                                   # 2024-03-04 06:00Z, 07:00Z
        "region": ["northeast", "northeast"], "source": ["wind", "wind"],
        "plant": ["extra_plant", "extra_plant"], "power_mw": [10.0, 20.0],
    }).write_parquet(extra)
    store = SqliteStateStore(s.state_path)
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        try:
            summary = Ingestor(s, store, client).ingest([str(extra)])
        finally:
            store.close()
    assert summary.failed == 0, summary.as_dict()
    got, raw = _both(s, spec)
    # those hours are no longer covered: read raw, the rest from the rollup
    assert _used(got.query) == REGION and 'FROM "generation_data" ' in got.query, got.query
    _assert_same(spec, got, raw)
    old = {r.key(): r.value for r in before.rows}
    assert sum(r.value or 0 for r in got.rows) == sum(v or 0 for v in old.values()) + 2
    later = QuerySpec.parse({**spec.to_dict(), "start": "2024-03-05T03:00:00Z"})
    assert _used(_both(s, later)[0].query) == REGION  # other days still covered
    # per plant: the UTC day of those hours is no longer the daily rollup's either
    day4 = _spec("count", None, {}, ["plant"], {"start": "2024-03-04T00:00:00Z",
                                                 "stop": "2024-03-06T00:00:00Z"}, "UTC")
    got, raw = _both(s, day4)
    assert _used(got.query) == DAILY  # 2024-03-05 from the rollup, 2024-03-04 raw
    assert "time >= '2024-03-04T00:00:00Z' AND time < '2024-03-05T00:00:00Z'" in got.query
    _assert_same(day4, got, raw)
    assert [r for r in got.rows if r.tags.get("plant") == "extra_plant"][0].value == 2
    day5 = QuerySpec.parse({**day4.to_dict(), "start": "2024-03-05T00:00:00Z"})
    assert _used(_both(s, day5)[0].query) == DAILY


def test_migration_and_rollback_uncover_the_hours_they_touch(
        loaded: tuple[Settings, Path]) -> None:
    """Migration (before it writes a partition) and rollback (before it deletes) call
    ``uncover`` on the catalog's bucket; another bucket's writes leave the rollup alone."""
    s, _ = loaded
    spec = _spec("sum", "1d", {}, ["region"])
    day = QuerySpec.parse({**spec.to_dict(), "start": "2024-03-06T03:00:00Z"})
    plants = _spec("sum", None, {}, ["plant"], {"start": "2024-03-06T00:00:00Z",
                                                 "stop": "2024-03-07T00:00:00Z"}, "UTC")
    assert _used(_both(s, day)[0].query) == REGION
    assert _used(_both(s, plants)[0].query) == DAILY
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        uncover(client, "generation_data", day.start_ns, day.stop_ns, bucket="bench_migrate")
        assert _used(_both(s, day)[0].query) == REGION
        assert _used(_both(s, plants)[0].query) == DAILY
        # one hour of 2024-03-06 changes: its hour and its whole UTC day are uncovered
        hour = plants.start_ns + 5 * 3_600_000_000_000
        uncover(client, "generation_data", hour, hour + 1, bucket="generation_data")
        got, raw = _both(s, plants)
        assert _used(got.query) is None
        assert got.rows == raw.rows
        uncover(client, "generation_data", day.start_ns, day.stop_ns, bucket="generation_data")
    got, raw = _both(s, day)
    assert _used(got.query) is None
    assert got.rows == raw.rows


def test_hours_another_writer_marked_meanwhile_are_uncovered(
        loaded: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-count found an object's hours empty, but another writer covered them after
    the object's points were written (two ingests of overlapping files at once): the object
    must not keep its own rollup rows there, so the hours end uncovered and read raw.
    A control object on another day, with nobody else writing, keeps its rollup."""
    import onsflux.ingest.pipeline as pipeline
    from onsflux.influx.rollup import marked, marked_hours

    s, tmp = loaded
    real_write = pipeline.write_batch
    racing = {"on": True}
    hours: dict[str, int] = {}

    def write_then_someone_marks(client: InfluxClient, bucket: str, body: bytes | memoryview,
                                 lines: int) -> WriteOutcome:
        outcome = real_write(client, bucket, body, lines)
        if racing["on"]:  # the other writer's markers, once the object's points are in
            marks = rollup.HOURLY.marker_lines(hours["start"], hours["stop"])
            client.write(bucket, marks, lines=marks.count(b"\n"))
        return outcome

    monkeypatch.setattr(pipeline, "write_batch", write_then_someone_marks)

    def one_object(name: str, day: str) -> tuple[int, int]:
        t0 = int(pl.Series([f"{day}T06:00:00"]).str.to_datetime(time_zone="UTC")
                 .dt.epoch("ns").item())
        hours.update(start=t0, stop=t0 + 2 * 3_600_000_000_000)
        path = tmp / f"{name}.parquet"
        pl.DataFrame({
            "time": pl.Series([t0, t0 + 3_600_000_000_000]).cast(pl.Datetime("ns", "UTC")),
            "region": ["south", "south"], "source": ["wind", "wind"],
            "plant": [name, name], "power_mw": [1.0, 2.0],
        }).write_parquet(path)
        store = SqliteStateStore(s.state_path)
        with InfluxClient(s, url=s.influxdb_url or "") as client:
            try:
                summary = Ingestor(s, store, client).ingest([str(path)])
            finally:
                store.close()
        assert summary.failed == 0, summary.as_dict()
        return t0, t0 + 2 * 3_600_000_000_000

    start, stop = one_object("racer", "2024-03-20")
    racing["on"] = False
    c_start, c_stop = one_object("control", "2024-03-22")
    with InfluxClient(s, url=s.influxdb_url or "") as client:
        assert marked(client, "generation_data", start, stop) == 0  # no rollup answers them
        assert marked_hours(client, "generation_data", c_start, c_stop) == 2
        assert marked(client, "generation_data", c_start, c_stop, rollups=[rollup.DAILY]) == 1


def test_an_object_written_into_the_hours_meanwhile_uncovers_them(
        loaded: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ingests of overlapping files at once: X finds its hours empty and writes its
    first batch; Y (other plants, same hours) runs whole meanwhile — it finds X's points,
    so it keeps no rollup and marks nothing. X must not then keep its own rollup rows:
    they would lack Y's points (its pre-count ran before Y wrote, and no marker tells).
    The hours end uncovered and the rollup answer equals the raw one, counting both."""
    import onsflux.ingest.pipeline as pipeline

    s, tmp = loaded
    t0 = int(pl.Series(["2024-03-25T06:00:00"]).str.to_datetime(time_zone="UTC")
             .dt.epoch("ns").item())

    def obj(name: str) -> Path:
        path = tmp / f"overlap_{name}.parquet"
        pl.DataFrame({
            "time": pl.Series([t0, t0 + 3_600_000_000_000]).cast(pl.Datetime("ns", "UTC")),
            "region": ["south", "south"], "source": ["wind", "wind"],
            "plant": [f"{name}_plant"] * 2, "power_mw": [1.0, 2.0],
        }).write_parquet(path)
        return path

    def ingest(path: Path) -> pipeline.Summary:
        store = SqliteStateStore(s.state_path)
        with InfluxClient(s, url=s.influxdb_url or "") as client:
            try:
                return Ingestor(s, store, client).ingest([str(path)])
            finally:
                store.close()

    real_write = pipeline.write_batch
    others: list[pipeline.Summary] = []
    started = {"y": False}

    def y_runs_meanwhile(client: InfluxClient, bucket: str, body: bytes | memoryview,
                         lines: int) -> WriteOutcome:
        outcome = real_write(client, bucket, body, lines)
        if not started["y"]:  # after X's first batch: the other ingest, start to finish
            started["y"] = True
            others.append(ingest(obj("y")))
        return outcome

    monkeypatch.setattr(pipeline, "write_batch", y_runs_meanwhile)
    x = ingest(obj("x"))
    assert x.failed == 0 and others[0].failed == 0, (x.as_dict(), others[0].as_dict())
    spec = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                            "start": "2024-03-25T06:00:00Z", "stop": "2024-03-25T08:00:00Z",
                            "aggregate": "count", "group_by": ["region"], "every": "1h"})
    daily = QuerySpec.parse({**spec.to_dict(), "start": "2024-03-25T00:00:00Z",
                             "stop": "2024-03-26T00:00:00Z", "group_by": ["plant"],
                             "every": None, "aggregate": "sum", "timezone": "UTC"})
    for q in (spec, daily):
        got, raw = _both(s, q)
        assert _used(got.query) is None, got.query  # read raw: no rollup holds both
        _assert_same(q, got, raw)
    assert [r.value for r in _both(s, spec)[1].rows] == [2, 2]  # both objects' points
