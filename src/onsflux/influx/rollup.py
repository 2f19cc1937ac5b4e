"""Keeping the hourly rollups (``query/rollup.py``) current on the server, and reading
their coverage.

Why client-driven and not continuous queries: InfluxDB 1.x continuous queries only
compute *new* intervals (they never backfill history a migration loads), run on a
schedule (an answer could read a stale hour), and do not exist in 2.x; 2.x tasks do
not backfill either. Instead, whoever writes raw data — ingest after each object,
migration after each partition, rollback after its deletes — asks the server to
recompute the touched whole hours with one ``SELECT … INTO``, and marks those hours
covered. The planner uses a rollup only for periods whose every hour is marked, so a
rollup answer is never older than the raw data it stands for.

InfluxDB 1.x (and 3.x's InfluxQL) only: ``SELECT … INTO`` does not exist in the 2.x
v1-compatible API, so on 2.x ``refresh`` does nothing, no hour is marked and every
query reads the raw series.
"""

from __future__ import annotations

import threading
import time

from ..exceptions import QueryError
from ..query.rollup import HOUR_NS, MARKERS, ROLLUPS, Plan, hour_range, marker_lines
from ..quoting import quote_ident, quote_literal
from .client import InfluxClient


def refresh(client: InfluxClient, measurement: str, tmin_ns: int, tmax_ns: int, *,
            clear: bool = False) -> int:
    """Recompute ``measurement``'s rollup over the whole hours holding ``[tmin, tmax]``.

    ``clear``: delete the rollup rows of those hours first — needed after raw points were
    deleted (a rollback), since ``INTO`` only writes the groups that still have data.
    Returns the rollup rows written (0 when the measurement has no rollup or the server
    cannot run ``SELECT … INTO``).
    """
    rollup = ROLLUPS.get(measurement)
    if rollup is None or client.kind == "2.x":
        return 0
    bucket = measurement  # the catalog keeps each measurement in its own database
    start, stop = hour_range(tmin_ns, tmax_ns)
    if clear:
        client.query(f"DELETE FROM {quote_ident(rollup.name)} "
                     f"WHERE time >= {start} AND time < {stop}", db=bucket)
    results = client.query(rollup.refresh_influxql(start, stop), db=bucket)
    written = 0
    for result in results:
        for series in result.get("series") or []:
            for row in series.get("values") or []:
                written += int(row[1] or 0)
    body = marker_lines(measurement, start, stop)
    client.write(bucket, body, lines=body.count(b"\n"))
    return written


def refresh_many(client: InfluxClient, ranges: dict[str, tuple[int, int]], *,
                 clear: bool = False) -> None:
    """``refresh`` each ``measurement -> (tmin, tmax)``."""
    for measurement, (tmin, tmax) in ranges.items():
        refresh(client, measurement, tmin, tmax, clear=clear)


class Coverage:
    """Answers "is every hour of this plan's period refreshed?", cached briefly.

    One small query per (measurement, period) on the markers (one point per hour), kept
    for ``ttl`` seconds: a query made right after an ingest may read the raw series once
    more, never a stale rollup, because markers are written after the rollup rows.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int, int], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def covered(self, client: InfluxClient, plan: Plan) -> bool:
        key = (plan.rollup.source, plan.start_ns, plan.stop_ns)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        want = (plan.stop_ns - plan.start_ns) // HOUR_NS
        q = (f"SELECT count(covered) FROM {quote_ident(MARKERS)} "
             f"WHERE {quote_ident('measurement')} = {quote_literal(plan.rollup.source)} "
             f"AND time >= {plan.start_ns} AND time < {plan.stop_ns}")
        try:
            rows = client.query_points(q, db=plan.rollup.source)
        except QueryError as exc:
            if "database not found" not in str(exc):
                raise
            rows = []  # nothing ingested yet: read the raw series
        have = int(rows[0].get("count") or 0) if rows else 0
        ok = have == want
        with self._lock:
            self._cache[key] = (now, ok)
        return ok
