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
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ..catalog import FieldType
from ..exceptions import QueryError
from ..frames import TIME
from ..ingest.encode import batches, encode_lines
from ..query.rollup import HOUR_NS, MARKERS, ROLLUPS, STATS, Plan, Rollup, hour_range, marker_lines
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


def keep_partials(client: InfluxClient, rollup: Rollup, partials: pl.DataFrame,
                  start_ns: int, stop_ns: int) -> None:
    """Write the hourly statistics an object's writer computed (per chunk, combined here)
    and mark ``[start_ns, stop_ns)`` covered. Only for hours the object owns alone: the
    caller proved it (the ingest's count over the hours equals what it wrote)."""
    stats = [rollup.column(f, st) for f in rollup.fields for st in STATS]
    present = [c for c in stats if c in partials.columns]
    combine = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
    rows = partials.group_by([TIME, *rollup.tags]).agg(
        [getattr(pl.col(c), combine[c.rsplit("_", 1)[1]])().alias(c) for c in present]
    ).with_columns([pl.col(c).cast(pl.Int64) for c in present if c.endswith("_count")])
    types: dict[str, FieldType] = {c: "integer" if c.endswith("_count") else "float"
                                   for c in present}
    lines = encode_lines(rollup.name, rows, list(rollup.tags), types)
    bucket = rollup.source
    # concurrently, as the raw batches were: a month of 20 series is 40k rows of 4 values
    with ThreadPoolExecutor(max_workers=client.settings.write_workers) as pool:
        for done in [pool.submit(client.write, bucket, body, lines=b - a)
                     for a, b, body in batches(lines, 5000, 1 << 22)]:
            done.result()
    # the markers last: an hour is read from the rollup only once all its rows are there
    body = marker_lines(rollup.source, start_ns, stop_ns)
    client.write(bucket, body, lines=body.count(b"\n"))


def uncover(client: InfluxClient, measurement: str, start_ns: int, stop_ns: int, *,
            bucket: str | None = None) -> None:
    """Mark the hours of ``[start_ns, stop_ns)`` not covered: their raw points changed in a
    way the rollup cannot follow (another object's points, a rollback). Queries touching
    them read the raw series until ``refresh`` recomputes them. Called before raw points
    change: by migration before a partition writes and by rollback before it deletes
    (``bucket``: where they write; only the catalog's own bucket has rollups)."""
    if measurement not in ROLLUPS or client.kind == "2.x" or bucket not in (None, measurement):
        return
    if stop_ns <= start_ns:
        return
    start, stop = hour_range(start_ns, stop_ns - 1)
    try:
        client.query(f"DELETE FROM {quote_ident(MARKERS)} WHERE time >= {start} "
                     f"AND time < {stop}", db=measurement)
    except QueryError as exc:
        if "database not found" not in str(exc):
            raise


def marked_hours(client: InfluxClient, measurement: str, start_ns: int, stop_ns: int) -> int:
    """How many hours of ``[start_ns, stop_ns)`` are marked covered for ``measurement``."""
    q = (f"SELECT count(covered) FROM {quote_ident(MARKERS)} "
         f"WHERE {quote_ident('measurement')} = {quote_literal(measurement)} "
         f"AND time >= {int(start_ns)} AND time < {int(stop_ns)}")
    try:
        rows = client.query_points(q, db=measurement)
    except QueryError as exc:
        if "database not found" not in str(exc):
            raise
        return 0
    return int(rows[0].get("count") or 0) if rows else 0


class Coverage:
    """Answers "is every hour of this plan's period refreshed?", cached briefly.

    One small query per (measurement, period) on the markers (one point per hour: 720 for
    30 days, a few ms). ``ttl`` > 0 caches the answer, at the price of reading a rollup
    for up to ``ttl`` seconds after another process uncovered its hours; the default does
    not cache. Markers are written after the rollup rows and deleted before raw points
    change under them, so a covered hour's rollup is never older than its raw data.
    """

    def __init__(self, ttl: float = 0.0) -> None:
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
        # nothing ingested yet counts as nothing covered: the raw series are read
        ok = marked_hours(client, plan.rollup.source, plan.start_ns, plan.stop_ns) == want
        with self._lock:
            self._cache[key] = (now, ok)
        return ok
