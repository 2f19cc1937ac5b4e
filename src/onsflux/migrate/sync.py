"""Sync: replicate Timestream into InfluxDB continuously until cutover.

Each iteration, per table: migrate ``[watermark − overlap, now − lag)`` from the
Timestream API as a ``sync`` partition (same code as ``run``; idempotent, so the overlap
re-writes late-arriving points without duplicating anything), then move the watermark
to ``now − lag``. The first watermark is the end of the planned partitions of that table
(or ``now − lag − overlap`` without a plan). Replication lag reported = now − watermark.

Stops cleanly on SIGTERM/SIGINT (the current partition finishes, state is recorded),
after ``max_iterations``, or after one iteration with ``once``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from ..exceptions import ConfigError
from ..influx.client import InfluxClient
from .plan import Migration, iso
from .run import COUNTS, explain_counts, record_metrics, run_partition
from .sources import TimestreamSource
from .state import FAILED, Partition, owner_id

SEC = 1_000_000_000


@dataclass
class SyncIteration:
    iteration: int
    tables: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "tables": self.tables}


@dataclass
class SyncReport:
    iterations: list[SyncIteration] = field(default_factory=list)
    stopped_by: str = ""

    @property
    def failed(self) -> int:
        return sum(t["status"] == FAILED for i in self.iterations for t in i.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"iterations": [i.as_dict() for i in self.iterations],
                "stopped_by": self.stopped_by, "failed": self.failed}


class Stopper:
    """Set by SIGTERM/SIGINT (installed only in the main thread)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str = ""

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signal.Signals(signum).name
        self.event.set()


def sync(
    mig: Migration, client: InfluxClient, *, lag_s: float = 60.0, overlap_s: float = 900.0,
    interval_s: float = 60.0, once: bool = False, max_iterations: int | None = None,
    now_ns: Callable[[], int] = time.time_ns, stopper: Stopper | None = None,
    progress: Callable[[SyncIteration], None] | None = None, rejects: Any | None = None,
) -> SyncReport:
    """See the module docstring. Rejected rows are recorded with their reasons in the
    state store (key ``migrate:<partition id>``, as ``run`` records them): ``rejects``
    when given, else the store the settings name."""
    from ..state.store import store_for

    own = rejects is None
    store: Any = store_for(mig.settings) if rejects is None else rejects
    try:
        return _sync(mig, client, store, lag_s=lag_s, overlap_s=overlap_s,
                     interval_s=interval_s, once=once, max_iterations=max_iterations,
                     now_ns=now_ns, stopper=stopper, progress=progress)
    finally:
        if own:
            store.close()


def _sync(
    mig: Migration, client: InfluxClient, rejects: Any, *, lag_s: float, overlap_s: float,
    interval_s: float, once: bool, max_iterations: int | None, now_ns: Callable[[], int],
    stopper: Stopper | None, progress: Callable[[SyncIteration], None] | None,
) -> SyncReport:
    src = mig.source
    if not isinstance(src, TimestreamSource):
        raise ConfigError("sync reads the Timestream API: use --source timestream://DATABASE")
    stopper = stopper or Stopper()
    report = SyncReport()
    tables = src.tables()
    for t in tables:
        client.ensure_database(mig.mapping.table(t).bucket, mig.settings.retention)
    iteration = 0
    while True:
        iteration += 1
        it = SyncIteration(iteration)
        for t in tables:
            tm = mig.mapping.table(t)
            now = now_ns()
            stop = now - int(lag_s * SEC)
            wm = mig.store.watermark(mig.id, t)
            if wm is None:
                planned = [p.stop_ns for p in mig.partitions() if p.table_name == t
                           and p.kind == "plan"]
                wm = max(planned) if planned else stop - int(overlap_s * SEC)
            start = wm - int(overlap_s * SEC)
            entry: dict[str, Any] = {"table": t, "from": iso(start), "to": iso(stop),
                                     "status": "idle", "points": 0}
            if stop > start:
                p = Partition(mig.id, f"{t}/sync/{start}-{stop}", t, tm.bucket, tm.measurement,
                              start, stop, kind="sync")
                mig.store.add_partition(p)
                claimed = mig.store.claim(mig.id, p.id, owner_id())
                if claimed is not None:
                    try:
                        done = run_partition(mig, client, claimed, rejects_store=rejects)
                    except BaseException as exc:  # never left running
                        claimed.status = FAILED
                        claimed.error = f"interrupted ({type(exc).__name__})"
                        mig.store.finish(claimed)
                        raise
                    mig.store.finish(done)
                    record_metrics({"status": done.status, "points": done.points})
                    entry.update(status=done.status, points=done.points,
                                 rejected=done.rejected, error=done.error,
                                 rejects_key=f"migrate:{done.id}",
                                 explain=explain_counts({k: getattr(done, k) for k in COUNTS}))
                    if done.status != FAILED:
                        mig.store.set_watermark(mig.id, t, stop)
                        wm = stop
            entry["watermark"] = iso(wm)
            entry["lag_s"] = round((now_ns() - wm) / SEC, 3)
            metrics.set_gauge("onsflux_migrate_sync_lag_seconds", entry["lag_s"], table=t)
            it.tables.append(entry)
        report.iterations.append(it)
        if progress:
            progress(it)
        if once or (max_iterations is not None and iteration >= max_iterations):
            report.stopped_by = "once" if once else "max_iterations"
            return report
        if stopper.event.wait(interval_s):
            report.stopped_by = stopper.signal or "stopped"
            return report
