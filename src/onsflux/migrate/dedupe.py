"""Duplicates: source rows that land on the same point (series + timestamp).

InfluxDB keeps one point per measurement, tag set and timestamp: a second write of the
same point replaces the values of the fields it carries and keeps the others. Source
rows that map to one point — an overlapping re-export, multi-measure records of one
series and time with different ``measure_name`` — would therefore leave whichever write
arrived last, and with several writer threads that changes from run to run.

The rule here (documented in the README): **the last row in export order wins, field by
field** — for each field, the last non-NULL value among the rows of that point, where
export order is the order of the partition's files (see
:func:`onsflux.sources.unload.discover`) and of the rows in each file. That is what
InfluxDB itself would keep if the rows were written one by one in that order, so
:func:`collapse` writes each point once with exactly those values, and ``verify``
expects the collapsed counts.

Pure functions over mapped frames (``time`` + tag columns + field columns + ``_row``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..frames import ROW, rfc3339

#: duplicate examples kept per partition (and per table in the plan)
EXAMPLES = 5


def series_text_expr(tags: list[str]) -> pl.Expr:
    """``region=north,source=hydro``: the tag set in tag-name order, NULL tags left out
    (a NULL tag is an absent tag), the same text whatever the frame's column order."""
    parts = [pl.when(pl.col(t).is_null()).then(pl.lit(None, dtype=pl.Utf8))
             .otherwise(pl.lit(f"{t}=") + pl.col(t).cast(pl.Utf8)) for t in sorted(tags)]
    if not parts:
        return pl.lit("")
    return pl.concat_list(parts).list.drop_nulls().list.join(",")


def series_hash(tags: list[str]) -> pl.Expr:
    """A 64-bit hash of each row's tag set: the XOR of one hash per non-empty tag, seeded
    by the tag's name, so the column order and a tag column a frame lacks (or holds NULL
    or "" in: InfluxDB keeps no empty tag) do not change it. Stable in a process. About
    ten times cheaper than hashing the series text (no string is built per row)."""
    out = pl.lit(0, dtype=pl.UInt64)
    for t in tags:
        v = pl.col(t).cast(pl.Utf8)
        out = out ^ pl.when(v.fill_null("") == "").then(pl.lit(0, dtype=pl.UInt64)) \
            .otherwise(v.hash(seed=zlib.crc32(t.encode())))
    return out


def key_hashes(frame: pl.DataFrame, tags: list[str]) -> pl.Series:
    """A 64-bit hash of each row's point key (tag set + time); stable in a process."""
    return frame.select(
        pl.struct(series_hash(tags).alias("s"), pl.col("time")).hash(seed=7).alias("k")
    ).to_series()


@dataclass
class Duplicates:
    """Source rows merged into a point another row also has, field values a later row
    replaced (``superseded``: the duplicates that change numbers), and examples."""

    rows: int = 0
    superseded: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: Duplicates) -> None:
        self.rows += other.rows
        self.superseded += other.superseded
        self.examples += other.examples[: max(0, EXAMPLES - len(self.examples))]

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "superseded": self.superseded, "examples": self.examples}


def collapse(frame: pl.DataFrame, tags: list[str], fields: list[str], label: str, *,
             chunk_col: str | None = None, labels: list[str] | None = None
             ) -> tuple[pl.DataFrame, Duplicates]:
    """One row per point: the last non-NULL value of each field in row order (see the
    module docstring); the other columns (``_row``…) of the last row. Returns the frame
    unchanged (same object) when it holds no duplicate.

    Examples name the rows as ``label:row``, or, when ``chunk_col`` is given, with the
    label ``labels[chunk]`` of each row's chunk; points with superseded values first."""
    keys = [*tags, "time"]
    dupmask = frame.select(pl.struct(keys).is_duplicated()).to_series()
    if not dupmask.any():
        return frame, Duplicates()
    others = [c for c in frame.columns if c not in keys and c not in fields]
    merged = frame.group_by(keys, maintain_order=True).agg(
        [pl.col(f).drop_nulls().last() for f in fields] + [pl.col(c).last() for c in others]
    ).select(frame.columns)
    dup = frame.filter(dupmask)
    if chunk_col is not None and labels is not None:
        where = pl.col(chunk_col).replace_strict(list(range(len(labels))), labels,
                                                 return_dtype=pl.Utf8)
    else:
        where = pl.lit(label)
    lost = [(pl.col(f).count() - (pl.col(f).count() > 0).cast(pl.UInt32)).cast(pl.Int64)
            for f in fields]
    names = [pl.when(pl.col(f).count() > 1).then(pl.lit(f)).otherwise(pl.lit(None, pl.Utf8))
             for f in fields]
    per_point = dup.group_by(keys, maintain_order=True).agg(
        (pl.sum_horizontal(lost) if lost else pl.lit(0, pl.Int64)).alias("_lost"),
        pl.concat_str([where, pl.lit(":"), pl.col(ROW).cast(pl.Utf8)]).alias("_rows"),
        *[n.alias(f"_f{i}") for i, n in enumerate(names)],
    )
    superseded = int(per_point.get_column("_lost").sum())
    shown = per_point.sort("_lost", descending=True, maintain_order=True).head(EXAMPLES)
    texts = shown.select(series_text_expr(tags)).to_series().to_list()
    examples = []
    for text, row in zip(texts, shown.iter_rows(named=True), strict=True):
        examples.append({
            "series": text or "(no tags)", "time": rfc3339(int(row["time"])),
            "rows": list(row["_rows"]),
            "fields_superseded": [row[f"_f{i}"] for i in range(len(fields))
                                  if row[f"_f{i}"] is not None]})
    return merged, Duplicates(frame.height - merged.height, superseded, examples)


class SeenKeys:
    """Point keys of the chunks already written in a partition: finds the rows of a new
    chunk that land on a point an earlier chunk wrote (their write must wait for the
    earlier one, so that the later row wins).

    Each chunk's keys are kept with its time range, and a new chunk is compared only
    with the rows of earlier chunks whose range overlaps its own (and only its rows in
    that range): an export in time order costs one boundary per chunk instead of a
    lookup in every key seen so far; an export in no order costs what a full lookup
    costs."""

    def __init__(self) -> None:
        self._chunks: list[tuple[int, int, pl.DataFrame]] = []  # tmin, tmax, (k, time)

    def check_and_add(self, frame: pl.DataFrame, tags: list[str]) -> pl.Series:
        """Mask of ``frame``'s rows (one per point) whose key an earlier chunk had."""
        keys = pl.DataFrame({"k": key_hashes(frame, tags), "time": frame.get_column("time")})
        again = pl.Series("", [False] * keys.height, dtype=pl.Boolean)
        if keys.height == 0:
            return again
        times = keys.get_column("time")
        tmin, tmax = int(times.min()), int(times.max())  # type: ignore[arg-type]
        for lo, hi, old in self._chunks:
            if hi < tmin or lo > tmax:
                continue
            near = old.filter(pl.col("time").is_between(tmin, tmax)).get_column("k")
            if near.len():
                inside = times.is_between(lo, hi)
                again = again | (inside & keys.get_column("k").is_in(near.implode()))
        self._chunks.append((tmin, tmax, keys.filter(~again)))
        return again
