"""Verify: per partition, per series, per field — count, sum, min, max on both sides.

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
  boolean fields, which have no sum/min/max), ``workers`` statements at a time.
  InfluxDB 1.x runs a ``GROUP BY *`` aggregate on one core (one series per tag set,
  nothing to merge in parallel) and its cost grows with every call, whether the calls
  share a statement or not: one statement per field lets the server use its cores.

Comparison: counts, integer sums (with int64 wrap-around, as InfluxDB sums), integer and
float min/max are exact; float sums agree within ``rel_tol`` (1e-9) of the larger sum or
``rel_tol`` × Σ|x| — the order of additions differs between the two sides. A series
present on one side only is a mismatch for each of its fields. Every mismatch is listed:
partition, series, field, statistic, source value, target value.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import FieldType
from ..influx.client import InfluxClient
from ..quoting import quote_ident
from . import aggregates as agg
from .aggregates import Aggregates, SeriesKey, SourceAggregator
from .mapping import map_frame
from .plan import Migration
from .run import caches_aggregates
from .sources import UnloadSource
from .state import DONE, Partition

STATS_NUMERIC = ("count", "sum", "min", "max")


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
    series: int = 0
    source_values: int = 0
    target_values: int = 0
    rejected: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "series": self.series,
                "source_values": self.source_values, "target_values": self.target_values,
                "rejected": self.rejected, "mismatches": len(self.mismatches),
                "seconds": round(self.seconds, 3)}


@dataclass
class VerifyReport:
    migration: str
    partitions: list[PartitionCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mismatches(self) -> list[Mismatch]:
        return [m for p in self.partitions for m in p.mismatches]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def values(self) -> int:
        return sum(p.source_values for p in self.partitions)

    def as_dict(self) -> dict[str, Any]:
        return {"migration": self.migration, "ok": self.ok,
                "partitions": [p.as_dict() for p in self.partitions],
                "mismatches": [m.as_dict() for m in self.mismatches],
                "values": self.values, "seconds": round(self.seconds, 3)}


def series_text(key: SeriesKey) -> str:
    return ",".join(f"{k}={v}" for k, v in key) or "(no tags)"


def source_aggregates(mig: Migration, p: Partition) -> tuple[Aggregates, dict[str, FieldType], int]:
    """Per series, per field: count/sum/min/max of what ``run`` writes for ``p``, read
    again from the source."""
    tm = mig.mapping.table(p.table_name)
    stats = SourceAggregator()
    for chunk in mig.source.chunks(p.table_name, p.start_ns, p.stop_ns, p.files):
        mapped = map_frame(tm, chunk.frame, chunk.types, source=chunk.label,
                           time_column=mig.mapping.time_column)
        stats.rejected += mapped.rejects.height
        if mapped.points:
            stats.add(mapped.frame, mapped.tags, mapped.fields)
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
    return agg.loads(blob)


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
            f"time >= {int(p.start_ns)} AND time < {int(p.stop_ns)} GROUP BY *")


def _target_rows(client: InfluxClient, db: str, sql: str) -> Aggregates:
    out: Aggregates = {}
    for row in client.query_points(sql, db=db):
        per: dict[str, dict[str, Any]] = {}
        tag_items = []
        for name, value in row.items():
            if chr(1) in name:
                stat, f = name.split(chr(1), 1)
                per.setdefault(f, {})[stat] = value
            elif name != "time" and value not in (None, ""):
                tag_items.append((name, str(value)))
        per = {f: s for f, s in per.items() if s.get("count")}
        if per:
            key: SeriesKey = tuple(sorted(tag_items))
            out.setdefault(key, {}).update(per)
    return out


def _merge_fields(parts: list[Aggregates]) -> Aggregates:
    out: Aggregates = {}
    for part in parts:
        for key, per in part.items():
            out.setdefault(key, {}).update(per)
    return out


def _db_exists(client: InfluxClient, db: str) -> bool:
    rows = client.query_points("SHOW DATABASES")
    return any(r.get("name") == db for r in rows)


def _wrap64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


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
            if types.get(f) not in ("float", "integer"):
                continue
            for stat in ("sum", "min", "max"):
                sv, tv = s.get(stat), t.get(stat)
                if types.get(f) == "integer":
                    if stat == "sum" and sv is not None:
                        sv = _wrap64(int(sv))
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
        mig.partitions(status=(DONE,))
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
            futures = [pool.submit(_target_rows, client, p.bucket,
                                   target_statement(p, {f: ftypes[f]}))
                       for f in sorted(ftypes)]
            pending.append((p, futures, time.perf_counter()))
        for p, futures, t0 in pending:
            check = PartitionCheck(p.id)
            cached = cached_aggregates(mig, p) if source == "auto" else None
            src, types, rejected = cached if cached is not None else source_aggregates(mig, p)
            tgt = _merge_fields([f.result() for f in futures])
            check.mismatches = compare(p.id, src, tgt, types, rel_tol)
            check.series = len(set(src) | set(tgt))
            check.source_values = sum(s.get("count", 0) for v in src.values()
                                      for s in v.values())
            check.target_values = sum(s.get("count", 0) for v in tgt.values()
                                      for s in v.values())
            check.rejected = rejected
            check.seconds = time.perf_counter() - t0
            mig.store.set_verified(mig.id, p.id, "ok" if check.ok else
                                   f"{len(check.mismatches)} mismatches")
            report.partitions.append(check)
    mig.store.event(mig.id, "verify", None, ok=report.ok, mismatches=len(report.mismatches))
    report.seconds = time.perf_counter() - started
    return report
