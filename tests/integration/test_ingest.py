"""The ingest pipeline end to end against the real influxd of the test session.

Expected numbers are computed independently from the files (polars reading them
directly), never from our reader, so a reader or encoder bug cannot hide itself.
"""

from __future__ import annotations

import math
import os
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from onsflux import sample
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor, retry_dead_letters
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

pytestmark = pytest.mark.integration

START = date.today() - timedelta(days=10)


def ingest(settings: Settings, client: InfluxClient | None, *paths: Path, **kw: object):
    store = SqliteStateStore(settings.state_path)
    try:
        return Ingestor(settings, store, client).ingest([str(p) for p in paths], **kw)  # type: ignore[arg-type]
    finally:
        store.close()


def counts(client: InfluxClient, db: str, field: str, by: str) -> dict[str, int]:
    rows = client.query_points(f'SELECT count("{field}") FROM "{db}" GROUP BY "{by}"', db)
    return {str(r[by]): int(r["count"]) for r in rows}


def sums(client: InfluxClient, db: str, field: str, by: str) -> dict[str, float]:
    rows = client.query_points(f'SELECT sum("{field}") FROM "{db}" GROUP BY "{by}"', db)
    return {str(r[by]): float(r["sum"]) for r in rows}


@pytest.fixture
def ons_files(tmp_path: Path) -> list[Path]:
    data = sample.generate(days=3, start=START, seed=11)
    return sample.write(data, tmp_path / "ons", "ons")


def test_ons_files_land_exactly(settings: Settings, influx: InfluxClient,
                                ons_files: list[Path]) -> None:
    summary = ingest(settings, influx, *ons_files)
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    assert all(o.verified and o.verified.startswith("ok") for o in summary.objects)

    # load: count per region, computed from the CSV itself
    [load_csv] = [p for p in ons_files if p.name.startswith("CARGA")]
    raw = pl.read_csv(load_csv, separator=";")
    expected = raw.group_by("id_subsistema").len()
    region = {"N": "north", "NE": "northeast", "SE": "southeast", "S": "south"}
    assert counts(influx, "consumption_data", "demand_mw", "region") == {
        region[k]: v for k, v in expected.iter_rows()
    }
    want_sum = raw.group_by("id_subsistema").agg(pl.col("val_cargaenergiahomwmed").sum())
    got_sum = sums(influx, "consumption_data", "demand_mw", "region")
    for k, v in want_sum.iter_rows():
        assert math.isclose(got_sum[region[k]], v, rel_tol=1e-12)

    # generation: total rows and total MW across both Parquet files (one stores strings)
    gen = pl.concat([
        pl.read_parquet(p).select(pl.col("val_geracao").cast(pl.Float64))
        for p in ons_files if p.name.startswith("GERACAO")
    ])
    rows = influx.query_points('SELECT count(power_mw), sum(power_mw) FROM generation_data',
                               "generation_data")
    assert rows[0]["count"] == gen.height == sum(
        o.points for o in summary.objects if "generation_data" in o.measurements)
    assert math.isclose(rows[0]["sum"], gen["val_geracao"].sum(), rel_tol=1e-9)
    # accents, padding and MMGD rows without id_ons all arrive as canonical slugs
    plants = {r["value"] for r in influx.query_points(
        'SHOW TAG VALUES FROM generation_data WITH KEY = "plant"', "generation_data")}
    assert {"itaipu", "tucurui", "santo_antonio", "xingo"} <= plants
    assert not any(p != p.strip() or " " in p for p in plants)
    mmgd = influx.query_points(
        "SELECT count(power_mw) FROM generation_data WHERE plant =~ /mmgd/ GROUP BY plant_id",
        "generation_data")
    assert mmgd and all(r.get("plant_id", "") == "" for r in mmgd)


def test_processed_and_wide_formats_agree(settings: Settings, influx: InfluxClient,
                                          tmp_path: Path) -> None:
    data = sample.generate(days=2, start=START, seed=3)
    wide = sample.write(data, tmp_path / "wide", "wide")
    summary = ingest(settings, influx, *wide)
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    by_plant_wide = sums(influx, "generation_data", "power_mw", "plant")
    load_wide = counts(influx, "consumption_data", "demand_mw", "region")
    flows_wide = sums(influx, "transmission_data", "flow_mw", "line")

    for bucket in ("generation_data", "consumption_data", "transmission_data"):
        influx.query(f'DROP DATABASE "{bucket}"')
    processed = sample.write(data, tmp_path / "processed", "processed")
    summary = ingest(settings, influx, *processed)
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    assert counts(influx, "consumption_data", "demand_mw", "region") == load_wide
    assert sums(influx, "transmission_data", "flow_mw", "line").keys() == flows_wide.keys()
    by_plant = sums(influx, "generation_data", "power_mw", "plant")
    assert by_plant.keys() == by_plant_wide.keys()
    for k, v in by_plant.items():
        assert math.isclose(v, by_plant_wide[k], rel_tol=1e-12)

    # and both equal the sample itself
    expect = data.consumption.group_by("region").len()
    assert load_wide == dict(expect.iter_rows())


def test_reingest_is_a_noop_and_force_adds_no_duplicates(
    settings: Settings, influx: InfluxClient, ons_files: list[Path]
) -> None:
    first = ingest(settings, influx, *ons_files)
    before = counts(influx, "generation_data", "power_mw", "source")
    again = ingest(settings, influx, *ons_files)
    assert again.skipped == len(ons_files) and again.points == 0
    forced = ingest(settings, influx, *ons_files, force=True)
    assert forced.points == first.points and forced.skipped == 0
    assert counts(influx, "generation_data", "power_mw", "source") == before

    # a changed object (same size, new mtime: the fingerprint of a local file) is ingested again
    [load_csv] = [p for p in ons_files if p.name.startswith("CARGA")]
    os.utime(load_csv, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = ingest(settings, influx, *ons_files)
    assert [o.status for o in changed.objects if o.key == str(load_csv)] == ["ingested"]
    assert changed.skipped == len(ons_files) - 1


def test_dry_run_writes_nothing(settings: Settings, influx: InfluxClient,
                                ons_files: list[Path]) -> None:
    summary = ingest(settings, None, *ons_files, dry_run=True)
    assert summary.points > 0 and summary.failed == 0
    assert all(o.status == "dry_run" for o in summary.objects)
    dbs = {r["name"] for r in influx.query_points("SHOW DATABASES")}
    assert "generation_data" not in dbs
    assert SqliteStateStore(settings.state_path).objects() == []


def test_server_type_conflict_becomes_rejects_naming_rows(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    # someone wrote power_mw as an integer into the same shard first
    t = int(pl.Series([START]).cast(pl.Datetime("ns", "UTC")).dt.epoch("ns")[0]) + 3_600 * 10**9
    influx.ensure_database("generation_data")
    influx.write("generation_data",
                 f"generation_data,plant=x,region=north,source=hydro power_mw=1i {t}".encode(),
                 lines=1)
    frame = pl.DataFrame({
        "time": pl.Series([t + i * 3_600 * 10**9 for i in range(4)]).cast(pl.Datetime("ns", "UTC")),
        "region": ["north"] * 4, "source": ["hydro"] * 4, "plant": ["a", "b", "c", "d"],
        "power_mw": [1.5, 2.5, 3.5, 4.5],
    })
    path = tmp_path / "generation_data.parquet"
    frame.write_parquet(path)
    summary = ingest(settings, influx, path)
    [obj] = summary.objects
    assert obj.status == "ingested" and obj.rejected == 4 and obj.points == 0
    rejects = SqliteStateStore(settings.state_path).rejects(str(path))
    assert sorted(rejects["row"].to_list()) == [1, 2, 3, 4]
    assert all("type conflict" in r for r in rejects["reason"].to_list())


def test_points_dropped_without_their_rows_named_are_rejects_not_a_failed_verify(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    """A batch across two shards, one of which already holds ``power_mw`` as an integer:
    1.6.7 drops that shard's points ("partial write: field type conflict ... dropped=N")
    without naming them, so they become rejects with no row. The object is ingested with
    those rejects — verify allows the shortfall it was told about — and no rollup keeps
    statistics of the dropped points (rollup answers equal raw ones)."""
    from onsflux.query import Executor, QuerySpec

    hour = 3_600 * 10**9
    week = 7 * 24 * hour
    # 1.x shard groups of this retention: 7 days from a Monday (Go's Truncate from year 1)
    monday = -3 * 24 * hour  # 1969-12-29
    start = int(pl.Series([START]).cast(pl.Datetime("ns", "UTC")).dt.epoch("ns")[0])
    shard = (start - monday) // week * week + monday
    influx.ensure_database("generation_data")
    influx.write("generation_data",  # someone wrote an integer first, days before the file
                 f"generation_data,plant=x,region=north,source=hydro power_mw=1i {shard + hour}"
                 .encode(), lines=1)
    times = [shard + week - 2 * 24 * hour + i * 6 * hour for i in range(16)]  # 8 + 8
    frame = pl.DataFrame({
        "time": pl.Series(times).cast(pl.Datetime("ns", "UTC")),
        "region": ["north"] * 16, "source": ["hydro"] * 16, "plant": ["a", "b"] * 8,
        "power_mw": [float(i) + 0.5 for i in range(16)],
    })
    path = tmp_path / "generation_data.parquet"
    frame.write_parquet(path)
    summary = ingest(settings, influx, path)
    [obj] = summary.objects
    assert obj.status == "ingested", obj.error
    assert obj.rejected == 8 and obj.points == 8
    rejects = SqliteStateStore(settings.state_path).rejects(str(path))
    assert rejects["row"].null_count() == 8 and all(
        "type conflict" in r for r in rejects["reason"].to_list())
    day = 24 * hour
    spec = QuerySpec.parse({
        "measurement": "generation_data", "fields": ["power_mw"], "aggregate": "sum",
        "every": "1d", "group_by": ["plant"], "timezone": "UTC",
        "start": rfc(times[0] // day * day), "stop": rfc((times[-1] // day + 1) * day)})
    with Executor(settings, fallback=None) as on, \
            Executor(settings.with_overrides(rollups=False), fallback=None) as off:
        got, raw = on.run(spec), off.run(spec)
    assert [(r.key(), r.value) for r in got.rows] == [(r.key(), r.value) for r in raw.rows]
    assert sum(r.value or 0 for r in raw.rows) == sum(float(i) + 0.5 for i in range(8, 16))


def rfc(ns: int) -> str:
    from onsflux.frames import rfc3339

    return rfc3339(ns, seconds=True)


def test_server_down_mid_ingest_dead_letter_then_retry(tmp_path: Path) -> None:
    """Stop a dedicated influxd after the first chunk; retries fail; dlq retry completes it."""
    from onsflux.influx.local import LocalServer
    from tests.conftest import fast_settings

    server = LocalServer(tmp_path / "influxd")
    handle = server.up()
    try:
        s = fast_settings(handle.url, tmp_path, chunk_rows=5_000, batch_lines=1_000,
                          write_workers=2)
        data = sample.generate(days=5, start=START, seed=5)
        [gen, *_] = sample.write(data, tmp_path / "wide", "wide")
        expected = pl.read_parquet(gen).height
        store = SqliteStateStore(s.state_path)
        chunks: list[int] = []
        stopped: list[bool] = []

        def stop_after_first_chunk(event: str, payload: dict[str, object]) -> None:
            if event == "rows":
                chunks.append(1)
                if len(chunks) == 2:  # the first chunk has been handed to the writers
                    server.down()
                    stopped.append(True)

        with InfluxClient(s, url=handle.url) as client:
            first = Ingestor(s, store, client, progress=stop_after_first_chunk).ingest([str(gen)])
        [obj] = first.objects
        assert stopped and obj.status == "failed" and obj.retryable
        [dead] = store.dead_letters()
        assert dead.key == str(gen) and dead.kind in ("unavailable", "circuit_open")

        handle = server.up(port=handle.port)
        with InfluxClient(s, url=handle.url) as client:
            retried = retry_dead_letters(Ingestor(s, store, client))
            assert retried.failed == 0 and retried.points == expected
            assert store.dead_letters() == []
            rows = client.query_points("SELECT count(power_mw) FROM generation_data",
                                       "generation_data")
            assert rows[0]["count"] == expected  # exact: nothing lost, nothing doubled
        store.close()
    finally:
        server.down()


def test_verify_catches_a_server_that_acknowledges_but_loses_points(
    settings: Settings, influx: InfluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that answers 204 but stores nothing must fail the object, not pass as ok:
    ``verify=count`` reads back the totals and names exactly what was lost."""
    from onsflux.influx import WriteOutcome

    data = sample.generate(days=2, start=START, seed=4)
    [gen, *_] = sample.write(data, tmp_path / "wide", "wide")
    real_write = InfluxClient.write
    calls: list[int] = []

    def lossy_write(self: InfluxClient, bucket: str, body: bytes, *, lines: int,
                    rp: str | None = None) -> WriteOutcome:
        calls.append(lines)
        if len(calls) == 2:  # acknowledge the second batch without sending it
            return WriteOutcome(status=204, lines=lines)
        return real_write(self, bucket, body, lines=lines, rp=rp)

    monkeypatch.setattr(InfluxClient, "write", lossy_write)
    s = settings.with_overrides(batch_lines=500, verify="count")
    summary = ingest(s, influx, gen)
    [obj] = summary.objects
    assert obj.status == "failed" and obj.error is not None
    assert f"generation_data.power_mw: {calls[1]} points missing" in obj.error
    assert [d.key for d in SqliteStateStore(s.state_path).dead_letters()] == [str(gen)]


def test_sampled_verify_catches_a_lost_batch_of_a_time_ordered_file(
    settings: Settings, influx: InfluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default ``verify=sample`` trusts the acknowledgements but reads back a few whole
    series: a batch acknowledged and lost in a time-ordered file (every batch then holds
    points of every plant) leaves those series short, and the object fails."""
    from onsflux.influx import WriteOutcome

    data = sample.generate(days=2, start=START, seed=4)
    [gen, *_] = sample.write(data, tmp_path / "wide", "wide")
    frame = pl.read_parquet(gen)
    real_write = InfluxClient.write
    lost: list[bytes] = []

    def lossy_write(self: InfluxClient, bucket: str, body: bytes, *, lines: int,
                    rp: str | None = None) -> WriteOutcome:
        if bucket == "generation_data" and b"generation_data," in bytes(body)[:40] and not lost:
            lost.append(bytes(body))  # the first batch of raw points: acknowledged, dropped
            return WriteOutcome(status=204, lines=lines)
        return real_write(self, bucket, body, lines=lines, rp=rp)

    monkeypatch.setattr(InfluxClient, "write", lossy_write)
    s = settings.with_overrides(batch_lines=frame.select(pl.col("plant").n_unique()).item() * 2)
    assert s.verify == "sample"  # the default
    summary = ingest(s, influx, gen)
    [obj] = summary.objects
    assert lost and obj.status == "failed" and obj.error is not None, obj.as_dict()
    assert "points missing" in obj.error and "generation_data.power_mw" in obj.error
    assert [d.key for d in SqliteStateStore(s.state_path).dead_letters()] == [str(gen)]


def test_sampled_verify_passes_a_clean_object_without_scanning_it(
    settings: Settings, influx: InfluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean object is verified from its acknowledgements and a read-back of a few
    series: the per-field totals over the object's whole time range (a scan of every
    point written) are never asked for."""
    import onsflux.ingest.pipeline as pipeline

    def no_scan(*args: object, **kw: object) -> dict[str, int]:
        raise AssertionError("verify=sample must not count every point written")

    data = sample.generate(days=2, start=START - timedelta(days=30), seed=5)
    [gen, *_] = sample.write(data, tmp_path / "wide", "wide")
    monkeypatch.setattr(pipeline, "count_totals", no_scan)
    summary = ingest(settings, influx, gen)
    [obj] = summary.objects
    assert obj.status == "ingested", obj.as_dict()
    assert obj.verified is not None and "series read back" in obj.verified
    # and the server holds exactly the file's points (counted from the file itself)
    frame = pl.read_parquet(gen)
    [row] = influx.query_points("SELECT count(power_mw) FROM generation_data", "generation_data")
    assert row["count"] == frame["power_mw"].is_not_null().sum()
    # its periods were proven exclusive by the pre-count: the rollups were kept and marked
    from onsflux.query.rollup import DAILY, HOURLY

    for rollup, every in ((HOURLY, "1h"), (DAILY, "1d")):
        [marks] = influx.query_points(f"SELECT count(covered) FROM {rollup.markers}",
                                      "generation_data")
        assert marks["count"] == frame.select(pl.col("time").dt.truncate(every).n_unique()).item()
