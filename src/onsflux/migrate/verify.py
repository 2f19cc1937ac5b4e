"""Verify: per partition, per series, per field — count, sum, min, max and the
timestamps (first, last, checksum) on both sides.

- **source**: what ``run`` mapped for the partition (rows the mapping rejects are not
  expected in InfluxDB; they are listed in the state store with their reason and
  counted in the report), aggregated with polars (:mod:`.aggregates`). For UNLOAD
  exports ``run`` records these statistics with the partition (computed while its
  writers work), and verify uses them when the partition is still ``done`` at that very
  attempt and its files (url, size) are unchanged in the export; otherwise — and always
  for ``timestream://``, whose rows change after a run, or with ``source="read"`` — the
  rows are read again from the source and mapped exactly as ``run`` maps them;
- **target**: per partition and field, ``SELECT count(f), sum(f), min(f), max(f) FROM m
  WHERE time >= start AND time < stop GROUP BY *`` (``count`` only for string and
  boolean fields, which have no sum/min/max); ``first(f)`` and ``last(f)`` (their times
  are the first and last timestamps); and ``sum(elapsed(f, 1ns) * elapsed(f, 1ns))``
  (Σ gap², see :mod:`.aggregates`) — ``workers`` statements at a time.
  InfluxDB 1.x runs a ``GROUP BY *`` aggregate on one core (one series per tag set,
  nothing to merge in parallel) and its cost grows with every call, whether the calls
  share a statement or not: one statement per field lets the server use its cores.

Comparison: counts, integer sums (with int64 wrap-around, as InfluxDB sums), integer and
float min/max are exact; float sums agree within ``rel_tol`` (1e-9) of the larger sum or
``rel_tol`` × Σ|x| — the order of additions differs between the two sides. A series
present on one side only is a mismatch for each of its fields. First and last time and
the time checksum are exact, so a point moved by 1 µs, or nanoseconds truncated to
microseconds, is a mismatch. Every mismatch is listed: partition, series, field,
statistic, source value, target value.

Duplicates: the source side is what ``run`` writes — rows on one point collapsed, the
last in export order winning (:mod:`.dedupe`) — so the expected counts are the
deduplicated ones.

Rolled back partitions are checked too: the series the partition recorded (see
:mod:`.rollback`) must be **absent** from its window; the verdict says ``absent``, not
``identical``.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import FieldType
from ..frames import rfc3339
from ..influx.client import InfluxClient
from ..quoting import quote_ident
from . import aggregates as agg
from .aggregates import Aggregates, SeriesKey, wrap64
from .plan import Migration
from .run import caches_aggregates, partition_aggregates
from .sources import UnloadSource
from .state import DONE, ROLLED_BACK, Partition

STATS_NUMERIC = ("count", "sum", "min", "max")
STATS_TIME = ("first", "last", "tsq")


@dataclass
class Mismatch:
    partition: str
    series: str
    field: str
    stat: str
    source: Any
    target: Any

    def as_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "series": self.series, "field": self.field,
                "stat": self.stat, "source": self.source, "target": self.target}


@dataclass
class PartitionCheck:
    id: str
    rolled_back: bool = False
    series: int = 0
    source_values: int = 0
    target_values: int = 0
    rejected: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def state(self) -> str:
        """identical | different (ran) · absent | present (rolled back)."""
        if self.rolled_back:
            return "absent" if self.ok else "present"
        return "identical" if self.ok else "different"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "state": self.state, "series": self.series,
                "source_values": self.source_values, "target_values": self.target_values,
                "rejected": self.rejected, "mismatches": len(self.mismatches),
                "seconds": round(self.seconds, 3)}


@dataclass
class VerifyReport:
    migration: str
    partitions: list[PartitionCheck] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[Mismatch]:
        return [m for p in self.partitions for m in p.mismatches]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def verdict(self) -> str:
        """``identical``; ``absent`` (every checked partition rolled back and gone);
        ``identical; rolled back: absent``; ``different``; or ``nothing to verify``."""
        if not self.partitions:
            return "nothing to verify"
        if not self.ok:
            return "different"
        back = [p for p in self.partitions if p.rolled_back]
        if not back:
            return "identical"
        return "absent" if len(back) == len(self.partitions) else \
            "identical; rolled back: absent"

    @property
    def values(self) -> int:
        return sum(p.source_values for p in self.partitions)

    def as_dict(self) -> dict[str, Any]:
        return {"migration": self.migration, "ok": self.ok, "verdict": self.verdict,
                "partitions": [p.as_dict() for p in self.partitions],
                "mismatches": [m.as_dict() for m in self.mismatches],
                "values": self.values, "warnings": self.warnings,
                "seconds": round(self.seconds, 3)}


def series_text(key: SeriesKey) -> str:
    return ",".join(f"{k}={v}" for k, v in key) or "(no tags)"


def source_aggregates(mig: Migration, p: Partition) -> tuple[Aggregates, dict[str, FieldType], int]:
    """Per series, per field: the statistics of what ``run`` writes for ``p``, read
    again from the source (duplicates collapsed over the whole partition)."""
    stats, _ = partition_aggregates(mig, p)
    return stats.result(), stats.types, stats.rejected


def cached_aggregates(mig: Migration, p: Partition
                      ) -> tuple[Aggregates, dict[str, FieldType], int] | None:
    """The statistics ``run`` recorded for ``p`` (see the module docstring), or None when
    there are none or they no longer describe the export."""
    if not caches_aggregates(mig):
        return None
    found = mig.store.aggregates(p)
    if found is None:
        return None
    blob, files = found
    src = mig.source
    if not isinstance(src, UnloadSource) or \
            [tuple(f) for f in src.signature(p.files)] != [tuple(f) for f in files]:
        return None
    return agg.loads(blob)  # None when recorded by an older version


def field_types(client: InfluxClient, db: str, measurement: str) -> dict[str, str]:
    """``SHOW FIELD KEYS`` of ``measurement``: field → float | integer | string | boolean."""
    if not _db_exists(client, db):
        return {}
    known = client.query_points(f"SHOW FIELD KEYS FROM {quote_ident(measurement)}", db=db)
    return {r["fieldKey"]: r["fieldType"] for r in known}


def target_statement(p: Partition, fields: dict[str, str]) -> str:
    """count (and sum/min/max for numbers) of ``fields`` per series in ``p``'s window."""
    selects: list[str] = []
    for f, ft in sorted(fields.items()):
        q = quote_ident(f)
        selects.append(f"count({q}) AS {quote_ident('count' + chr(1) + f)}")
        if ft in ("float", "integer"):
            for stat in ("sum", "min", "max"):
                selects.append(f"{stat}({q}) AS {quote_ident(stat + chr(1) + f)}")
    return (f"SELECT {', '.join(selects)} FROM {quote_ident(p.measurement)} WHERE "
            f"{_window(p)} GROUP BY *")


def _window(p: Partition) -> str:
    return f"time >= {int(p.start_ns)} AND time < {int(p.stop_ns)}"


def time_statements(p: Partition, f: str) -> list[str]:
    """The first and last timestamps of ``f`` per series (the times of ``first()`` and
    ``last()``), and Σ gap² of its timestamps (``sum(elapsed(f, 1ns) * elapsed(f, 1ns))``,
    one subquery level; see :mod:`.aggregates`)."""
    q, m = quote_ident(f), quote_ident(p.measurement)
    return [
        f"SELECT first({q}) AS {quote_ident('tfirst' + chr(1) + f)} FROM {m} WHERE "
        f"{_window(p)} GROUP BY *",
        f"SELECT last({q}) AS {quote_ident('tlast' + chr(1) + f)} FROM {m} WHERE "
        f"{_window(p)} GROUP BY *",
        f"SELECT sum(e) AS {quote_ident('tsq' + chr(1) + f)} FROM (SELECT elapsed({q}, 1ns) "
        f"* elapsed({q}, 1ns) AS e FROM {m} WHERE {_window(p)} GROUP BY *) GROUP BY *",
    ]


def _target_rows(client: InfluxClient, db: str, sql: str) -> Aggregates:
    out: Aggregates = {}
    for row in client.query_points(sql, db=db):
        per: dict[str, dict[str, Any]] = {}
        tag_items = []
        for name, value in row.items():
            if chr(1) in name:
                stat, f = name.split(chr(1), 1)
                if stat in ("tfirst", "tlast"):
                    per.setdefault(f, {})[stat[1:]] = int(row["time"])
                else:
                    per.setdefault(f, {})[stat] = value
            elif name != "time" and value not in (None, ""):
                tag_items.append((name, str(value)))
        if per:
            key: SeriesKey = tuple(sorted(tag_items))
            for f, stats in per.items():
                out.setdefault(key, {}).setdefault(f, {}).update(stats)
    return out


def _merge_fields(parts: list[Aggregates]) -> Aggregates:
    """The statements' rows together; fields without values left out; the gap
    statement's missing row (a single point) as 0."""
    out: Aggregates = {}
    for part in parts:
        for key, per in part.items():
            for f, stats in per.items():
                out.setdefault(key, {}).setdefault(f, {}).update(stats)
    for key in list(out):
        per = {f: s for f, s in out[key].items() if s.get("count")}
        for s in per.values():
            if "first" in s:  # one point: no gap, no row from the gap statement
                s["tsq"] = int(s.get("tsq") or 0)
        if per:
            out[key] = per
        else:
            del out[key]
    return out


def _db_exists(client: InfluxClient, db: str) -> bool:
    rows = client.query_points("SHOW DATABASES")
    return any(r.get("name") == db for r in rows)


def compare(pid: str, source: Aggregates, target: Aggregates, types: dict[str, FieldType],
            rel_tol: float = 1e-9) -> list[Mismatch]:
    out: list[Mismatch] = []
    for key in sorted(set(source) | set(target)):
        s_fields, t_fields = source.get(key, {}), target.get(key, {})
        for f in sorted(set(s_fields) | set(t_fields)):
            s, t = s_fields.get(f, {}), t_fields.get(f, {})
            name = series_text(key)
            if s.get("count", 0) != t.get("count", 0):
                out.append(Mismatch(pid, name, f, "count", s.get("count", 0), t.get("count", 0)))
                continue
            for stat in ("first", "last"):
                if s.get(stat) != t.get(stat):
                    out.append(Mismatch(pid, name, f, stat + " time", _time(s.get(stat)),
                                        _time(t.get(stat))))
            if s.get("tsq") != t.get("tsq"):
                out.append(Mismatch(pid, name, f, "time checksum", s.get("tsq"),
                                    t.get("tsq")))
            if types.get(f) not in ("float", "integer"):
                continue
            for stat in ("sum", "min", "max"):
                sv, tv = s.get(stat), t.get(stat)
                if types.get(f) == "integer":
                    if stat == "sum" and sv is not None:
                        sv = wrap64(int(sv))
                    same = sv is not None and tv is not None and int(sv) == int(tv)
                elif stat == "sum":
                    scale = max(abs(sv or 0.0), abs(tv or 0.0), s.get("abs") or 0.0)
                    same = sv is not None and tv is not None and \
                        math.isclose(sv, tv, rel_tol=rel_tol, abs_tol=rel_tol * scale)
                else:
                    same = sv is not None and tv is not None and float(sv) == float(tv)
                if not same:
                    out.append(Mismatch(pid, name, f, stat, sv, tv))
    return out


def _time(ns: Any) -> Any:
    return rfc3339(int(ns)) if isinstance(ns, int) else ns


def _recorded(mig: Migration, p: Partition) -> set[SeriesKey] | None:
    found = mig.store.series(p.migration, p.id)
    if not found:
        return None
    return {tuple(sorted((str(k), str(v)) for k, v in json.loads(s))) for s in found}


def verify(mig: Migration, client: InfluxClient, partition_ids: list[str] | None = None,
           *, rel_tol: float = 1e-9, source: Literal["auto", "read"] = "auto",
           workers: int = 2) -> VerifyReport:
    """Check the partitions (default: every partition that ran) and record the verdict.

    ``source="read"`` reads every partition again from the source instead of using the
    statistics ``run`` recorded; ``workers``: InfluxDB statements in flight at a time
    (the server's cores; see the module docstring).
    """
    started = time.perf_counter()
    report = VerifyReport(mig.id)
    partitions = mig.partitions(partition_ids) if partition_ids else \
        mig.partitions(status=(DONE, ROLLED_BACK))
    if any(p.status == DONE for p in partitions):
        report.warnings = list(mig.source.warnings)
    ftypes_of: dict[tuple[str, str], dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # every partition's statements queued at once, so the server is never idle while
        # the source side of a partition is computed
        pending: list[tuple[Partition, list[Future[Aggregates]], float]] = []
        for p in partitions:
            where = (p.bucket, p.measurement)
            if where not in ftypes_of:
                ftypes_of[where] = field_types(client, p.bucket, p.measurement)
            ftypes = ftypes_of[where]
            statements = []
            for f in sorted(ftypes):
                statements.append(target_statement(p, {f: ftypes[f]}))
                if p.status != ROLLED_BACK:
                    statements += time_statements(p, f)
            futures = [pool.submit(_target_rows, client, p.bucket, sql) for sql in statements]
            pending.append((p, futures, time.perf_counter()))
        for p, futures, t0 in pending:
            check = PartitionCheck(p.id, rolled_back=p.status == ROLLED_BACK)
            tgt = _merge_fields([f.result() for f in futures])
            if check.rolled_back:  # its series must be gone from its window
                src: Aggregates = {}
                types: dict[str, FieldType] = {}
                rejected = 0
                mine = _recorded(mig, p)
                if mine is not None:
                    tgt = {k: v for k, v in tgt.items() if k in mine}
                check.mismatches = [Mismatch(p.id, series_text(k), f, "count after rollback",
                                             0, s.get("count", 0))
                                    for k, per in sorted(tgt.items()) for f, s in per.items()]
            else:
                cached = cached_aggregates(mig, p) if source == "auto" else None
                src, types, rejected = cached if cached is not None else \
                    source_aggregates(mig, p)
                check.mismatches = compare(p.id, src, tgt, types, rel_tol)
            check.series = len(set(src) | set(tgt))
            check.source_values = sum(s.get("count", 0) for v in src.values()
                                      for s in v.values())
            check.target_values = sum(s.get("count", 0) for v in tgt.values()
                                      for s in v.values())
            check.rejected = rejected
            check.seconds = time.perf_counter() - t0
            mig.store.set_verified(mig.id, p.id, check.state if check.ok else
                                   f"{len(check.mismatches)} mismatches")
            report.partitions.append(check)
    # "ok" is what the cutover gate reads: InfluxDB holds the migration, identical
    # (a rolled back or empty verify is consistent, but no reason to cut over)
    mig.store.event(mig.id, "verify", None, ok=report.verdict == "identical",
                    mismatches=len(report.mismatches), verdict=report.verdict)
    report.seconds = time.perf_counter() - started
    return report
