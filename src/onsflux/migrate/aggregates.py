"""Source-side verify statistics: per series, per field — count, sum, min, max, and
the timestamps: first, last and a checksum.

:class:`SourceAggregator` takes the mapped frames of one partition, chunk by chunk
(``run`` feeds it while the writers work; ``verify`` feeds it when it has to read the
source again), reduces each chunk with one polars ``group_by`` and merges the partial
results at the end with a second one. The result is an :data:`Aggregates` dict::

    {(("region", "north"), ("source", "hydro")): {"power_mw": {"count": 3, "sum": 1.5,
                                                               "min": 0.1, "max": 1.0,
                                                               "abs": 1.5, "first": t0,
                                                               "last": t2, "tsq": s}, …}}

Timestamps (of the points that carry the field): ``first`` and ``last`` (ns), and
``tsq`` = Σ gapᵢ² over the gaps between consecutive timestamps, as a wrapping int64 —
what InfluxDB computes for ``sum(elapsed(f, 1ns) * elapsed(f, 1ns))`` (one subquery
level, about twice the cost of a ``count``), so a point moved by 1 µs changes it even
when every value statistic stays the same; nanoseconds truncated to microseconds change
``first``/``last``. The gaps need the timestamps in order across chunks, so the
aggregator keeps (series hash, time, which fields) per row: 8 + 8 + one byte per field.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import polars as pl

from ..catalog import FieldType
from .dedupe import series_hash

SeriesKey = tuple[tuple[str, str], ...]
Aggregates = dict[SeriesKey, dict[str, dict[str, Any]]]

_SEP = "\x00"
_LO_MASK = (1 << 32) - 1
VERSION = 3  # v3: timestamps (first, last, Σ gap²)


def _sid(tags: list[str]) -> pl.Expr:
    """A hash of the series (see :func:`.dedupe.series_hash`): NULL or empty tags left
    out (InfluxDB keeps no empty tag), the same whatever the column order."""
    return series_hash(tags).alias("_sid")


def wrap64(n: int) -> int:
    """``n`` as a wrapping (two's complement) int64, as InfluxDB's integer sums wrap."""
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


def _name(stat: str, f: str) -> str:
    return f"{stat}{_SEP}{f}"


class SourceAggregator:
    """Accumulates the statistics of one partition's mapped frames (see the module doc)."""

    def __init__(self) -> None:
        self.types: dict[str, FieldType] = {}
        self.tags: list[str] = []
        self.rejected = 0
        self._parts: list[pl.DataFrame] = []
        self._times: list[pl.DataFrame] = []  # _sid, time, one boolean per field

    def replace(self, other: SourceAggregator) -> None:
        """Take ``other``'s statistics instead of the ones added so far."""
        self.types, self.tags = dict(other.types), list(other.tags)
        self.rejected, self._parts = other.rejected, list(other._parts)
        self._times = list(other._times)

    def add(self, frame: pl.DataFrame, tags: list[str], fields: dict[str, FieldType]) -> None:
        """Reduce one mapped frame (``Mapped.frame``) to per-series partial statistics."""
        if frame.height == 0:
            return
        self.types.update(fields)
        self.tags += [t for t in tags if t not in self.tags]
        aggs: list[pl.Expr] = []
        for f, ft in fields.items():
            if f not in frame.columns:
                continue
            aggs.append(pl.col(f).count().cast(pl.Int64).alias(_name("count", f)))
            t = pl.col("time").filter(pl.col(f).is_not_null())
            aggs += [t.min().alias(_name("tmin", f)), t.max().alias(_name("tmax", f))]
            if ft == "float":
                col = pl.col(f).cast(pl.Float64)
                aggs += [col.min().alias(_name("min", f)), col.max().alias(_name("max", f)),
                         col.sum().alias(_name("sum", f)), col.abs().sum().alias(_name("abs", f))]
            elif ft == "integer":
                col = pl.col(f).cast(pl.Int64)
                aggs += [col.min().alias(_name("min", f)), col.max().alias(_name("max", f)),
                         (col // (1 << 32)).sum().alias(_name("hi", f)),
                         (col & _LO_MASK).sum().alias(_name("lo", f))]
        if not aggs:
            return
        present = [f for f in fields if f in frame.columns]
        keyed = frame.with_columns(_sid(tags))
        self._times.append(keyed.select(
            "_sid", "time", *[pl.col(f).is_not_null().alias(_SEP + f) for f in present]))
        # grouped by the series hash (one u64) rather than by the tag strings; the tag
        # values ride along (every row of a hash has the same non-empty tags)
        self._parts.append(keyed.group_by("_sid").agg(
            *[pl.col(t).cast(pl.Utf8).fill_null("").first() for t in tags], *aggs))

    def result(self) -> Aggregates:
        """The merged statistics (fields with no value in a series are left out)."""
        out: Aggregates = {}
        if not self._parts:
            return out
        tags = self.tags
        frame = pl.concat(self._parts, how="diagonal_relaxed")
        if tags:
            frame = frame.with_columns([pl.col(t).fill_null("") for t in tags])
        merge: list[pl.Expr] = [pl.col(t).max() for t in tags]  # "" (absent) < a value
        for name in frame.columns:
            if _SEP not in name:
                continue
            stat = name.split(_SEP, 1)[0]
            col = pl.col(name)
            merge.append((col.min() if stat in ("min", "tmin") else
                          col.max() if stat in ("max", "tmax") else col.sum()).alias(name))
        merged = frame.group_by("_sid").agg(merge)
        gaps = self._gap_squares()
        for row in merged.iter_rows(named=True):
            key = tuple(sorted((t, row[t]) for t in tags if row[t] != ""))
            per: dict[str, dict[str, Any]] = {}
            for name, value in row.items():
                if _SEP not in name:
                    continue
                stat, f = name.split(_SEP, 1)
                per.setdefault(f, {})[stat] = value
            for s in per.values():
                if "hi" in s:
                    hi, lo = s.pop("hi"), s.pop("lo")
                    s["sum"] = None if hi is None else (int(hi) << 32) + int(lo or 0)
                if "tmin" in s:
                    first, last = s.pop("tmin"), s.pop("tmax")
                    if s.get("count"):
                        s["first"], s["last"] = int(first), int(last)
            for f, st in per.items():
                if st.get("count"):
                    st["tsq"] = wrap64(gaps.get((row["_sid"], f), 0))
            per = {f: s for f, s in per.items() if s.get("count")}
            if per:
                out[key] = per
        return out

    def _gap_squares(self) -> dict[tuple[int, str], int]:
        """(series hash, field) → Σ gap² (mod 2^64) of the field's timestamps in order.

        One sort of the partition's (series, time) rows; a field with NULLs filters them
        (a filter keeps the order). The gap of a row is its time minus the previous
        row's, when that row is of the same series."""
        if not self._times:
            return {}
        rows = pl.concat(self._times, how="diagonal_relaxed").sort("_sid", "time")
        out: dict[tuple[int, str], int] = {}
        for name in rows.columns:
            if not name.startswith(_SEP):
                continue
            f = name[len(_SEP):]
            col = rows.get_column(name)
            mine = rows if col.null_count() == 0 and bool(col.all()) else \
                rows.filter(pl.col(name).fill_null(False))
            got = (mine.lazy().select(
                "_sid",
                pl.when(pl.col("_sid") == pl.col("_sid").shift(1))
                .then(pl.col("time").diff().cast(pl.UInt64)).otherwise(None).alias("g"))
                .group_by("_sid").agg((pl.col("g") * pl.col("g")).sum().alias("sq"))
                .collect())
            for sid, sq in got.iter_rows():
                out[(int(sid), f)] = int(sq or 0)
        return out


def dumps(aggregates: Aggregates, types: dict[str, FieldType], rejected: int) -> bytes:
    doc = {"v": VERSION, "types": types, "rejected": rejected,
           "series": [[[list(kv) for kv in key], per] for key, per in aggregates.items()]}
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)


def loads(blob: bytes) -> tuple[Aggregates, dict[str, FieldType], int] | None:
    """The statistics :func:`dumps` stored; None when stored by an older version (they
    lack the timestamps: read the source again)."""
    doc = json.loads(zlib.decompress(blob))
    if doc.get("v") != VERSION:
        return None
    aggregates: Aggregates = {tuple((k, v) for k, v in key): per for key, per in doc["series"]}
    return aggregates, doc["types"], int(doc["rejected"])
