"""Query benchmark: the three templates over 30 days and a 1-year daily aggregation, on
InfluxDB (InfluxQL) and through the polars Parquet fallback, side by side.

Data: a month of hourly per-plant generation (``plants`` x 720 h: 396k rows of
``power_mw`` -- 792k points with ``capacity_factor`` -- with the default 550 plants), a
month of hourly interchange and losses (4 lines), and a year of hourly load (5 regions),
as wide Parquet files, ingested with the ``Ingestor`` into a fresh local influxd in a
temp folder. Each query runs ``iterations`` times after one warm-up, three ways: on
InfluxDB as the executor runs it (from the hourly rollup when the planner can,
``query/rollup.py``), on InfluxDB with rollups off (the raw series), and on the polars
fallback; p50/p95 are reported in milliseconds. Goal: p95 < 250 ms on InfluxDB for 30 days.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from onsflux.influx.client import InfluxClient
from onsflux.influx.local import LocalServer
from onsflux.ingest.pipeline import Ingestor
from onsflux.query import QuerySpec, template
from onsflux.query.execute import Executor
from onsflux.query.fallback import ParquetFallback
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

from .common import environment, median, percentile

HOUR = 3_600_000_000_000
REGIONS = np.array(["north", "northeast", "southeast", "south"])
SOURCES = np.array(["hydro", "thermal", "wind", "solar", "nuclear"])


def _hours(end_ns: int, n: int) -> np.ndarray:
    return end_ns - np.arange(n, dtype=np.int64)[::-1] * HOUR


def make_files(out: Path, plants: int, end_ns: int, seed: int = 3) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    month = _hours(end_ns, 720)
    idx = np.arange(plants * month.size)
    plant = idx % plants
    gen = pl.DataFrame({
        "time": pl.Series(month[idx // plants]).cast(pl.Datetime("ns", "UTC")),
        "region": REGIONS[plant % 4], "source": SOURCES[plant % 5],
        "plant": pl.Series([f"plant_{i:03d}" for i in range(plants)])[plant],
        "power_mw": rng.uniform(0, 3000, idx.size).round(3),
        "capacity_factor": rng.uniform(0, 1, idx.size).round(4),
    })
    gen.write_parquet(out / "generation_data.parquet", row_group_size=100_000)
    year = _hours(end_ns, 8760)
    regions = np.array([*REGIONS, "sin"])
    j = np.arange(regions.size * year.size)
    load = pl.DataFrame({
        "time": pl.Series(year[j // regions.size]).cast(pl.Datetime("ns", "UTC")),
        "region": regions[j % regions.size],
        "demand_mw": rng.uniform(5_000, 50_000, j.size).round(3),
    })
    load.write_parquet(out / "consumption_data.parquet")
    lines = np.array(["north_southeast", "north_northeast", "northeast_southeast", "south_southeast"])
    k = np.arange(lines.size * month.size)
    tra = pl.DataFrame({
        "time": pl.Series(month[k // lines.size]).cast(pl.Datetime("ns", "UTC")),
        "line": lines[k % lines.size],
        "flow_mw": rng.uniform(-5_000, 5_000, k.size).round(3),
        "losses_mwh": rng.uniform(0, 200, k.size).round(3),
    })
    tra.write_parquet(out / "transmission_data.parquet")
    return {"generation_rows": gen.height, "generation_points": gen.height * 2,
            "load_points": load.height,
            "transmission_points": tra.height * 2}


def _percentiles(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(median(samples), 2), "p95_ms": round(percentile(samples, 95), 2),
            "min_ms": round(min(samples), 2), "runs": len(samples)}


def _time(fn: Callable[[], Any], iterations: int) -> tuple[dict[str, float], Any]:
    result = fn()  # warm-up (and the rows we report)
    samples = []
    for _ in range(iterations):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return _percentiles(samples), result


def run(*, repeats: int = 3, rows: int | None = None,
        settings: Settings | None = None) -> dict[str, Any]:
    """``rows``: generation points wanted (default ~400k: 550 plants x 720 h x ... fields).

    Each query is timed ``max(30, 10 * repeats)`` times.
    """
    iterations = max(30, 10 * repeats)
    plants = 550 if rows is None else max(1, rows // 720)
    base = settings or Settings()
    end = (time.time_ns() // HOUR - 2) * HOUR
    stop = datetime.fromtimestamp((end + HOUR) // 10**9, tz=UTC)
    start30 = stop - timedelta(days=30)
    start365 = stop - timedelta(days=365)
    queries: dict[str, QuerySpec] = {
        "generation_trend_30d": template("generation_trend", start30, stop),
        "consumption_peak_30d": template("consumption_peak", start30, stop),
        "transmission_losses_30d": template("transmission_losses", start30, stop),
        "load_daily_mean_1y": QuerySpec.parse({
            "measurement": "consumption_data", "fields": ["demand_mw"], "start": start365,
            "stop": stop, "every": "1d", "aggregate": "mean", "group_by": ["region"]}),
    }
    with tempfile.TemporaryDirectory(prefix="onsflux-bench-query-") as tmp:
        tmpdir = Path(tmp)
        counts = make_files(tmpdir / "wide", plants, end)
        server = LocalServer(tmpdir / "influx")
        handle = server.up()
        try:
            s = base.with_overrides(influxdb_url=handle.url, state_dir=tmpdir,
                                    fallback_path=str(tmpdir / "wide"))
            store = SqliteStateStore(tmpdir / "state.sqlite")
            with InfluxClient(s, url=handle.url) as client:
                t = time.perf_counter()
                summary = Ingestor(s, store, client).ingest([str(tmpdir / "wide")])
                ingest_s = time.perf_counter() - t
            store.close()
            if summary.failed or summary.rejected:
                raise RuntimeError(f"benchmark ingest not clean: {summary.as_dict()['objects']}")
            fallback = ParquetFallback(tmpdir / "wide", s)
            results: dict[str, Any] = {}
            with Executor(s, fallback=None) as ex, \
                    Executor(s.with_overrides(rollups=False), fallback=None) as raw_ex:
                for name, spec in queries.items():
                    influx, r1 = _time(functools.partial(ex.run, spec), iterations)
                    raw, r0 = _time(functools.partial(raw_ex.run, spec), iterations)
                    polars, r2 = _time(functools.partial(fallback.run, spec), iterations)
                    results[name] = {"influxdb": influx, "influxdb_raw_series": raw,
                                     "parquet_fallback": polars,
                                     "rows": r1.row_count, "rows_raw": r0.row_count,
                                     "rows_fallback": r2.row_count,
                                     "from_rollup": r1.query != r0.query, "query": r1.query}
        finally:
            server.down()
    p95_30d = max(results[k]["influxdb"]["p95_ms"] for k in results if k.endswith("_30d"))
    return {
        "name": "query",
        "plants": plants,
        **counts,
        "ingest_seconds": round(ingest_s, 2),
        "iterations_per_query": iterations,
        "queries": results,
        "goal": {"p95_ms_30d_influxdb_max": p95_30d, "target_ms": 250, "met": p95_30d < 250},
        "environment": environment(),
    }
