"""The shared metrics move when the pipeline does: ingest against the session's influxd,
a dead InfluxDB with and without the Parquet fallback, and migration partition outcomes.

Expected deltas come from the files and the results the pipeline reports (points counted
by the server, rows rejected), never from the metrics module itself.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from onsflux import metrics, sample
from onsflux.exceptions import CircuitOpen, ServerUnavailable
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.migrate.run import record_metrics
from onsflux.query import Executor
from onsflux.query.fallback import ParquetFallback
from onsflux.query.spec import QuerySpec
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration
START = date.today() - timedelta(days=6)


def snapshot() -> dict[str, float]:
    return {d.name: metrics.total(d.name) for d in metrics.CATALOG}


def test_ingest_counts_points_rejects_dead_letters_and_writes(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    data = sample.generate(days=2, start=START, seed=3)
    [gen, *_] = sample.write(data, tmp_path / "wide", "wide")
    good = pl.read_parquet(gen)
    # one row out of range (capacity_factor must be 0-1): a reject, the rest written
    bad_rows = good.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(7.5)
                                 .otherwise(pl.col("capacity_factor")).alias("capacity_factor"))
    with_reject = tmp_path / "with_reject.parquet"
    bad_rows.write_parquet(with_reject)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(gen.read_bytes()[:200])  # truncated: the object fails as a whole

    before = snapshot()
    ok_before = metrics.value("onsflux_ingest_objects_total", status="ingested")
    failed_before = metrics.value("onsflux_ingest_objects_total", status="failed")
    store = SqliteStateStore(settings.state_path)
    try:
        summary = Ingestor(settings, store, influx).ingest([str(with_reject), str(broken)])
    finally:
        store.close()
    after = snapshot()
    delta = {k: after[k] - before[k] for k in after}

    want_points = good.height - 1  # one point (line) per row, all rows but the rejected one
    assert summary.points == want_points
    assert delta["onsflux_ingest_points_written_total"] == want_points
    assert delta["onsflux_ingest_rejects_total"] == 1
    assert delta["onsflux_ingest_dead_letters_total"] == 1
    assert metrics.value("onsflux_ingest_objects_total", status="ingested") == ok_before + 1
    assert metrics.value("onsflux_ingest_objects_total", status="failed") == failed_before + 1
    assert delta["onsflux_ingest_object_seconds"] == 2  # one observation per object
    # every batch write is timed: at least ceil(points / batch_lines) of them
    assert delta["onsflux_influx_write_seconds"] >= -(-want_points // settings.batch_lines)
    assert delta["onsflux_influx_write_errors_total"] == 0
    assert delta["onsflux_ingest_verify_mismatches_total"] == 0
    assert metrics.value("onsflux_influx_breaker_state") == 0  # closed


def test_dead_influxdb_counts_fallback_answers_and_opens_the_breaker(tmp_path: Path) -> None:
    data = sample.generate(days=3, start=START, seed=4)
    folder = tmp_path / "wide"
    sample.write(data, folder, "wide")
    dead = f"http://127.0.0.1:{free_port()}"
    s = fast_settings(dead, tmp_path, breaker_failures=1)
    spec = QuerySpec.model_validate({
        "measurement": "consumption_data", "fields": ["demand_mw"],
        "start": START.isoformat(), "stop": (START + timedelta(days=3)).isoformat(),
        "aggregate": "max", "group_by": ["region"]})
    fb_before = metrics.total("onsflux_query_fallback_total")
    via_fb = metrics.value("onsflux_query_seconds", backend="s3_fallback")
    with Executor(s, fallback=ParquetFallback(str(folder), s)) as ex:
        result = ex.run(spec)
    assert result.served_from == "s3_fallback"
    assert metrics.total("onsflux_query_fallback_total") == fb_before + 1
    assert metrics.value("onsflux_query_seconds", backend="s3_fallback") == via_fb + 1
    assert metrics.value("onsflux_influx_breaker_state") == 2  # one failure opened it
    # breakers are shared per server: the open one fails this call fast
    with Executor(s, fallback=None) as ex, pytest.raises((ServerUnavailable, CircuitOpen)):
        ex.run(spec)
    assert metrics.total("onsflux_query_fallback_total") == fb_before + 1  # no fallback: none


def test_partition_outcomes_are_counted() -> None:
    done, failed = (metrics.total("onsflux_migrate_partitions_done_total"),
                    metrics.total("onsflux_migrate_partitions_failed_total"))
    points = metrics.total("onsflux_migrate_points_total")
    record_metrics({"status": "done", "points": 1000})
    record_metrics({"status": "failed", "points": 10})
    record_metrics({"status": "skipped", "points": 0})
    assert metrics.total("onsflux_migrate_partitions_done_total") == done + 1
    assert metrics.total("onsflux_migrate_partitions_failed_total") == failed + 1
    assert metrics.total("onsflux_migrate_points_total") == points + 1010
