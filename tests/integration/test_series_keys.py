"""Issue 9, wrong numbers item 1 and names item 16: one series key per quantity, whatever
the input format; a file that would add a parallel series is refused unless allowed.

Against the real influxd of the test session. Expected series come from the sample's own
tables and the catalog, not from the ingest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from onsflux import catalog, sample
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.ingest.series import parse_series_key
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

pytestmark = pytest.mark.integration

START = date.today() - timedelta(days=12)


def _ingest(settings: Settings, client: InfluxClient, paths: list[Path], **kw: bool):
    store = SqliteStateStore(settings.state_path)
    try:
        return Ingestor(settings, store, client, **kw).ingest([str(p) for p in paths])
    finally:
        store.close()


def _series(client: InfluxClient, measurement: str) -> list[dict[str, str]]:
    rows = client.query_points(f'SHOW SERIES FROM "{measurement}"', measurement)
    return [parse_series_key(r["key"])[1] for r in rows]


def test_every_format_writes_the_same_series_so_nothing_doubles(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    """The demo's "try next": the wide and processed samples after the ONS files add no
    series (the load was `sector=total` from ONS and sector-less from the others)."""
    data = sample.generate(days=2, start=START, seed=3)
    ons = sample.write(data, tmp_path / "ons", "ons")
    first = _ingest(settings, influx, ons)
    assert first.failed == 0, first.as_dict()
    before = {m: _series(influx, m) for m in catalog.MEASUREMENTS}
    subsystems = "SELECT sum(demand_mw) FROM consumption_data WHERE region != 'sin'"
    load_sum = influx.query_points(subsystems, "consumption_data")[0]["sum"]
    for fmt in ("wide", "processed"):
        summary = _ingest(settings, influx, sample.write(data, tmp_path / fmt, fmt))
        assert summary.failed == 0, summary.as_dict()
        for m in catalog.MEASUREMENTS:
            # the ONS load files have no SIN row; the other samples add its (own) series
            now = [s for s in _series(influx, m) if s.get("region") != "sin"]
            assert sorted(map(str, now)) == sorted(map(str, before[m])), (fmt, m)
    # the ONS load series carry sector=total; so does every other format (catalog default)
    assert {s.get("sector") for s in before["consumption_data"]} == {"total"}
    after = influx.query_points(subsystems, "consumption_data")[0]["sum"]
    assert after == pytest.approx(load_sum, rel=1e-9)
    expected = data.consumption.filter(pl.col("region") != "sin")["demand_mw"].sum()
    assert after == pytest.approx(float(expected), rel=1e-9)


def test_plant_tags_are_the_catalogs_published_id_and_display_name(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    """id_ons as published (upper case), the plant's name with its accents, the same tags
    `catalog.plant_tags` gives the migration for the same plant."""
    data = sample.generate(days=1, start=START, seed=3)
    assert _ingest(settings, influx, sample.write(data, tmp_path / "ons", "ons")).failed == 0
    stored = {s["plant"]: s for s in _series(influx, "generation_data")}
    for p in data.plants.iter_rows(named=True):
        expected = catalog.plant_tags(p["name"], p["id_ons"], p["id_estado"])
        got = {k: v for k, v in stored[p["plant"]].items() if k in expected}
        assert got == expected, p["name"]
    assert stored["tucurui"]["plant_name"] == "Tucuruí"
    assert stored["tucurui"]["plant_id"] == stored["tucurui"]["plant_id"].upper()
    names = influx.query_points('SHOW TAG VALUES WITH KEY = "plant_name"', "generation_data")
    assert "Paulo Afonso I, II e III" in {r["value"] for r in names}


def test_a_file_that_would_add_a_parallel_series_is_refused_unless_allowed(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    data = sample.generate(days=1, start=START, seed=3)
    assert _ingest(settings, influx, sample.write(data, tmp_path / "ons", "ons")).failed == 0
    # the old platform's processed file: Itaipu without its id_ons or display name
    itaipu = data.generation.filter(pl.col("plant") == "itaipu")
    path = tmp_path / "processed_itaipu.parquet"
    itaipu.select(
        pl.col("time").alias("timestamp"), "region", pl.col("source").alias("energy_source"),
        pl.lit("power_mw").alias("measurement_type"), pl.col("power_mw").alias("value"),
        pl.lit("MW").alias("unit"), "plant",
    ).write_parquet(path)
    before = len(_series(influx, "generation_data"))
    refused = _ingest(settings, influx, [path])
    [obj] = refused.objects
    assert obj.status == "failed" and obj.error_kind == "parallel_series"
    assert "plant=itaipu,region=southeast,source=hydro beside" in (obj.error or "")
    assert "--allow-parallel-series" in (obj.error or "")
    assert len(_series(influx, "generation_data")) == before  # nothing written
    allowed = _ingest(settings, influx, [path], allow_parallel_series=True)
    assert allowed.failed == 0
    assert len(_series(influx, "generation_data")) == before + 1


def test_the_query_layer_never_sums_parallel_series(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    """Once a parallel series exists (allowed), a sum over it is refused, not doubled;
    a sum per series, and a max, are still answered."""
    from onsflux.answer.service import AnswerService
    from onsflux.exceptions import ParallelSeries
    from onsflux.query import Executor, QuerySpec

    data = sample.generate(days=1, start=START, seed=3)
    assert _ingest(settings, influx, sample.write(data, tmp_path / "ons", "ons")).failed == 0
    itaipu = data.generation.filter(pl.col("plant") == "itaipu")
    path = tmp_path / "wide_itaipu.parquet"
    itaipu.select("time", "region", "source", "plant", "power_mw").write_parquet(path)
    assert _ingest(settings, influx, [path], allow_parallel_series=True).failed == 0
    window = {"start": START.isoformat() + "T00:00:00Z",
              "stop": (START + timedelta(days=2)).isoformat() + "T00:00:00Z"}
    total = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                             "aggregate": "sum", "where": {"source": "hydro"}, **window})
    with Executor(settings, influx, fallback=None) as executor:
        with pytest.raises(ParallelSeries, match="stored twice") as err:
            executor.run(total)
        assert "plant=itaipu" in str(err.value)
        # other sources have no parallel series: their sums are given
        assert executor.run(total.replace(where={"source": ["wind"]})).rows
        per_series = total.replace(group_by=["region", "source", "plant"])
        assert executor.run(per_series).rows
        assert executor.run(total.replace(aggregate="max")).rows
        store = SqliteStateStore(settings.state_path)
        try:
            service = AnswerService(executor, store=store, now=lambda: datetime.combine(
                START + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12))
            out = service.ask("Quanto gerou a fonte hidrelétrica ontem?")
        finally:
            store.close()
    assert out["status"] == "unanswerable" and "stored twice" in out["answer"]
    assert out["time_series_data"] == []
