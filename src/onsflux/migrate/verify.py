"""Verify: per partition, series and field — the count of every series on both sides,
and the sum and timestamps (first, last, checksum) of a random sample of series
(``Checks(sample=1)``: of every series; ``Checks(full=True)``: min and max too).

- **source**: what ``run`` mapped for the partition (rows the mapping rejects are not
  expected in InfluxDB; they are listed in the state store with their reason and
  counted in the report), aggregated with polars (:mod:`.aggregates`). For UNLOAD
  exports ``run`` records these statistics with the partition (computed from the frames
  it writes, while its writers work), and verify uses them when the partition is still
  ``done`` at that very attempt and its files (url, size) are unchanged in the export;
  otherwise — and always for ``timestream://``, whose rows change after a run, or with
  ``source="read"`` — the rows are read again from the source and mapped exactly as
  ``run`` maps them;
- **target, counts**: per field, ``SELECT count(f) FROM m WHERE <range> GROUP BY
  time(<window>), * fill(none)`` over a range of contiguous partitions (the buckets of
  ``GROUP BY time`` are aligned on the epoch, as the plan's windows are, so a bucket is
  a partition); with ``sample=1`` or ``full`` the other statistics ride along. InfluxDB
  1.6 spends about 1 µs of one core per value and per aggregate (more on points still
  in its cache, i.e. right after the run) — as much per value as a quarter of the
  write — so each statement reads at most :data:`VALUES_PER_STATEMENT` estimated
  values: ranges hold as many partitions as fit, and a larger partition is cut into
  sub-ranges whose rows are added. No statement grows with the export, so none meets
  the client timeout on a large one.
- **target, sample**: per partition and field, for the sampled series (named exactly in
  the ``WHERE`` clause: every tag key, ``= ''`` for the absent ones), ``sum(f)``,
  ``first(f)`` and ``last(f)`` (their times) and ``sum(elapsed(f, 1ns) * elapsed(f,
  1ns))`` (Σ gap², see :mod:`.aggregates`; a subquery, about 5 µs per value). Every
  series where the field has at most :data:`TIME_ALL_VALUES` values in the partition;
  elsewhere a random sample holding ``sample`` (2 %) of the values, at least one series,
  in statements of at most :data:`TIME_VALUES_PER_STATEMENT` values.

``workers`` statements run at a time (the server's cores).

Comparison: counts and integer sums (with int64 wrap-around, as InfluxDB sums) are exact;
float sums agree within ``rel_tol`` (1e-9) of the larger sum or ``rel_tol`` × Σ|x| — the
order of additions differs between the two sides; with ``full``, integer and float
min/max are exact. A series present on one side only is a mismatch for each of its
fields. First and last time and the time checksum are exact, so a point moved by 1 µs,
or nanoseconds truncated to microseconds, is a mismatch in a checked series.

What the default sees: every missing or extra point and series, in every partition
(counts); any error that touches every series — an encoder, precision, timezone or
mapping bug — in the sample. What it does not see: a changed value, or a point moved in
time within its partition, in a series outside the sample (another verify draws other
series; ``sample=1`` checks them all), and two changes in one series that cancel in its
sum (``full`` adds min and max).

Duplicates: the source side is what ``run`` writes — rows on one point collapsed, the
last in export order winning (:mod:`.dedupe`) — so the expected counts are the
deduplicated ones.

Rolled back partitions are checked too: the series the partition recorded (see
:mod:`.rollback`) must be **absent** from its window (counts); the verdict says
``absent``, not ``identical``.
"""

from __future__ import annotations

import json
import math
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import FieldType
from ..exceptions import QueryError
from ..frames import rfc3339
from ..influx.client import InfluxClient
from ..quoting import quote_ident, quote_literal
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
    #: (series, field) pairs whose timestamps were checked
    time_series: int = 0

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
                "time_checked": self.time_series, "seconds": round(self.seconds, 3)}


@dataclass
class VerifyReport:
    migration: str
    partitions: list[PartitionCheck] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    checks: str = ""

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
                "values": self.values, "checks": self.checks, "warnings": self.warnings,
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


#: values of one field a value statement reads at most (count and sum: ~1.3 µs per
#: value on one core of InfluxDB 1.6, so ~1.3 s; a loaded server stays far below the
#: client's timeout)
VALUES_PER_STATEMENT = 1_000_000
#: values a timestamp statement reads at most (Σ gap² runs through a subquery: ~5 µs
#: per value)
TIME_VALUES_PER_STATEMENT = 200_000
#: a partition's field with at most this many values has its timestamps checked on
#: every series; above it, on a random sample of series (see :class:`Checks`)
TIME_ALL_VALUES = 50_000


@dataclass(frozen=True)
class Checks:
    """What verify compares beyond the count of every series (see the module docstring).

    ``sample``: the fraction of a partition's values (of each field) whose series get
    their sum and timestamps checked, at least one series; every series when the field
    has at most :data:`TIME_ALL_VALUES` values in the partition, or with ``sample=1``.
    ``full``: every series, and min and max too.
    """

    full: bool = False
    sample: float = 0.02

    @property
    def every_series(self) -> bool:
        return self.full or self.sample >= 1.0

    def describe(self) -> str:
        if self.full:
            return "count, sum, min, max and timestamps of every series"
        if self.every_series:
            return "count, sum and timestamps of every series"
        return (f"count of every series; sum and timestamps of a {self.sample:.0%} sample "
                "(every series of small partitions)")


@dataclass(frozen=True)
class Statement:
    """One InfluxQL statement and the partitions its rows belong to: one (rows carry
    no usable time) or several contiguous ones (``GROUP BY time(window)``: a row's time
    is its bucket, the start of its partition)."""

    sql: str
    partitions: tuple[Partition, ...]
    #: only these series (timestamp statements on a sample); None: every series
    keys: frozenset[SeriesKey] | None = None

    def partition_of(self, t: int) -> Partition | None:
        if len(self.partitions) == 1:
            return self.partitions[0]
        for p in self.partitions:
            if p.start_ns <= t < p.stop_ns:
                return p
        return None


def _duration(ns: int) -> str:
    for unit, size in (("d", 86_400_000_000_000), ("h", 3_600_000_000_000),
                       ("s", 1_000_000_000), ("u", 1_000)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def _window(start_ns: int, stop_ns: int) -> str:
    return f"time >= {int(start_ns)} AND time < {int(stop_ns)}"


def value_selects(f: str, ft: str, stats: tuple[str, ...]) -> list[str]:
    """``count(f)`` (and the numeric ``stats`` of a float or integer field), each named
    ``stat\x01field`` so the rows of several statements merge by name."""
    q = quote_ident(f)
    out = [f"count({q}) AS {quote_ident('count' + chr(1) + f)}"]
    if ft in ("float", "integer"):
        out += [f"{st}({q}) AS {quote_ident(st + chr(1) + f)}" for st in stats]
    return out


def spans(partitions: list[Partition], limit: int | None = None
          ) -> list[tuple[int, int, tuple[Partition, ...], bool]]:
    """Cut ``partitions`` (one measurement) into statement ranges of at most ``limit``
    estimated values each: ``(start, stop, partitions, grouped)``. Contiguous
    partitions of one window size share a range (``grouped``: one row per series and
    partition through ``GROUP BY time(window)``, whose buckets are aligned on the epoch
    as the plan's windows are); a partition above ``limit`` is cut into sub-ranges
    whose rows are summed. A partition with no estimate counts as ``limit``
    (default :data:`VALUES_PER_STATEMENT`). Pure."""
    limit = limit or VALUES_PER_STATEMENT
    out: list[tuple[int, int, tuple[Partition, ...], bool]] = []
    run: list[Partition] = []
    size = 0

    def close() -> None:
        nonlocal run, size
        if run:
            out.append((run[0].start_ns, run[-1].stop_ns, tuple(run), len(run) > 1))
        run, size = [], 0

    for p in sorted(partitions, key=lambda x: x.start_ns):
        est = p.est_rows if p.est_rows > 0 else limit
        if est > limit:
            close()
            k = -(-est // limit)
            step = -(-(p.stop_ns - p.start_ns) // k)
            for a in range(p.start_ns, p.stop_ns, step):
                out.append((a, min(a + step, p.stop_ns), (p,), False))
            continue
        if run and (run[-1].stop_ns != p.start_ns or size + est > limit or
                    run[-1].stop_ns - run[-1].start_ns != p.stop_ns - p.start_ns):
            close()
        run.append(p)
        size += est
    close()
    return out


def value_statements(measurement: str, partitions: list[Partition], fields: dict[str, str],
                     stats: tuple[str, ...], limit: int | None = None
                     ) -> list[Statement]:
    """Per field and statement range (:func:`spans`): ``count`` (and ``stats``) per
    series. Pure."""
    m = quote_ident(measurement)
    out = []
    for a, b, parts, grouped in spans(partitions, limit):
        group = f"GROUP BY time({_duration(parts[0].stop_ns - parts[0].start_ns)}), * " \
                "fill(none)" if grouped else "GROUP BY *"
        for f, ft in sorted(fields.items()):
            out.append(Statement(f"SELECT {', '.join(value_selects(f, ft, stats))} FROM {m} "
                                 f"WHERE {_window(a, b)} {group}", parts))
    return out


def series_predicate(key: SeriesKey, tag_keys: list[str]) -> str:
    """Exactly the series ``key``: every tag key named, ``= ''`` for the ones it lacks
    (InfluxQL's test for an absent tag)."""
    have = dict(key)
    conds = [f"{quote_ident(k)} = {quote_literal(have.get(k, ''))}"
             for k in sorted(set(tag_keys) | set(have))]
    return "(" + " AND ".join(conds) + ")" if conds else "true"


def time_statements(p: Partition, f: str, keys: list[SeriesKey] | None = None,
                    tag_keys: list[str] | None = None, *, with_sum: bool = False) -> list[str]:
    """The first and last timestamps of ``f`` per series (the times of ``first()`` and
    ``last()``), and Σ gap² of its timestamps (``sum(elapsed(f, 1ns) * elapsed(f, 1ns))``,
    one subquery level; see :mod:`.aggregates`) — of every series in ``p``'s window, or
    only of ``keys`` — and ``with_sum``, the sum of ``f`` too. Pure."""
    q, m = quote_ident(f), quote_ident(p.measurement)
    where = _window(p.start_ns, p.stop_ns)
    if keys is not None:
        where += " AND (" + " OR ".join(series_predicate(k, tag_keys or []) for k in keys) + ")"
    summed = [f"SELECT sum({q}) AS {quote_ident('sum' + chr(1) + f)} FROM {m} WHERE {where} "
              "GROUP BY *"] if with_sum else []
    return summed + [
        f"SELECT first({q}) AS {quote_ident('tfirst' + chr(1) + f)} FROM {m} WHERE "
        f"{where} GROUP BY *",
        f"SELECT last({q}) AS {quote_ident('tlast' + chr(1) + f)} FROM {m} WHERE "
        f"{where} GROUP BY *",
        f"SELECT sum(e) AS {quote_ident('tsq' + chr(1) + f)} FROM (SELECT elapsed({q}, 1ns) "
        f"* elapsed({q}, 1ns) AS e FROM {m} WHERE {where} GROUP BY *) GROUP BY *",
    ]


def sample_series(src: Aggregates, f: str, checks: Checks, rng: random.Random
                  ) -> list[SeriesKey] | None:
    """The series whose sum and timestamps of ``f`` are checked: None for every one
    (``sample=1``, ``full``, or at most :data:`TIME_ALL_VALUES` values), else a random
    sample holding about ``sample`` of the values (at least one series)."""
    counts = {k: int(per[f].get("count") or 0) for k, per in src.items() if f in per}
    total = sum(counts.values())
    if checks.every_series or total <= TIME_ALL_VALUES or not counts:
        return None
    order = sorted(counts)
    rng.shuffle(order)
    want, got = checks.sample * total, 0
    out: list[SeriesKey] = []
    for k in order:
        if out and got >= want:
            break
        out.append(k)
        got += counts[k]
    return out if len(out) < len(counts) else None


def _chunks_by_values(keys: list[SeriesKey], counts: dict[SeriesKey, int], limit: int
                      ) -> list[list[SeriesKey]]:
    out: list[list[SeriesKey]] = [[]]
    size = 0
    for k in keys:
        if out[-1] and size + counts.get(k, 0) > limit:
            out.append([])
            size = 0
        out[-1].append(k)
        size += counts.get(k, 0)
    return out


def _combine(into: dict[str, Any], stat: str, value: Any) -> None:
    """Merge one statistic of a sub-range into the partition's (sums add, integer sums
    wrapping as InfluxDB's do; min/first the smaller; max/last the larger)."""
    old = into.get(stat)
    if old is None or value is None:
        into[stat] = value if old is None else old
    elif stat in ("count", "tsq"):
        into[stat] = old + value
    elif stat == "sum":
        into[stat] = wrap64(old + value) if isinstance(old, int) and \
            isinstance(value, int) else old + value
    elif stat in ("min", "first"):
        into[stat] = min(old, value)
    else:
        into[stat] = max(old, value)


def _target_rows(client: InfluxClient, db: str, stmt: Statement
                 ) -> dict[str, Aggregates]:
    """The statement's rows as statistics, per partition id."""
    out: dict[str, Aggregates] = {}
    for row in client.query_points(stmt.sql, db=db):
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
        key: SeriesKey = tuple(sorted(tag_items))
        if not per or (stmt.keys is not None and key not in stmt.keys):
            continue
        p = stmt.partition_of(int(row.get("time") or 0))
        if p is None:  # a bucket outside every partition: the alignment assumption broke
            raise QueryError(f"verify: a row at {row.get('time')} of {stmt.sql[:120]}… "
                             "belongs to no partition")
        mine = out.setdefault(p.id, {}).setdefault(key, {})
        for f, stats in per.items():
            into = mine.setdefault(f, {})
            for stat, value in stats.items():
                _combine(into, stat, value)
    return out


def _merge_fields(parts: list[Aggregates]) -> Aggregates:
    """The statements' rows of one partition together (sub-ranges combined); fields
    without values left out; the gap statement's missing row (a single point) as 0."""
    out: Aggregates = {}
    for part in parts:
        for key, per in part.items():
            for f, stats in per.items():
                into = out.setdefault(key, {}).setdefault(f, {})
                for stat, value in stats.items():
                    _combine(into, stat, value)
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
            rel_tol: float = 1e-9, *, stats: tuple[str, ...] = ("sum", "min", "max"),
            timed: dict[str, set[SeriesKey] | None] | None = None) -> list[Mismatch]:
    """Every difference between the two sides: counts always; for the series ``timed``
    names per field (None: every series; no entry: none; ``timed`` None: every series
    of every field), the timestamps (first, last, Σ gap²) and the numeric ``stats`` of
    float and integer fields."""
    out: list[Mismatch] = []
    for key in sorted(set(source) | set(target)):
        s_fields, t_fields = source.get(key, {}), target.get(key, {})
        for f in sorted(set(s_fields) | set(t_fields)):
            s, t = s_fields.get(f, {}), t_fields.get(f, {})
            name = series_text(key)
            if s.get("count", 0) != t.get("count", 0):
                out.append(Mismatch(pid, name, f, "count", s.get("count", 0), t.get("count", 0)))
                continue
            keys = timed.get(f, set()) if timed is not None else None
            if keys is None or key in keys:
                for stat in ("first", "last"):
                    if s.get(stat) != t.get(stat):
                        out.append(Mismatch(pid, name, f, stat + " time", _time(s.get(stat)),
                                            _time(t.get(stat))))
                if s.get("tsq") != t.get("tsq"):
                    out.append(Mismatch(pid, name, f, "time checksum", s.get("tsq"),
                                        t.get("tsq")))
            if types.get(f) not in ("float", "integer") or (keys is not None and key not in keys):
                continue
            for stat in stats:
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
           workers: int = 2, checks: Checks | None = None,
           rng: random.Random | None = None) -> VerifyReport:
    """Check the partitions (default: every partition that ran) and record the verdict.

    ``source="read"`` reads every partition again from the source instead of using the
    statistics ``run`` recorded; ``workers``: InfluxDB statements in flight at a time
    (the server's cores); ``checks``: see :class:`Checks`; ``rng`` picks the series
    whose timestamps are checked (a fresh random choice by default).
    """
    started = time.perf_counter()
    checks = checks or Checks()
    rng = rng or random.Random()
    stats = ("sum", "min", "max") if checks.full else ("sum",)
    # statistics of every series in the value statements; the sample's sums come with
    # its timestamps
    every = stats if checks.every_series else ()
    report = VerifyReport(mig.id)
    partitions = mig.partitions(partition_ids) if partition_ids else \
        mig.partitions(status=(DONE, ROLLED_BACK))
    if any(p.status == DONE for p in partitions):
        report.warnings = list(mig.source.warnings)
    ftypes_of: dict[tuple[str, str], dict[str, str]] = {}
    t0 = {p.id: time.perf_counter() for p in partitions}
    parts: dict[str, list[Future[dict[str, Aggregates]]]] = {p.id: [] for p in partitions}
    timed: dict[str, dict[str, set[SeriesKey] | None]] = {p.id: {} for p in partitions}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # the value statements first, all queued, so the server works while the source
        # side is loaded (or read again)
        value_futures: list[tuple[Statement, Future[dict[str, Aggregates]]]] = []
        groups: dict[tuple[str, str, bool], list[Partition]] = {}
        for p in partitions:
            groups.setdefault((p.bucket, p.measurement, p.status == ROLLED_BACK), []).append(p)
        for (bucket, measurement, back), group in groups.items():
            if (bucket, measurement) not in ftypes_of:
                ftypes_of[(bucket, measurement)] = field_types(client, bucket, measurement)
            for st in value_statements(measurement, group, ftypes_of[(bucket, measurement)],
                                       () if back else every):
                value_futures.append((st, pool.submit(_target_rows, client, bucket, st)))
        sources: dict[str, tuple[Aggregates, dict[str, FieldType], int]] = {}
        for p in partitions:
            if p.status == ROLLED_BACK:
                continue
            cached = cached_aggregates(mig, p) if source == "auto" else None
            src = sources[p.id] = cached if cached is not None else source_aggregates(mig, p)
            tag_keys = sorted({k for key in src[0] for k, _ in key})
            for f in sorted(ftypes_of[(p.bucket, p.measurement)]):
                counts = {k: int(per[f].get("count") or 0) for k, per in src[0].items()
                          if f in per}
                sample = sample_series(src[0], f, checks, rng)
                numeric = ftypes_of[(p.bucket, p.measurement)][f] in ("float", "integer")
                timed[p.id][f] = None if sample is None else set(sample)
                keys = sorted(counts) if sample is None else sample
                if sample is None and sum(counts.values()) <= TIME_VALUES_PER_STATEMENT:
                    batches: list[list[SeriesKey] | None] = [None]
                else:
                    batches = list(_chunks_by_values(keys, counts, TIME_VALUES_PER_STATEMENT))
                for batch in batches:
                    for sql in time_statements(p, f, batch, tag_keys,
                                               with_sum=numeric and not every):
                        st = Statement(sql, (p,), None if batch is None else frozenset(batch))
                        parts[p.id].append(pool.submit(_target_rows, client, p.bucket, st))
        for st, fut in value_futures:
            got = fut.result()
            for p in st.partitions:
                parts[p.id].append(_done(got))
        for p in partitions:
            check = PartitionCheck(p.id, rolled_back=p.status == ROLLED_BACK)
            tgt = _merge_fields([f.result().get(p.id, {}) for f in parts[p.id]])
            if check.rolled_back:  # its series must be gone from its window
                src_aggs: Aggregates = {}
                rejected = 0
                mine = _recorded(mig, p)
                if mine is not None:
                    tgt = {k: v for k, v in tgt.items() if k in mine}
                check.mismatches = [Mismatch(p.id, series_text(k), f, "count after rollback",
                                             0, s.get("count", 0))
                                    for k, per in sorted(tgt.items()) for f, s in per.items()]
            else:
                src_aggs, types, rejected = sources[p.id]
                check.mismatches = compare(p.id, src_aggs, tgt, types, rel_tol, stats=stats,
                                           timed=timed[p.id])
                check.time_series = sum(len(src_aggs) if v is None else len(v)
                                        for v in timed[p.id].values())
            check.series = len(set(src_aggs) | set(tgt))
            check.source_values = sum(s.get("count", 0) for v in src_aggs.values()
                                      for s in v.values())
            check.target_values = sum(s.get("count", 0) for v in tgt.values()
                                      for s in v.values())
            check.rejected = rejected
            check.seconds = time.perf_counter() - t0[p.id]
            mig.store.set_verified(mig.id, p.id, check.state if check.ok else
                                   f"{len(check.mismatches)} mismatches")
            report.partitions.append(check)
    # "ok" is what the cutover gate reads: InfluxDB holds the migration, identical
    # (a rolled back or empty verify is consistent, but no reason to cut over)
    mig.store.event(mig.id, "verify", None, ok=report.verdict == "identical",
                    mismatches=len(report.mismatches), verdict=report.verdict)
    report.checks = checks.describe()
    report.seconds = time.perf_counter() - started
    return report


def _done(value: dict[str, Aggregates]) -> Future[dict[str, Aggregates]]:
    fut: Future[dict[str, Aggregates]] = Future()
    fut.set_result(value)
    return fut
