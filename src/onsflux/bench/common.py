"""Shared benchmark helpers: timing, medians, environment and the result shape.

Every benchmark's ``run`` returns a JSON-able dict with at least ``name`` and
``environment`` (see :func:`environment`); timed contenders are reported as
``{"median_s", "runs", "points_per_s"}`` (see :func:`contender`).
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    """Median of timings (seconds); raises on an empty sequence."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): a value that was actually measured."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Run ``fn`` once; return (seconds, result). GC is collected before and paused during."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed, result


def median_of(fn: Callable[[], T], repeats: int) -> tuple[float, list[float], T]:
    """Run ``fn`` ``repeats`` times; return (median seconds, every run's seconds, last result)."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    runs: list[float] = []
    result: T | None = None
    for _ in range(repeats):
        seconds, result = timed(fn)
        runs.append(seconds)
    return median(runs), runs, result  # type: ignore[return-value]


def contender(runs: Sequence[float], points: int) -> dict[str, Any]:
    """The JSON shape of one timed contender."""
    med = median(runs)
    return {
        "median_s": round(med, 4),
        "runs": [round(r, 4) for r in runs],
        "points_per_s": round(points / med) if med > 0 else None,
    }


def environment() -> dict[str, Any]:
    """What the figures depend on: machine, interpreter and library versions."""
    import polars as pl
    import pyarrow as pa

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "polars": pl.__version__,
        "polars_threads": pl.thread_pool_size(),
        "pyarrow": pa.__version__,
    }
    for mod in ("pandas", "influxdb_client", "numpy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # optional: absent means not installed
            info[mod] = None
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["loadavg"] = None
    return info


# ---------------------------------------------------------------- honest ceilings
def pin_server(pid: int, cpu: int) -> bool:
    """Pin *every* thread of ``pid`` to ``cpu`` (what ``taskset -a -p`` does).

    ``os.sched_setaffinity(pid)`` moves only the main thread; influxd's Go runtime runs
    its work on other threads, so each task under ``/proc/PID/task`` is pinned. Threads
    created later inherit the affinity of their creator. Returns False on a 1-core box.
    """
    if len(os.sched_getaffinity(0)) < 2:
        return False
    import subprocess

    if subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)],
                      capture_output=True).returncode != 0:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), {cpu})
    return True


def unpin_server(pid: int, cpus: list[int]) -> bool:
    """Give every thread of ``pid`` all of ``cpus`` again (after a pinned mode)."""
    import subprocess

    mask = ",".join(str(c) for c in cpus)
    return subprocess.run(["taskset", "-a", "-p", "-c", mask, str(pid)],
                          capture_output=True).returncode == 0


def server_affinity(pid: int) -> list[list[int]]:
    """The distinct CPU sets of ``pid``'s threads: proof that pinning took."""
    sets = {tuple(sorted(os.sched_getaffinity(int(t)))) for t in os.listdir(f"/proc/{pid}/task")}
    return [list(s) for s in sorted(sets)]


def raw_write(url: str, db: str, bodies: Sequence[bytes], *, workers: int = 4) -> float:
    """The best plain writer: pre-encoded line-protocol bodies POSTed to ``/write`` by
    ``workers`` threads over keep-alive ``http.client`` connections, no gzip.

    Nothing of onsflux is on this path (no retry, breaker, accounting or httpx), so it
    measures what the server and the loopback allow. Returns wall seconds; raises on any
    non-204 answer so a failing ceiling is never reported as a fast one.
    """
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = f"/write?db={db}&precision=ns"
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8086,
                                          timeout=60)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                conn.request("POST", path, body=body,
                             headers={"Content-Type": "text/plain; charset=utf-8"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 204:
                    raise RuntimeError(f"raw write: HTTP {resp.status}: {data[:200]!r}")
        finally:
            conn.close()

    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            worker()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed
