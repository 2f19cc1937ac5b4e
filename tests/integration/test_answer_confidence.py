"""Confidence and sources for history that came from Timestream, not from ingested files.

A real migration (UNLOAD export → the session's InfluxDB) writes the load history; no
ingest record exists for it. The answer's coverage must be measured on the data, its
sources must name the migration partitions, and each deduction must be said in the
question's language. Expected numbers come from the export frame (polars), never from
the service.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from onsflux.api.app import default_service
from onsflux.influx import InfluxClient
from onsflux.migrate import Migration, run
from onsflux.migrate.export import write_unload
from onsflux.settings import Settings

pytestmark = pytest.mark.integration

H = 3_600_000_000_000
BRT = ZoneInfo("America/Sao_Paulo")
TYPES = {"region": "VARCHAR", "sector": "VARCHAR", "measure_name": "VARCHAR",
         "time": "TIMESTAMP", "demand_mw": "DOUBLE"}


def _ns(day: int) -> int:
    return int(datetime(2024, 3, day, tzinfo=BRT).timestamp()) * 10**9


@pytest.fixture
def migrated(settings: Settings, influx: InfluxClient, tmp_path: Path) -> pl.DataFrame:
    """Hourly load for the South and Southeast, 1–10 March 2024 (Brasília), migrated."""
    hours = (_ns(11) - _ns(1)) // H
    frame = pl.DataFrame({
        "region": ["south", "southeast"] * hours,
        "sector": ["total"] * (2 * hours),
        "measure_name": ["metrics"] * (2 * hours),
        "time": [_ns(1) + (i // 2) * H for i in range(2 * hours)],
        "demand_mw": [10_000.0 + (i * 37) % 5_000 + (20_000 if i % 2 else 0)
                      for i in range(2 * hours)],
    })
    export = tmp_path / "export"
    write_unload(export, "consumption_data", frame, TYPES, rows_per_file=200)
    with Migration(settings, str(export)) as mig:
        mig.save(mig.plan(target_rows=100))
        summary = run(mig, url=settings.influxdb_url)
    assert summary.failed == 0 and summary.rejected == 0
    return frame


def test_migrated_history_gets_full_confidence_and_partition_sources(
        settings: Settings, migrated: pl.DataFrame) -> None:
    service = default_service(settings)
    try:
        out = service.ask("Qual foi o pico de carga no Sul entre 2 e 5 de março de 2024?")
    finally:
        service.close()
    assert out["status"] == "ok", out["answer"]
    want = migrated.filter((pl.col("region") == "south") & (pl.col("time") >= _ns(2))
                           & (pl.col("time") < _ns(6)))["demand_mw"].max()
    assert out["time_series_data"][0]["value"] == want
    # no deduction: every hour of the period holds data, although nothing was ingested
    assert out["confidence_score"] == 1.0, (out["confidence_parts"], out["warnings"])
    partitions = [s for s in out["sources"] if "partition" in s["document"]]
    assert partitions and all("consumption_data" in s["document"] for s in partitions)
    assert all(s["time_range"] for s in partitions)


def test_partly_covered_period_is_measured_and_said_in_the_questions_language(
        settings: Settings, migrated: pl.DataFrame) -> None:
    service = default_service(settings)
    try:
        pt = service.ask("Qual foi o pico de carga no Sul entre 6 e 15 de março de 2024?")
        en = service.ask("What was the peak load in the South between March 6 and March 15, "
                         "2024?")
    finally:
        service.close()
    # data for 6–10 March of 6–15 March: 5 of 10 days of hours
    covered = 5 * 24 / (10 * 24)
    for out, word in ((pt, "os dados cobrem 50 % das horas"),
                      (en, "the data covers 50 % of the period's hours")):
        assert out["status"] == "ok", out["answer"]
        assert out["confidence_score"] == pytest.approx(covered, abs=0.01)
        assert any(word in w for w in out["warnings"]), out["warnings"]
    assert not any("confidence" in w for w in pt["warnings"])
    assert not any("confiança" in w for w in en["warnings"])

