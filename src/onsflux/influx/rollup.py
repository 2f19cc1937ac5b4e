"""Keeping the rollups (``query/rollup.py``: hourly per region and source, daily per
plant) current on the server, and reading their coverage.

Why client-driven and not continuous queries: InfluxDB 1.x continuous queries only
compute *new* intervals (they never backfill history a migration loads), run on a
schedule (an answer could read a stale period), and do not exist in 2.x; 2.x tasks do
not backfill either. Instead, whoever writes raw data keeps the rollups: ingest writes
the statistics it computed for the periods it proved it owns alone (``points_by_period``,
``keep_partials``) and uncovers the others; migration and rollback ``uncover`` before
their raw points change; ``refresh`` asks the server to recompute whole periods with one
``SELECT … INTO`` per rollup. Every rollup marks its covered periods in its own markers
measurement (one point per period), and the planner uses a rollup only for periods whose
every period is marked, so a rollup answer is never older than the raw data it stands for.

InfluxDB 1.x (and 3.x's InfluxQL) only: ``SELECT … INTO`` does not exist in the 2.x
v1-compatible API, so on 2.x ``refresh`` does nothing, no period is marked and every
query reads the raw series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ..catalog import FieldType
from ..exceptions import QueryError
from ..frames import TIME
from ..ingest.encode import batches, encode_lines
from ..query.rollup import (
    HOURLY,
    ROLLUP_RP,
    ROLLUP_SHARD_DURATION,
    STATS,
    Plan,
    Rollup,
    rollups_of,
)
from ..quoting import quote_ident, quote_literal
from .client import InfluxClient


def ensure_policy(client: InfluxClient, database: str) -> None:
    """Create the rollups' retention policy in ``database`` (idempotent; one cheap
    statement, run before every rollup write so a recreated database gets it back).
    Same duration as the raw data's; an existing policy is left as it is."""
    try:
        client.query(f"CREATE RETENTION POLICY {quote_ident(ROLLUP_RP)} ON {quote_ident(database)} "
                     f"DURATION {client.settings.retention} REPLICATION 1 "
                     f"SHARD DURATION {ROLLUP_SHARD_DURATION}")
    except QueryError as exc:
        if "already exists" not in str(exc) and "conflicts" not in str(exc):
            raise


def refresh(client: InfluxClient, measurement: str, tmin_ns: int, tmax_ns: int, *,
            clear: bool = False, rollups: Iterable[Rollup] | None = None) -> int:
    """Recompute ``measurement``'s rollups (or ``rollups``) over the whole periods holding
    ``[tmin, tmax]``, and mark them covered.

    ``clear``: uncover those periods and delete their rollup rows first — needed after raw
    points were deleted (a rollback), since ``INTO`` only writes the groups that still have
    data. Returns the rollup rows written (0 when the measurement has no rollup or the
    server cannot run ``SELECT … INTO``).
    """
    if client.kind == "2.x":
        return 0
    bucket = measurement  # the catalog keeps each measurement in its own database
    written = 0
    for rollup in rollups if rollups is not None else rollups_of(measurement):
        ensure_policy(client, bucket)
        start, stop = rollup.span(tmin_ns, tmax_ns)
        if clear:  # markers first: no query may read rows being rebuilt
            _delete_markers(client, rollup, start, stop)
            client.query(f"DELETE FROM {quote_ident(rollup.name)} "
                         f"WHERE time >= {start} AND time < {stop}", db=bucket)
        for result in client.query(rollup.refresh_influxql(start, stop), db=bucket):
            for series in result.get("series") or []:
                for row in series.get("values") or []:
                    written += int(row[1] or 0)
        body = rollup.marker_lines(start, stop)
        client.write(bucket, body, lines=body.count(b"\n"))
    return written


def points_by_period(client: InfluxClient, rollup: Rollup,
                     ranges: Sequence[tuple[int, int]]) -> dict[int, dict[str, int]]:
    """Raw points per field of ``rollup`` held by the server in each of its periods inside
    ``ranges`` (``[start, stop)`` pairs on whole periods; periods without points are absent).

    The exclusivity question of ingest: before an object writes, periods absent here hold
    nobody's points; after it wrote, a period whose counts equal the object's own (its
    partials' ``<field>_count``) holds only its points, so its statistics are the
    rollup's. One request: a grouped count per range (adjacent ranges merged), each a
    statement, since InfluxQL cannot OR time ranges.
    """
    merged: list[list[int]] = []
    for start, stop in sorted(ranges):
        if start % rollup.period_ns or stop % rollup.period_ns:
            raise ValueError(f"[{start}, {stop}) is not made of whole {rollup.period} periods")
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        elif start < stop:
            merged.append([start, stop])
    if not merged:
        return {}
    counts = ", ".join(f"count({quote_ident(f)}) AS {quote_ident(f)}" for f in rollup.fields)
    text = ";\n".join(
        f"SELECT {counts} FROM {quote_ident(rollup.source)} WHERE time >= {a} "
        f"AND time < {b} GROUP BY time({rollup.period}) fill(none)" for a, b in merged)
    try:
        results = client.query(text, db=rollup.source, method="GET")
    except QueryError as exc:
        if not exc.database_missing:
            raise
        return {}
    out: dict[int, dict[str, int]] = {}
    for result in results:
        for series in result.get("series") or []:
            columns = series.get("columns") or []
            for values in series.get("values") or []:
                record = dict(zip(columns, values, strict=False))
                held = {f: int(record.get(f) or 0) for f in rollup.fields}
                if any(held.values()):
                    out[int(record["time"])] = held
    return out


def keep_partials(client: InfluxClient, rollup: Rollup, partials: pl.DataFrame,
                  start_ns: int, stop_ns: int, *,
                  periods: Iterable[int] | None = None) -> None:
    """Write the rollup statistics an object's writer computed (per chunk, combined here)
    and mark ``[start_ns, stop_ns)`` covered — or only the ``periods`` (their starts)
    given, with only their rows. Only for periods the object owns alone: the caller proved
    it (``points_by_period``, or a count over them that equals what it wrote). Nothing on
    2.x, where no query reads rollups."""
    if client.kind == "2.x":
        return
    stats = [rollup.column(f, st) for f in rollup.fields for st in STATS]
    present = [c for c in stats if c in partials.columns]
    combine = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
    keep = None if periods is None else sorted(set(periods))
    if keep is not None:
        partials = partials.filter(pl.col(TIME).is_in(keep))
    counts = [c for c in present if c.endswith("_count")]
    rows = partials.group_by([TIME, *rollup.tags]).agg(
        [getattr(pl.col(c), combine[c.rsplit("_", 1)[1]])().alias(c) for c in present]
    ).with_columns([pl.col(c).cast(pl.Int64) for c in counts])
    if counts:  # a group whose rolled fields were all null has no raw point to stand for
        rows = rows.filter(pl.any_horizontal([pl.col(c) > 0 for c in counts]))
    types: dict[str, FieldType] = {c: "integer" if c.endswith("_count") else "float"
                                   for c in present}
    lines = encode_lines(rollup.name, rows, list(rollup.tags), types)
    bucket = rollup.source
    ensure_policy(client, bucket)
    # concurrently, as the raw batches were: a month of 20 series is 40k rows of 4 values
    with ThreadPoolExecutor(max_workers=client.settings.write_workers) as pool:
        for done in [pool.submit(client.write, bucket, body, lines=b - a, rp=ROLLUP_RP)
                     for a, b, body in batches(lines, 5000, 1 << 22)]:
            done.result()
    # the markers last: a period is read from the rollup only once all its rows are there
    if keep is None:
        body = rollup.marker_lines(start_ns, stop_ns)
    else:
        body = b"".join(rollup.marker_lines(t, t + rollup.period_ns) for t in keep
                        if start_ns <= t < stop_ns)
    if body:
        client.write(bucket, body, lines=body.count(b"\n"))


def keep_owned(client: InfluxClient, rollup: Rollup, partials: pl.DataFrame) -> tuple[int, int]:
    """After an object's points were written: keep its statistics for the periods whose
    raw counts (``points_by_period``) equal its own (``<field>_count`` of its partials),
    and uncover the other periods it wrote in (someone else's points are there too).
    Periods it did not write in are left as they are. Returns (kept, uncovered) periods."""
    counts = [rollup.column(f, "count") for f in rollup.fields if
              rollup.column(f, "count") in partials.columns]
    if not counts or partials.height == 0:
        return 0, 0
    ours = partials.group_by(TIME).agg([pl.col(c).sum() for c in counts])
    mine = {int(r[TIME]): {c[: -len("_count")]: int(r[c] or 0) for c in counts}
            for r in ours.to_dicts()}
    p = rollup.period_ns
    held = points_by_period(client, rollup, [(t, t + p) for t in mine])
    owned = [t for t, n in mine.items() if held.get(t, {}) == n and any(n.values())]
    if owned:
        keep_partials(client, rollup, partials, min(owned), max(owned) + p, periods=owned)
    shared = sorted(set(mine) - set(owned))
    for t in shared:
        _delete_markers(client, rollup, t, t + p)
    return len(owned), len(shared)


def _delete_markers(client: InfluxClient, rollup: Rollup, start: int, stop: int) -> None:
    try:
        client.query(f"DELETE FROM {quote_ident(rollup.markers)} WHERE time >= {start} "
                     f"AND time < {stop}", db=rollup.source)
    except QueryError as exc:
        if not exc.database_missing:
            raise


def uncover(client: InfluxClient, measurement: str, start_ns: int, stop_ns: int, *,
            bucket: str | None = None, rollups: Iterable[Rollup] | None = None) -> None:
    """Mark the periods of ``[start_ns, stop_ns)`` not covered, in every rollup of
    ``measurement`` (or ``rollups``), each rounded out to its own period (an hour changed:
    its hour and its whole UTC day): their raw points changed in a way the rollup cannot
    follow (another object's points, a rollback). Queries touching them read the raw
    series until ``refresh`` recomputes them. Called before raw points change: by
    migration before a partition writes and by rollback before it deletes (``bucket``:
    where they write; only the catalog's own bucket has rollups)."""
    if client.kind == "2.x" or bucket not in (None, measurement) or stop_ns <= start_ns:
        return
    for rollup in rollups if rollups is not None else rollups_of(measurement):
        start, stop = rollup.span(start_ns, stop_ns - 1)
        _delete_markers(client, rollup, start, stop)


def marked(client: InfluxClient, measurement: str, start_ns: int, stop_ns: int, *,
           rollups: Iterable[Rollup] | None = None) -> int:
    """How many periods the rollups of ``measurement`` (or ``rollups``) mark covered in the
    periods holding ``[start_ns, stop_ns)`` (each rounded out to its own period), all
    together: 0 means none of them answers any of that time. One request."""
    chain = list(rollups if rollups is not None else rollups_of(measurement))
    if not chain or stop_ns <= start_ns:
        return 0
    text = ";\n".join(
        f"SELECT count(covered) FROM {quote_ident(r.markers)} "
        f"WHERE {quote_ident('measurement')} = {quote_literal(r.source)} "
        f"AND time >= {a} AND time < {b}"
        for r in chain for a, b in [r.span(start_ns, stop_ns - 1)])
    try:
        results = client.query(text, db=measurement, method="GET")
    except QueryError as exc:
        if not exc.database_missing:
            raise
        return 0
    return sum(int(row[1] or 0) for result in results for series in result.get("series") or []
               for row in series.get("values") or [])


def marked_hours(client: InfluxClient, measurement: str, start_ns: int, stop_ns: int) -> int:
    """How many hours of ``[start_ns, stop_ns)`` the hourly rollup marks covered."""
    return marked(client, measurement, start_ns, stop_ns, rollups=[HOURLY])


class Coverage:
    """Answers "is every period of this plan's rollup part marked?", cached briefly.

    One small query per (rollup, period) on the rollup's markers (one point per period:
    720 for 30 days of hours, 30 of days; a few ms). ``ttl`` > 0 caches the answer, at the
    price of reading a rollup for up to ``ttl`` seconds after another process uncovered
    its periods; the default does not cache. Markers are written after the rollup rows
    and deleted before raw points change under them, so a covered period's rollup is
    never older than its raw data.
    """

    def __init__(self, ttl: float = 0.0) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int, int], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def covered(self, client: InfluxClient, plan: Plan) -> bool:
        rollup = plan.rollup
        key = (rollup.name, plan.start_ns, plan.stop_ns)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        want = (plan.stop_ns - plan.start_ns) // rollup.period_ns
        # nothing ingested yet counts as nothing covered: the raw series are read
        ok = marked(client, rollup.source, plan.start_ns, plan.stop_ns, rollups=[rollup]) == want
        with self._lock:
            self._cache[key] = (now, ok)
        return ok

    def periods(self, client: InfluxClient, rollup: Rollup, start_ns: int, stop_ns: int
                ) -> set[int]:
        """The starts of ``rollup``'s periods in ``[start_ns, stop_ns)`` marked covered
        (not cached: asked only when ``covered`` said some are not)."""
        q = (f"SELECT covered FROM {quote_ident(rollup.markers)} "
             f"WHERE {quote_ident('measurement')} = {quote_literal(rollup.source)} "
             f"AND time >= {int(start_ns)} AND time < {int(stop_ns)}")
        try:
            rows = client.query_points(q, db=rollup.source)
        except QueryError as exc:
            if not exc.database_missing:
                raise
            return set()
        return {int(r["time"]) for r in rows}
