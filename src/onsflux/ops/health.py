"""The pipeline-health section of the ``/ops`` page: what it shows, as one JSON document.

Read from the state store (objects, rejects, dead letters), the migration store
(partitions, points, watermarks) and this process's metrics (breaker, fallback answers),
so the page says the same as ``onsflux status``, ``onsflux dlq list`` and ``/metrics``.

- **ingest**: objects by status, the most recent ones, rejects, dead letters, and per hour
  over the last 24 hours (UTC) the objects, points written and rows rejected;
- **migration**: per migration, planned partitions done out of total, failed, points
  migrated, points/s (points of finished partitions over the wall time from the first
  start to the last finish), the ETA of the rest (their estimated rows at that rate), and
  the cumulative points over time;
- **sync**: lag per table (now minus its watermark);
- **queries**: breaker state and fallback answers in this process, sampled over time by
  :class:`History` each time the page asks (at most every ``min_interval`` seconds).

Times are Unix seconds in the JSON and UTC on the page.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import metrics
from ..settings import Settings

HOUR = 3600.0
NS = 1_000_000_000


class History:
    """A bounded, in-process sample of a few metrics, for charts over time."""

    NAMES = ("onsflux_ingest_points_written_total", "onsflux_ingest_rejects_total",
             "onsflux_query_fallback_total", "onsflux_api_requests_total",
             "onsflux_migrate_points_total")

    def __init__(self, size: int = 720, min_interval: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.samples: deque[dict[str, float]] = deque(maxlen=size)
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()

    def sample(self) -> list[dict[str, float]]:
        now = self.clock()
        with self._lock:
            if not self.samples or now - self.samples[-1]["t"] >= self.min_interval:
                row = {"t": now, "breaker_state": metrics.value("onsflux_influx_breaker_state")}
                row.update({n: metrics.total(n) for n in self.NAMES})
                self.samples.append(row)
            return list(self.samples)


def _hourly(objects: list[Any], now: float) -> list[dict[str, Any]]:
    start = (now // HOUR) * HOUR - 23 * HOUR
    buckets = [{"t": start + i * HOUR, "objects": 0, "points": 0, "rejected": 0, "failed": 0}
               for i in range(24)]
    for o in objects:
        at = o.finished_at or o.started_at
        if at is None or at < start:
            continue
        i = min(23, int((at - start) // HOUR))
        b = buckets[i]
        if o.status == "failed":
            b["failed"] += 1
        else:
            b["objects"] += 1
            b["points"] += o.points
            b["rejected"] += o.rejected
    return buckets


def ingest_section(store: Any, now: float, recent: int = 10) -> dict[str, Any]:
    objects = store.objects()
    dead = store.dead_letters()
    by_status: dict[str, int] = {}
    for o in objects:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    latest = sorted(objects, key=lambda o: o.finished_at or o.started_at or 0, reverse=True)
    return {
        "objects": len(objects),
        "by_status": by_status,
        "points": sum(o.points for o in objects),
        "rejected": sum(o.rejected for o in objects),
        "recent": [{"key": o.key, "status": o.status, "points": o.points,
                    "rejected": o.rejected, "finished_at": o.finished_at, "error": o.error}
                   for o in latest[:recent]],
        "dead_letters": [{"key": d.key, "kind": d.kind, "reason": d.reason,
                          "attempts": d.attempts, "last_failed_at": d.last_failed_at}
                         for d in dead],
        "hourly": _hourly(objects, now),
    }


def migration_section(path: str, now: float) -> dict[str, Any]:
    if path.startswith("dynamodb://"):
        return {"available": False, "why": "the migration state is SQLite only"}
    if path != ":memory:" and not Path(path).exists():
        return {"available": True, "migrations": [], "sync": []}
    from ..migrate.state import DONE, FAILED, PENDING, RUNNING, MigrationStore

    out: list[dict[str, Any]] = []
    sync: list[dict[str, Any]] = []
    store = MigrationStore(path)
    try:
        for mid in store.migration_ids():
            record = store.migration(mid)
            parts = [p for p in store.partitions(mid) if p.kind == "plan"]
            done = [p for p in parts if p.status == DONE]
            left = [p for p in parts if p.status in (PENDING, RUNNING, FAILED)]
            points = sum(p.points for p in done)
            starts = [p.started_at for p in done if p.started_at]
            ends = [p.finished_at for p in done if p.finished_at]
            wall = (max(ends) - min(starts)) if starts and ends else 0.0
            rate = points / wall if wall > 0 else None
            remaining = sum(p.est_rows for p in left)
            cumulative, running_total = [], 0
            for p in sorted(done, key=lambda p: p.finished_at or 0):
                running_total += p.points
                cumulative.append({"t": p.finished_at, "points": running_total})
            out.append({
                "id": mid, "source": record.source if record else "",
                "partitions": len(parts), "done": len(done),
                "failed": sum(p.status == FAILED for p in parts),
                "running": sum(p.status == RUNNING for p in parts),
                "points": points, "points_per_s": rate, "remaining_rows": remaining,
                "eta_s": (remaining / rate) if rate and remaining else (0.0 if not left else None),
                "cumulative": cumulative,
            })
            for table, wm in sorted(store.watermarks(mid).items()):
                sync.append({"migration": mid, "table": table, "watermark_ns": wm,
                             "lag_s": now - wm / NS})
    finally:
        store.close()
    return {"available": True, "migrations": out, "sync": sync}


def pipeline_health(settings: Settings, store: Any, history: History | None = None, *,
                    now: float | None = None) -> dict[str, Any]:
    """The whole section's data (rendered by ``api/ops_pipeline.py`` for ``GET /ops/sections``)."""
    t = time.time() if now is None else now
    state = metrics.BREAKER_STATES
    breaker = metrics.value("onsflux_influx_breaker_state")
    return {
        "now": t,
        "ingest": ingest_section(store, t),
        "migration": migration_section(settings.state_path, t),
        "queries": {
            "breaker": next((k for k, v in state.items() if v == breaker), "closed"),
            "fallback_answers": metrics.total("onsflux_query_fallback_total"),
            "by_backend": {b: metrics.value("onsflux_query_seconds", backend=b)
                           for b in ("influxdb", "s3_fallback", "timestream")},
            "fallback": settings.fallback_path or "the ingested objects the state store records",
        },
        "history": history.sample() if history is not None else [],
    }
