"""Migration benchmark: a Parquet UNLOAD export → a fresh local InfluxDB, then verify.

``rows`` multi-measure rows (500 series, hourly, ending an hour ago; fields ``power_mw``
DOUBLE and ``units`` BIGINT: one point per row) are written as a Timestream UNLOAD
export (Parquet, 500k rows per file, 100k-row row groups, manifest + metadata). Each
repeat drops the database, plans (timed apart), runs with ``workers`` processes and
verifies every partition (count and sum per series and field, sampled timestamps; see
:mod:`onsflux.migrate.verify`). influxd runs on the same machine and shares its cores.

Reported per mode (medians of ``repeats`` runs, with min and max): run seconds and
field values/s, the raw ceiling (the same points pre-encoded, 4 ``http.client`` posts of
5,000 lines, no gzip) and our fraction of it, verify seconds and verify / run, the
client's CPU seconds per million points (``os.times`` of this process and its reaped
workers, over the run), influxd's CPU seconds (``/proc``), and the load average before
and after. Peak RSS is the largest worker process's, as each worker reports it with its partitions
(``VmHWM``: ``RUSAGE_CHILDREN``, and even a spawned worker's own ``ru_maxrss``, keep the
RSS of this process at fork time, and it holds the ceiling's pre-encoded bodies).
"""

from __future__ import annotations

import os
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

from .common import (
    contender,
    environment,
    median,
    pin_server,
    raw_write,
    server_affinity,
    unpin_server,
)

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
    return [bytes(body) for _, _, body in batches(lines, 5000, 1 << 40)]


def _spread(values: list[float], digits: int = 3) -> dict[str, Any]:
    return {"median": round(median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "runs": [round(v, digits) for v in values]}


def _server_cpu(pid: int) -> float:
    """influxd's user + system CPU seconds so far (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(*, rows: int = 5_000_000, repeats: int = 3, workers: int = 2, pin: str = "both",
        settings: Settings | None = None) -> dict[str, Any]:
    """Plan, run and verify an export of ``rows`` points (two fields each), beside the raw
    ceiling (the same points pre-encoded, posted by the best plain writer), per ``pin``
    mode (``both``: unpinned then pinned — influxd's threads on CPU 0, onsflux and the raw
    writer on CPU 1). Peak RSS is the largest worker process's."""
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
        peak = 0.0
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
                cpu_runs, ceiling_cpu, server_run, server_verify, server_ceiling = \
                    [], [], [], [], []
                load_before = [round(x, 2) for x in os.getloadavg()]
                values = 0
                for i in range(repeats):
                    s = base.with_overrides(influxdb_url=handle.url,
                                            state_dir=tmpdir / f"state-{mode}-{i}")
                    with InfluxClient(s, url=handle.url) as admin:
                        admin.query(f"DROP DATABASE {quote_ident(BUCKET)}")
                        admin.ensure_database(BUCKET, s.retention)
                    c0, s0 = _client_cpu(), _server_cpu(handle.pid)
                    ceiling_runs.append(raw_write(handle.url, BUCKET, bodies))
                    ceiling_cpu.append((_client_cpu() - c0) / rows * 1e6)
                    server_ceiling.append(_server_cpu(handle.pid) - s0)
                    with InfluxClient(s, url=handle.url) as admin:
                        admin.query(f"DROP DATABASE {quote_ident(BUCKET)}")
                    with Migration(s, str(export), mapping) as mig:
                        t0 = time.perf_counter()
                        plan = mig.plan()
                        mig.save(plan)
                        plan_runs.append(time.perf_counter() - t0)
                        partitions = len(plan.partitions)
                        c0, s0 = _client_cpu(), _server_cpu(handle.pid)
                        t0 = time.perf_counter()
                        summary = run_migration(mig, url=handle.url, workers=workers)
                        run_runs.append(time.perf_counter() - t0)
                        cpu_runs.append((_client_cpu() - c0) / rows * 1e6)
                        server_run.append(_server_cpu(handle.pid) - s0)
                        if summary.failed or summary.points != rows:
                            raise RuntimeError(f"benchmark run not clean: {summary.as_dict()}")
                        values = summary.total("field_values")
                        peak = max([peak, *(float(x.get("peak_rss_mib") or 0)
                                            for x in summary.partitions)])
                        with InfluxClient(s, url=handle.url) as client:
                            s0 = _server_cpu(handle.pid)
                            t0 = time.perf_counter()
                            report = verify(mig, client)
                            verify_runs.append(time.perf_counter() - t0)
                            server_verify.append(_server_cpu(handle.pid) - s0)
                        if not report.ok:
                            ms = report.mismatches
                            raise RuntimeError(
                                f"verify found {len(ms)} mismatches in partitions "
                                f"{sorted({m.partition for m in ms})}, statistics "
                                f"{sorted({m.stat for m in ms})}; first: "
                                f"{[m.as_dict() for m in ms[:3]]}")
                r, v, c = (contender(run_runs, rows), contender(verify_runs, rows),
                           contender(ceiling_runs, rows))
                by_mode[mode] = {
                    "affinity": {"server_threads": server_affinity(handle.pid),
                                 "client": sorted(os.sched_getaffinity(0))},
                    "plan": contender(plan_runs, rows),
                    "run": {**r, "min_s": round(min(run_runs), 3),
                            "max_s": round(max(run_runs), 3)},
                    "run_field_values_per_s": _spread([values / x for x in run_runs], 0),
                    "verify": {**v, "min_s": round(min(verify_runs), 3),
                               "max_s": round(max(verify_runs), 3), "checks": report.checks},
                    "verify_over_run": _spread([a / b for a, b in zip(verify_runs, run_runs,
                                                                      strict=True)]),
                    "ceiling_raw_write": {**c, "min_s": round(min(ceiling_runs), 3),
                                          "max_s": round(max(ceiling_runs), 3)},
                    "ceiling_field_values_per_s": _spread([values / x for x in ceiling_runs], 0),
                    "fraction_of_ceiling": _spread([a / b for a, b in zip(ceiling_runs, run_runs,
                                                                          strict=True)]),
                    "client_cpu_s_per_million_points": _spread(cpu_runs, 2),
                    "ceiling_client_cpu_s_per_million_points": _spread(ceiling_cpu, 2),
                    "server_cpu_s": {"run": _spread(server_run, 1),
                                     "verify": _spread(server_verify, 1),
                                     "ceiling": _spread(server_ceiling, 1)},
                    "loadavg_before_after": [load_before,
                                             [round(x, 2) for x in os.getloadavg()]],
                }
        finally:
            os.sched_setaffinity(0, before)
            server.down()
    return {
        "name": "migrate",
        "points": rows,
        "field_values": 2 * rows,
        "rows_per_partition": rows // partitions if partitions else None,
        "chunk_rows": base.chunk_rows,
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
