"""Whole-system load only from complete hours, partial buckets and "no data in that period"
against the real influxd, on ONS-format files (issue 9 items 2–3, issue 11 item 4).

Expected numbers are computed here from the CSV with polars, independently of the query
engine and the composer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from onsflux import sample
from onsflux.answer.service import AnswerService
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.query import Executor
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

pytestmark = pytest.mark.integration
BRT = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)  # data: Mon 2024-06-03 .. Sun 2024-06-09


def _load_csv(files: list[Path]) -> Path:
    [csv] = [f for f in files if f.name.startswith("CARGA")]
    return csv


def _drop_rows(csv: Path, keep: pl.Expr) -> pl.DataFrame:
    raw = pl.read_csv(csv, separator=";", infer_schema_length=0)
    kept = raw.filter(keep)
    assert kept.height < raw.height
    kept.write_csv(csv, separator=";", quote_style="never")
    return kept


def _service(settings: Settings, influx: InfluxClient, files: list[Path]) -> AnswerService:
    store = SqliteStateStore(settings.state_path)
    assert Ingestor(settings, store, influx).ingest([str(f) for f in files]).failed == 0
    return AnswerService(Executor(settings, influx), store=store, now=lambda: NOW)


def _hourly(frame: pl.DataFrame) -> pl.DataFrame:
    local = pl.col("din_instante").str.to_datetime("%Y-%m-%d %H:%M:%S")
    return frame.with_columns(
        local.dt.replace_time_zone("America/Sao_Paulo").alias("t"),
        pl.col("val_cargaenergiahomwmed").cast(pl.Float64).alias("v"))


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    return sample.write(sample.generate(days=7, seed=11, start=date(2024, 6, 3)),
                        tmp_path / "ons", "ons")


def test_sin_is_summed_only_over_hours_where_all_four_subsystems_are_present(
        settings: Settings, influx: InfluxClient, files: list[Path]) -> None:
    csv = _load_csv(files)
    gap = (pl.col("id_subsistema") == "N") & (pl.col("din_instante") == "2024-06-05 03:00:00")
    kept = _hourly(_drop_rows(csv, ~gap))
    service = _service(settings, influx, files)

    body = service.ask("Qual foi a carga mínima do Brasil na semana passada?")
    assert body["status"] == "ok", body
    complete = (kept.group_by("t").agg(pl.col("v").sum(), pl.len().alias("n"))
                .filter(pl.col("n") == 4))
    [point] = body["time_series_data"]
    assert point["value"] == pytest.approx(complete["v"].min(), rel=1e-12)
    incomplete_hour = kept.filter(pl.col("t") == datetime(2024, 6, 5, 3, tzinfo=BRT))
    assert incomplete_hour.height == 3 and incomplete_hour["v"].sum() < point["value"]
    assert any("1 hour(s) left out" in w and "north" in w for w in body["warnings"])


def test_a_bucket_cut_by_the_end_of_the_data_is_marked_and_left_out(
        settings: Settings, influx: InfluxClient, files: list[Path]) -> None:
    csv = _load_csv(files)
    late = (pl.col("id_subsistema") == "S") & (pl.col("din_instante") >= "2024-06-09 12:00:00")
    kept = _hourly(_drop_rows(csv, ~late))
    service = _service(settings, influx, files)

    body = service.ask("Evolução diária da carga do Sul na semana passada")
    assert body["status"] == "ok", body
    south = kept.filter(pl.col("id_subsistema") == "S").with_columns(pl.col("t").dt.date().alias("d"))
    daily = south.group_by("d").agg(pl.col("v").mean(), pl.len().alias("n"))
    whole = daily.filter(pl.col("n") == 24)
    assert whole.height == 6  # Monday to Saturday; Sunday has 12 hours only
    assert "1 janela(s) parcial(is)" in body["answer"]
    low = whole.sort("v").row(0, named=True)
    assert f"em {low['d']:%d/%m/%Y}" in body["answer"].split("mínimo")[1]
    mean = whole["v"].mean()
    assert isinstance(mean, float)
    assert f"média {mean:,.0f}".replace(",", ".") in body["answer"]


def test_no_data_in_a_named_period_says_where_the_data_starts(
        settings: Settings, influx: InfluxClient, files: list[Path]) -> None:
    service = _service(settings, influx, files)
    body = service.ask("Carga do Sul em janeiro de 2024")
    assert body["status"] == "ok" and body["time_series_data"] == []
    assert "os dados começam em 03/06/2024" in body["answer"]
    en = service.ask("Southeast load in February 2024")
    assert "the data starts on 2024-06-03" in en["answer"]
    assert datetime.fromisoformat(en["time_range"]["start"]).astimezone(UTC).month == 2


def test_sin_per_day_uses_complete_hours_and_marks_the_day_with_a_gap_partial(
        settings: Settings, influx: InfluxClient, files: list[Path]) -> None:
    csv = _load_csv(files)
    gap = (pl.col("id_subsistema") == "N") & (pl.col("din_instante") == "2024-06-05 03:00:00")
    kept = _hourly(_drop_rows(csv, ~gap))
    service = _service(settings, influx, files)

    body = service.ask("Carga do SIN por dia na semana passada")
    assert body["status"] == "ok", body
    sums = (kept.group_by("t").agg(pl.col("v").sum(), pl.len().alias("n"))
            .filter(pl.col("n") == 4).with_columns(pl.col("t").dt.date().alias("d")))
    daily = sums.group_by("d").agg(pl.col("v").mean()).sort("d")
    got = {datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).astimezone(BRT).date():
           p["value"] for p in body["time_series_data"]}
    assert set(got) == set(daily["d"].to_list())
    for d, v in daily.iter_rows():
        assert got[d] == pytest.approx(v, rel=1e-12)
    assert "1 janela(s) parcial(is)" in body["answer"]  # 2024-06-05 has 23 complete hours
