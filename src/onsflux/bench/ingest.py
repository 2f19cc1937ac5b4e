"""Ingest benchmark: Parquet → InfluxDB end to end vs the raw ``/write`` ceiling, same run.

- ``ours``: ``Ingestor.ingest`` on a wide Parquet file — read, validate, encode, write,
  read-back verify and state recording included.
- ``ceiling``: the same points, encoded beforehand (untimed), posted with the same client,
  batch size and concurrency: what the server and transport allow, with zero work of ours.

Both run against a fresh local influxd started for the benchmark (its data in a temp
folder), the database dropped and recreated before every run, alternating contenders.
Peak memory of ``ours`` is measured in child processes for two file sizes and two chunk
sizes, to show it follows the chunk size, not the file size.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from onsflux.influx.client import InfluxClient
from onsflux.influx.local import LocalServer, resolve_url
from onsflux.ingest.encode import batches, encode_lines
from onsflux.ingest.pipeline import Ingestor
from onsflux.quoting import quote_ident
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

from .common import contender, environment, median, pin_server, raw_write, server_affinity, unpin_server

BUCKET = "generation_data"


def make_frame(rows: int, seed: int = 1) -> pl.DataFrame:
    """``rows`` hourly points over 500 plants, ending an hour ago (inside retention)."""
    rng = np.random.default_rng(seed)
    plants = 500
    hours = -(-rows // plants)
    end = (time.time_ns() // 3_600_000_000_000 - 1) * 3_600_000_000_000
    t = end - np.arange(hours, dtype=np.int64)[::-1] * 3_600_000_000_000
    regions = np.array(["north", "northeast", "southeast", "south"])
    sources = np.array(["hydro", "thermal", "wind", "solar", "nuclear"])
    idx = np.arange(rows)
    plant = idx % plants
    return pl.DataFrame({
        "time": pl.Series(t[idx // plants]).cast(pl.Datetime("ns", "UTC")),
        "region": regions[plant % 4],
        "source": sources[plant % 5],
        "plant": pl.Series([f"plant_{i:03d}" for i in range(plants)])[plant],
        "power_mw": rng.uniform(0, 3000, rows).round(3),
        "capacity_factor": rng.uniform(0, 1, rows).round(4),
    })


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user+system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _fresh(client: InfluxClient, settings: Settings) -> None:
    client.query(f"DROP DATABASE {quote_ident(BUCKET)}")
    client.ensure_database(BUCKET, settings.retention)


def _ours(settings: Settings, path: Path, state: Path) -> tuple[float, int, dict[str, float]]:
    store = SqliteStateStore(state)
    with InfluxClient(settings, url=settings.influxdb_url or resolve_url(settings)) as client:
        started = time.perf_counter()
        summary = Ingestor(settings, store, client).ingest([str(path)], force=True)
        seconds = time.perf_counter() - started
    store.close()
    if summary.failed or summary.rejected:
        raise RuntimeError(f"benchmark ingest not clean: {summary.as_dict()['objects']}")
    return seconds, summary.points, summary.objects[0].phases


def _ceiling(settings: Settings, bodies: list[bytes]) -> float:
    """The raw ceiling: the best plain writer (see :func:`onsflux.bench.common.raw_write`)."""
    return raw_write(settings.influxdb_url or "", BUCKET, bodies, workers=4)


def _vm_hwm_kib() -> int:
    """Peak RSS of this process image. Not ``ru_maxrss``: Linux carries that across
    fork+exec, so a child would report its (big) parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_child(settings: Settings, path: str, state: str, queue: Any) -> None:
    base = _vm_hwm_kib()
    _ours(settings, Path(path), Path(state))
    queue.put((base, _vm_hwm_kib()))


def _peak_rss(settings: Settings, path: Path, state: Path) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(settings, str(path), str(state), queue))
    proc.start()
    _, peak = queue.get(timeout=600)
    proc.join()
    return round(float(peak) / 1024, 1)  # MiB


def _modes(pin: str) -> list[str]:
    if pin in ("both", "all"):
        return ["unpinned", "pinned"]
    if pin in ("true", "yes", "1", "pinned"):
        return ["pinned"]
    return ["unpinned"]


def run(
    *, rows: int = 1_000_000, repeats: int = 3, settings: Settings | None = None,
    pin: str = "both", memory: bool = True,
) -> dict[str, Any]:
    """Ours against the raw ceiling, alternating, ``repeats`` times per mode.

    ``pin``: ``both`` (default) measures unpinned, then pinned — every influxd thread on
    CPU 0 (``taskset -a``), this process (ours and the raw writer) on CPU 1 — which stands
    in for a separate database host, as Timestream for InfluxDB is. ``unpinned`` or
    ``pinned`` measure one mode. ``memory``: also measure peak RSS in child processes.
    """
    base = settings or Settings()
    before = os.sched_getaffinity(0)
    modes = _modes(pin.lower())
    if len(before) < 2:
        modes = ["unpinned"]
    by_mode: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="onsflux-bench-") as tmp:
        tmpdir = Path(tmp)
        server = LocalServer(tmpdir / "influx")
        handle = server.up()
        try:
            s = base.with_overrides(influxdb_url=handle.url, state_dir=tmpdir)
            frame = make_frame(rows)
            path = tmpdir / "generation_data.parquet"
            frame.write_parquet(path, row_group_size=250_000)
            enc = frame.with_columns(pl.col("time").dt.epoch("ns").alias("time"))
            lines = encode_lines(BUCKET, enc, ["region", "source", "plant"],
                                 {"power_mw": "float", "capacity_factor": "float"})
            bodies = [bytes(body) for _, _, body in batches(lines, 5000, 1 << 40)]
            del enc, lines
            for mode in modes:
                cpus = sorted(before)
                if mode == "pinned":
                    pin_server(handle.pid, cpus[0])
                    os.sched_setaffinity(0, {cpus[1]})
                else:
                    unpin_server(handle.pid, cpus)
                    os.sched_setaffinity(0, before)
                ours_runs, ceiling_runs = [], []
                phase_runs: list[dict[str, float]] = []
                cpu: dict[str, list[float]] = {"ours_client": [], "ours_server": [],
                                               "ceiling_client": [], "ceiling_server": []}
                with InfluxClient(s, url=handle.url) as admin:
                    for i in range(repeats):
                        _fresh(admin, s)
                        c0, s0 = _self_cpu(), _proc_cpu(handle.pid)
                        ceiling_runs.append(_ceiling(s, bodies))
                        cpu["ceiling_client"].append(_self_cpu() - c0)
                        cpu["ceiling_server"].append(_proc_cpu(handle.pid) - s0)
                        _fresh(admin, s)
                        c0, s0 = _self_cpu(), _proc_cpu(handle.pid)
                        seconds, points, phases = _ours(s, path, tmpdir / f"state-{mode}-{i}.sqlite")
                        phase_runs.append(phases)
                        cpu["ours_client"].append(_self_cpu() - c0)
                        cpu["ours_server"].append(_proc_cpu(handle.pid) - s0)
                        if points != rows:
                            raise RuntimeError(f"benchmark ingest wrote {points} of {rows} points")
                        ours_runs.append(seconds)
                ours_med, ceil_med = median(ours_runs), median(ceiling_runs)
                by_mode[mode] = {
                    "affinity": {"server_threads": server_affinity(handle.pid),
                                 "client": sorted(os.sched_getaffinity(0))},
                    "ours": contender(ours_runs, rows),
                    "ceiling_raw_write": contender(ceiling_runs, rows),
                    "fraction_of_ceiling": round(ceil_med / ours_med, 3),
                    "fraction_of_ceiling_min_max": [round(min(ceiling_runs) / max(ours_runs), 3),
                                                    round(max(ceiling_runs) / min(ours_runs), 3)],
                    "phases_median_s": {
                        k: round(median([p.get(k, 0.0) for p in phase_runs]), 3)
                        for k in ("read", "validate", "encode", "wait", "verify")},
                    "cpu_seconds_median": {k: round(median(v), 2) for k, v in cpu.items()},
                    "client_cpu_s_per_million_points": round(
                        median(cpu["ours_client"]) / rows * 1e6, 3),
                }
            os.sched_setaffinity(0, before)
            mem: dict[str, float] = {}
            if memory:
                # the default chunk on files of 1x and 2x the rows and on one row group;
                # then other chunk sizes: memory must follow the chunk, not the file
                single = tmpdir / "single_row_group.parquet"
                frame.write_parquet(single, row_group_size=frame.height)
                double = pl.concat([frame, make_frame(rows, seed=2).with_columns(
                    pl.col("time") - pl.duration(days=rows // 500 // 24 + 1, time_unit="ns"))])
                double_path = tmpdir / "double.parquet"
                double.write_parquet(double_path, row_group_size=250_000)
                csv_path = tmpdir / "generation_data.csv"  # CSV, as ONS publishes
                double.with_columns(pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                                    ).write_csv(csv_path)
                del frame, double
                chunk = s.chunk_rows
                for label, p, size in ((f"{rows:_}_rows", path, chunk),
                                       (f"{2 * rows:_}_rows", double_path, chunk),
                                       (f"{2 * rows:_}_rows_csv", csv_path, chunk),
                                       (f"{rows:_}_rows_one_row_group", single, chunk),
                                       (f"{rows:_}_rows_chunk_{2 * chunk:_}", path, 2 * chunk),
                                       (f"{rows:_}_rows_chunk_{chunk // 2:_}", path, chunk // 2)):
                    mem[label] = _peak_rss(s.with_overrides(chunk_rows=size), p,
                                           tmpdir / f"mem-{label}.sqlite")
        finally:
            os.sched_setaffinity(0, before)
            server.down()
    return {
        "name": "ingest",
        "points": rows,
        "file": "wide Parquet, 250k-row row groups, 500 plants, 2 fields",
        "ceiling": "raw writer: pre-encoded lines, 4 concurrent http.client posts of 5,000 "
                   "lines, no gzip (nothing of onsflux on its path)",
        "batch_lines": s.batch_lines,
        "write_workers": s.write_workers,
        **by_mode,
        "goal": {"pinned_fraction_of_ceiling": 0.9, "client_cpu_s_per_million_points": 1.0,
                 "peak_rss_mib": 400},
        "peak_rss_mib": mem,
        "default_chunk_rows": s.chunk_rows,
        "environment": environment(),
    }
