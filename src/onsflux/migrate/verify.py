"""Verify: per partition, per series, per field — count, sum, min, max on both sides.

- **source**: the partition's rows read again from the source (export files or the
  Timestream API) and mapped exactly as ``run`` maps them (rows the mapping rejects are
  not expected in InfluxDB; they are listed in the state store with their reason and
  counted in the report), aggregated with polars;
- **target**: one InfluxQL statement per partition, ``SELECT count(f), sum(f), min(f),
  max(f) … FROM m WHERE time >= start AND time < stop GROUP BY *`` (``count`` only for
  string and boolean fields, which have no sum/min/max).

Comparison: counts, integer sums (with int64 wrap-around, as InfluxDB sums), integer and
float min/max are exact; float sums agree within ``rel_tol`` (1e-9) of the larger sum or
``rel_tol`` × Σ|x| — the order of additions differs between the two sides. A series
present on one side only is a mismatch for each of its fields. Every mismatch is listed:
partition, series, field, statistic, source value, target value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..catalog import FieldType
from ..influx import InfluxClient, quote_ident
from .mapping import map_frame
from .plan import Migration
from .state import DONE, Partition

STATS_NUMERIC = ("count", "sum", "min", "max")

SeriesKey = tuple[tuple[str, str], ...]


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


Aggregates = dict[SeriesKey, dict[str, dict[str, Any]]]


def source_aggregates(mig: Migration, p: Partition) -> tuple[Aggregates, dict[str, FieldType], int]:
    """Per series, per field: count/sum/min/max of what ``run`` writes for ``p``."""
    tm = mig.mapping.table(p.table_name)
    frames: list[pl.DataFrame] = []
    types: dict[str, FieldType] = {}
    tags: set[str] = set()
    rejected = 0
    for chunk in mig.source.chunks(p.table_name, p.start_ns, p.stop_ns, p.files):
        mapped = map_frame(tm, chunk.frame, chunk.types, source=chunk.label,
                           time_column=mig.mapping.time_column)
        rejected += mapped.rejects.height
        if mapped.points:
            frames.append(mapped.frame)
            types.update(mapped.fields)
            tags.update(mapped.tags)
    out: Aggregates = {}
    if not frames:
        return out, types, rejected
    frame = pl.concat(frames, how="diagonal_relaxed")
    tag_list = sorted(tags)
    if tag_list:
        frame = frame.with_columns([pl.col(t).fill_null("") for t in tag_list])
    aggs: list[pl.Expr] = []
    for f, ft in types.items():
        aggs.append(pl.col(f).count().alias(f"count\x00{f}"))
        if ft in ("float", "integer"):
            col = pl.col(f).cast(pl.Float64 if ft == "float" else pl.Int64)
            aggs += [col.min().alias(f"min\x00{f}"), col.max().alias(f"max\x00{f}")]
            if ft == "float":
                aggs += [col.sum().alias(f"sum\x00{f}"), col.abs().sum().alias(f"abs\x00{f}")]
            else:  # exact: Python ints from a Decimal sum (no int64 overflow)
                aggs.append(pl.col(f).cast(pl.Decimal(38, 0)).sum().alias(f"sum\x00{f}"))
    grouped = frame.group_by(tag_list).agg(aggs) if tag_list else frame.select(aggs)
    for row in grouped.iter_rows(named=True):
        key = tuple(sorted((t, row[t]) for t in tag_list if row[t] != ""))
        per: dict[str, dict[str, Any]] = {}
        for name, value in row.items():
            if "\x00" not in name:
                continue
            stat, f = name.split("\x00", 1)
            if stat == "sum" and types[f] == "integer" and value is not None:
                value = int(value)
            per.setdefault(f, {})[stat] = value
        per = {f: s for f, s in per.items() if s.get("count")}
        if per:
            out[key] = per
    return out, types, rejected


def target_aggregates(client: InfluxClient, p: Partition, types: dict[str, FieldType]
                      ) -> Aggregates:
    """The same statistics from InfluxDB over the partition's window."""
    db = p.bucket
    known = client.query_points(f"SHOW FIELD KEYS FROM {quote_ident(p.measurement)}", db=db) \
        if _db_exists(client, db) else []
    ftypes: dict[str, str] = {r["fieldKey"]: r["fieldType"] for r in known}
    fields = sorted(set(types) | set(ftypes))
    if not ftypes:
        return {}
    selects: list[str] = []
    for f in fields:
        if f not in ftypes:
            continue
        q = quote_ident(f)
        selects.append(f"count({q}) AS {quote_ident('count' + chr(1) + f)}")
        if ftypes[f] in ("float", "integer"):
            for stat in ("sum", "min", "max"):
                selects.append(f"{stat}({q}) AS {quote_ident(stat + chr(1) + f)}")
    sql = (f"SELECT {', '.join(selects)} FROM {quote_ident(p.measurement)} WHERE "
           f"time >= {int(p.start_ns)} AND time < {int(p.stop_ns)} GROUP BY *")
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
            out[tuple(sorted(tag_items))] = per
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
           *, rel_tol: float = 1e-9) -> VerifyReport:
    """Check the partitions (default: every partition that ran) and record the verdict."""
    import time

    started = time.perf_counter()
    report = VerifyReport(mig.id)
    partitions = mig.partitions(partition_ids) if partition_ids else \
        mig.partitions(status=(DONE,))
    for p in partitions:
        t0 = time.perf_counter()
        check = PartitionCheck(p.id)
        src, types, rejected = source_aggregates(mig, p)
        tgt = target_aggregates(client, p, types)
        check.mismatches = compare(p.id, src, tgt, types, rel_tol)
        check.series = len(set(src) | set(tgt))
        check.source_values = sum(s.get("count", 0) for v in src.values() for s in v.values())
        check.target_values = sum(s.get("count", 0) for v in tgt.values() for s in v.values())
        check.rejected = rejected
        check.seconds = time.perf_counter() - t0
        mig.store.set_verified(mig.id, p.id, "ok" if check.ok else
                               f"{len(check.mismatches)} mismatches")
        report.partitions.append(check)
    mig.store.event(mig.id, "verify", None, ok=report.ok, mismatches=len(report.mismatches))
    report.seconds = time.perf_counter() - started
    return report
