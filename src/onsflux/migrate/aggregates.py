"""Source-side verify statistics: per series, per field — count, sum, min, max, and
the timestamps: first, last and a checksum.

:class:`SourceAggregator` takes the mapped frames of one partition, chunk by chunk
(``run`` feeds it while the writers work; ``verify`` feeds it when it has to read the
source again), reduces each chunk with one polars ``group_by`` and merges the partial
results at the end with a second one. The result is an :data:`Aggregates` dict::

    {(("region", "north"), ("source", "hydro")): {"power_mw": {"count": 3, "sum": 1.5,
                                                               "min": 0.1, "max": 1.0,
                                                               "abs": 1.5, "first": t0,
                                                               "last": t2, "tsum": s}, …}}

Timestamps (of the points that carry the field): ``first`` and ``last`` (ns), and
``tsum`` = Σ (tᵢ − first) as a wrapping int64 — what InfluxDB computes for
``sum(cumulative_sum(elapsed(f, 1ns)))``, so a point moved by 1 µs, or nanoseconds
truncated to microseconds, change it even when every value statistic stays the same.

Exactness: counts exact; integer sums exact as Python ints (each value split into its
high and low 32 bits, both summed in Int64 — no overflow below 2^31 rows per series and
partition — and recombined in Python); integer and float min/max exact; float sums as
polars sums them (compared with a relative tolerance) plus Σ|x| for the tolerance scale.
A NULL tag is the tag's absence (the key leaves it out), as on the InfluxDB side.

``dumps``/``loads`` store the result in the migration state (zlib-compressed JSON:
floats round-trip exactly through ``repr``, integers of any size stay exact).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import polars as pl

from ..catalog import FieldType

SeriesKey = tuple[tuple[str, str], ...]
Aggregates = dict[SeriesKey, dict[str, dict[str, Any]]]

_SEP = "\x00"
_LO_MASK = (1 << 32) - 1
VERSION = 2  # v2: timestamps (first, last, tsum)


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

    def replace(self, other: SourceAggregator) -> None:
        """Take ``other``'s statistics instead of the ones added so far."""
        self.types, self.tags = dict(other.types), list(other.tags)
        self.rejected, self._parts = other.rejected, list(other._parts)

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
            aggs += [t.min().alias(_name("tmin", f)), t.max().alias(_name("tmax", f)),
                     (t // (1 << 32)).sum().alias(_name("thi", f)),
                     (t & _LO_MASK).sum().alias(_name("tlo", f))]
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
        if tags:
            keyed = frame.with_columns([pl.col(t).cast(pl.Utf8).fill_null("") for t in tags])
            self._parts.append(keyed.group_by(tags).agg(aggs))
        else:
            self._parts.append(frame.select(aggs))

    def result(self) -> Aggregates:
        """The merged statistics (fields with no value in a series are left out)."""
        out: Aggregates = {}
        if not self._parts:
            return out
        tags = self.tags
        frame = pl.concat(self._parts, how="diagonal_relaxed")
        if tags:
            frame = frame.with_columns([pl.col(t).fill_null("") for t in tags])
        merge: list[pl.Expr] = []
        for name in frame.columns:
            if _SEP not in name:
                continue
            stat = name.split(_SEP, 1)[0]
            col = pl.col(name)
            merge.append((col.min() if stat in ("min", "tmin") else
                          col.max() if stat in ("max", "tmax") else col.sum()).alias(name))
        merged = frame.group_by(tags).agg(merge) if tags else frame.select(merge)
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
                    total = (int(s.pop("thi") or 0) << 32) + int(s.pop("tlo") or 0)
                    if s.get("count"):
                        s["first"], s["last"] = int(first), int(last)
                        s["tsum"] = wrap64(total - int(s["count"]) * int(first))
            per = {f: s for f, s in per.items() if s.get("count")}
            if per:
                out[key] = per
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
