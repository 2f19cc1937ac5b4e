"""Migration benchmark: a Parquet UNLOAD export → a fresh local InfluxDB, then verify.

``rows`` multi-measure rows (500 series, hourly, ending an hour ago; fields ``power_mw``
DOUBLE and ``units`` BIGINT: one point per row) are written as a Timestream UNLOAD
export (Parquet, 500k rows per file, 100k-row row groups, manifest + metadata). Each
repeat drops the database, plans (timed apart), runs with ``workers`` processes and
verifies every partition (count/sum/min/max per series and field on both sides).
influxd runs on the same machine and shares its cores.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from onsflux.influx.client import InfluxClient
from onsflux.influx.local import LocalServer
from onsflux.ingest.encode import batches, encode_lines
from onsflux.migrate import Migration, verify
from onsflux.migrate import run as run_migration
from onsflux.migrate.export import write_unload
from onsflux.migrate.mapping import mapping_from_dict
from onsflux.quoting import quote_ident
from onsflux.settings import Settings

from .common import contender, environment, pin_server, raw_write, server_affinity, unpin_server

BUCKET = "bench_migrate"
TYPES = {"region": "VARCHAR", "energy_source": "VARCHAR", "plant": "VARCHAR",
         "measure_name": "VARCHAR", "time": "TIMESTAMP", "power_mw": "DOUBLE",
         "units": "BIGINT"}


def make_frame(rows: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    plants = 500
    hours = -(-rows // plants)
    h = 3_600_000_000_000
    end = (time.time_ns() // h - 1) * h
    t = end - np.arange(hours, dtype=np.int64)[::-1] * h
    idx = np.arange(rows)
    plant = idx % plants
    return pl.DataFrame({
        "region": np.array(["north", "northeast", "southeast", "south"])[plant % 4],
        "energy_source": np.array(["hydro", "thermal", "wind", "solar", "nuclear"])[plant % 5],
        "plant": pl.Series([f"Usina {i:03d}, São" for i in range(plants)])[plant],
        "measure_name": pl.Series(["metrics"]).gather(np.zeros(rows, dtype=np.int64)),
        "time": t[idx // plants],
        "power_mw": rng.uniform(0, 3000, rows).round(3),
        "units": rng.integers(0, 2**62, rows, dtype=np.int64),
    })


def _ceiling_bodies(frame: pl.DataFrame) -> list[bytes]:
    """The export's points as line protocol, encoded before the clock starts."""
    enc = frame.with_columns(pl.col("time").dt.epoch("ns").alias("time"))
    lines = encode_lines("generation_data", enc, ["region", "energy_source", "plant"],
                         {"power_mw": "float", "units": "integer"})
    return [body for _, _, body in batches(lines, 5000, 1 << 40)]


def run(*, rows: int = 5_000_000, repeats: int = 3, workers: int = 2, pin: str = "both",
        settings: Settings | None = None) -> dict[str, Any]:
    """Plan, run and verify an export of ``rows`` points (two fields each), beside the raw
    ceiling (the same points pre-encoded, posted by the best plain writer), per ``pin``
    mode (``both``: unpinned then pinned — influxd's threads on CPU 0, onsflux and the raw
    writer on CPU 1). Peak RSS is the largest worker process's."""
    import os
    import resource

    base = settings or Settings()
    mapping = mapping_from_dict({"tables": {"generation_data": {"bucket": BUCKET}}})
    before = os.sched_getaffinity(0)
    modes = ["unpinned", "pinned"] if pin == "both" else [pin]
    if len(before) < 2:
        modes = ["unpinned"]
    by_mode: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="onsflux-bench-migrate-") as tmp:
        tmpdir = Path(tmp)
        export = tmpdir / "export"
        t_gen = time.perf_counter()
        frame = make_frame(rows)
        write_unload(export, "generation_data", frame, TYPES, fmt="PARQUET",
                     rows_per_file=500_000, row_group_size=100_000)
        bodies = _ceiling_bodies(frame)
        del frame
        gen_s = time.perf_counter() - t_gen
        server = LocalServer(tmpdir / "influx")
        handle = server.up()
        partitions = 0
        try:
            for mode in modes:
                cpus = sorted(before)
                if mode == "pinned":
                    pin_server(handle.pid, cpus[0])
                    os.sched_setaffinity(0, {cpus[1]})
                else:
                    unpin_server(handle.pid, cpus)
                    os.sched_setaffinity(0, before)
                plan_runs, run_runs, verify_runs, ceiling_runs = [], [], [], []
                values = 0
                for i in range(repeats):
                    s = base.with_overrides(influxdb_url=handle.url,
                                            state_dir=tmpdir / f"state-{mode}-{i}")
                    with InfluxClient(s, url=handle.url) as admin:
                        admin.query(f"DROP DATABASE {quote_ident(BUCKET)}")
                        admin.ensure_database(BUCKET, s.retention)
                    ceiling_runs.append(raw_write(handle.url, BUCKET, bodies))
                    with InfluxClient(s, url=handle.url) as admin:
                        admin.query(f"DROP DATABASE {quote_ident(BUCKET)}")
                    with Migration(s, str(export), mapping) as mig:
                        t0 = time.perf_counter()
                        plan = mig.plan()
                        mig.save(plan)
                        plan_runs.append(time.perf_counter() - t0)
                        partitions = len(plan.partitions)
                        t0 = time.perf_counter()
                        summary = run_migration(mig, url=handle.url, workers=workers)
                        run_runs.append(time.perf_counter() - t0)
                        if summary.failed or summary.points != rows:
                            raise RuntimeError(f"benchmark run not clean: {summary.as_dict()}")
                        values = int(getattr(summary, "field_values", 0) or 2 * rows)
                        with InfluxClient(s, url=handle.url) as client:
                            t0 = time.perf_counter()
                            report = verify(mig, client)
                            verify_runs.append(time.perf_counter() - t0)
                        if not report.ok:
                            raise RuntimeError(f"verify found {len(report.mismatches)} mismatches")
                r, v, c = (contender(run_runs, rows), contender(verify_runs, rows),
                           contender(ceiling_runs, rows))
                by_mode[mode] = {
                    "affinity": {"server_threads": server_affinity(handle.pid),
                                 "client": sorted(os.sched_getaffinity(0))},
                    "plan": contender(plan_runs, rows),
                    "run": r,
                    "run_field_values_per_s": round(values / r["median_s"]),
                    "verify": v,
                    "verify_over_run": round(v["median_s"] / r["median_s"], 3),
                    "ceiling_raw_write": c,
                    "fraction_of_ceiling": round(c["median_s"] / r["median_s"], 3),
                }
            # before influxd (a child too) is stopped and reaped: only the workers count
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        finally:
            os.sched_setaffinity(0, before)
            server.down()
    return {
        "name": "migrate",
        "points": rows,
        "field_values": 2 * rows,
        "partitions": partitions,
        "workers": workers,
        "batch_lines": base.batch_lines,
        "write_workers_per_process": base.write_workers,
        "export_write_s": round(gen_s, 3),
        **by_mode,
        "peak_rss_mib_largest_worker": round(peak, 1),
        "goal": {"pinned_run_field_values_per_s": 300_000, "verify_over_run": 0.333},
        "environment": environment(),
    }
