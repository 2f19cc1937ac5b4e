"""The answer service on ONS-format data (no SIN series stored) against the real influxd."""

from __future__ import annotations

from datetime import UTC, datetime
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


def test_whole_system_load_from_the_four_subsystems(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    files = sample.write(sample.generate(days=4, seed=8), tmp_path / "ons", "ons")
    store = SqliteStateStore(settings.state_path)
    assert Ingestor(settings, store, influx).ingest([str(f) for f in files]).failed == 0
    service = AnswerService(Executor(settings, influx), store=store)

    body = service.ask("Qual foi o pico de carga do Brasil ontem?")
    assert body["status"] == "ok", body
    # independent: the CSV's hourly sum over the four subsystems, max over yesterday
    [csv] = [f for f in files if f.name.startswith("CARGA")]
    raw = pl.read_csv(csv, separator=";")
    start = datetime.fromisoformat(body["time_range"]["start"]).astimezone(UTC)
    stop = datetime.fromisoformat(body["time_range"]["stop"]).astimezone(UTC)
    local = pl.col("din_instante").str.to_datetime("%Y-%m-%d %H:%M:%S")
    hourly = (raw.with_columns(local.dt.replace_time_zone("America/Sao_Paulo")
                               .dt.convert_time_zone("UTC").alias("t"))
              .filter((pl.col("t") >= start) & (pl.col("t") < stop))
              .group_by("t").agg(pl.col("val_cargaenergiahomwmed").sum()))
    want = hourly["val_cargaenergiahomwmed"].max()
    [point] = body["time_series_data"]
    assert point["value"] == pytest.approx(want, rel=1e-12)
    assert point["tags"] == {"region": "sin"}
    assert any("sum of the four subsystems" in w for w in body["warnings"])
    at = datetime.fromisoformat(point["timestamp"].replace("Z", "+00:00"))
    assert at.astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%d/%m/%Y às %H:%M") in body[
        "answer"]
