"""Answer a QuerySpec from the Parquet files the ingest read, with polars.

Used by ``Executor`` when InfluxDB is unreachable or its breaker is open. ``path`` is a
local folder (or file) or an ``s3://bucket/prefix``. Layouts understood:

- ``wide`` (``onsflux sample --format wide``): ``time``, tag columns, field columns;
  a file belongs to a measurement when it is named after it or has its fields;
- ``processed`` (the existing platform's long format): ``timestamp, region,
  energy_source (-> source), measurement_type (the field), value, ...``;
- anything else the ingest reads (ONS open-data CSV/Parquet, and every S3 object),
  through ``onsflux.sources.read_object`` -- the same adapters as the ingest, so the
  same cleaning; slower, as it validates every row.

Local wide/processed Parquet is scanned lazily (predicates and projections pushed into
the reader). The semantics are InfluxQL's (the reference the equivalence tests hold
both to): windows aligned to the epoch shifted by ``spec.window_offset_ns`` (local
midnight for whole-day windows), a window's timestamp is its start; aggregates
without a window are stamped with the range start, selectors (first, last, max, min,
percentile) with the selected point's time; ``first``/``last`` pick by time (ties in a
window: the larger value, as InfluxQL; ties without a window: the greatest series key --
InfluxQL's choice there depends on its internal series order), ``max``/``min`` ties: the
earliest; ``percentile`` is nearest-rank;
``stddev`` is the sample standard deviation; ``count`` on an empty window with
``fill(null)`` is 0, as InfluxQL reports it. Points with the same series and timestamp in
two files are counted twice (InfluxDB would keep one): the fallback trusts the files to
be the ingest's inputs, not overlapping copies.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from .. import catalog
from ..exceptions import SourceError
from ..frames import rfc3339
from ..settings import Settings
from .result import QueryResult, Row, bound
from .spec import QuerySpec

FIELD, VALUE, TIME = "_field", "_value", "time"
#: tag -> its column in the processed layout, where the names differ
_PROCESSED_COLUMNS = {"source": "energy_source"}


def _time_ns(col: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        return pl.col(col).dt.epoch("ns")
    return pl.col(col).cast(pl.Int64)


class ParquetFallback:
    """Queries over Parquet files (see the module docstring)."""

    def __init__(self, path: str | Path, settings: Settings | None = None) -> None:
        self.path = str(path)
        self.settings = settings or Settings()

    # ------------------------------------------------------------------ sources

    def _local_files(self) -> list[Path]:
        root = Path(self.path)
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise SourceError("fallback folder does not exist", path=self.path)
        return sorted(p for p in root.rglob("*") if p.is_file()
                      and p.suffix.lower() in (".parquet", ".csv", ".gz", ".txt"))

    def long_frame(self, spec: QuerySpec) -> pl.LazyFrame:
        """``time, <tags>, _field, _value`` for the spec's measurement and fields."""
        tags = list(spec.measurement_spec.tags)
        frames: list[pl.LazyFrame] = []
        generic: list[str] = []
        if self.path.startswith("s3://"):
            generic.append(self.path)
        else:
            for p in self._local_files():
                if p.suffix.lower() != ".parquet":
                    generic.append(str(p))
                elif (lf := self._scan_known(p, spec, tags)) is not None:
                    frames.append(lf)
        if generic:
            frames.extend(self._read_generic(generic, spec, tags))
        if not frames:
            return pl.LazyFrame(schema={TIME: pl.Int64, **dict.fromkeys(tags, pl.Utf8),
                                        FIELD: pl.Utf8, VALUE: pl.Float64})
        return pl.concat(frames, how="vertical")

    def _scan_known(self, path: Path, spec: QuerySpec, tags: list[str]) -> pl.LazyFrame | None:
        schema = pl.read_parquet_schema(path)
        cols = set(schema)
        fields = [f for f in spec.fields if f in cols]
        if "measurement_type" in cols and "value" in cols and "timestamp" in cols:
            lf = pl.scan_parquet(path).filter(pl.col("measurement_type").is_in(list(spec.fields)))
            exprs = [_time_ns("timestamp", schema["timestamp"]).alias(TIME)]
            for t in tags:
                src = _PROCESSED_COLUMNS.get(t, t)
                exprs.append(pl.col(src).cast(pl.Utf8).alias(t) if src in cols
                             else pl.lit(None, pl.Utf8).alias(t))
            exprs += [pl.col("measurement_type").cast(pl.Utf8).alias(FIELD),
                      pl.col("value").cast(pl.Float64).alias(VALUE)]
            return lf.select(exprs)
        named = path.stem == spec.measurement
        if TIME in cols and fields and (named or not any(
                c in cols for c in ("measurement_type", "din_instante"))):
            if not named and path.stem in catalog.MEASUREMENTS:
                return None  # another measurement's wide file sharing a field name
            lf = pl.scan_parquet(path)
            base = [_time_ns(TIME, schema[TIME]).alias(TIME)]
            base += [pl.col(t).cast(pl.Utf8).alias(t) if t in cols
                     else pl.lit(None, pl.Utf8).alias(t) for t in tags]
            parts = [lf.select([*base, pl.lit(f).alias(FIELD), pl.col(f).cast(pl.Float64).alias(VALUE)])
                     for f in fields]
            return pl.concat(parts, how="vertical")
        if "din_instante" in cols:  # ONS open data: through the ingest's adapters
            frames = self._read_generic([str(path)], spec, tags)
            return pl.concat(frames, how="vertical") if frames else None
        return None

    def _read_generic(self, urls: list[str], spec: QuerySpec, tags: list[str]) -> list[pl.LazyFrame]:
        from ..sources.objects import list_objects
        from ..sources.readers import read_object

        frames: list[pl.LazyFrame] = []
        for ref in list_objects(urls, self.settings):
            for chunk in read_object(ref, self.settings):
                if chunk.measurement != spec.measurement or not chunk.frame.height:
                    continue
                f = chunk.frame
                base = [pl.col(TIME).cast(pl.Int64)]
                base += [pl.col(t).cast(pl.Utf8) if t in f.columns else pl.lit(None, pl.Utf8).alias(t)
                         for t in tags]
                for name in spec.fields:
                    if name in f.columns:
                        frames.append(f.lazy().select(
                            [*base, pl.lit(name).alias(FIELD), pl.col(name).cast(pl.Float64).alias(VALUE)]))
        return frames

    # ------------------------------------------------------------------ evaluation

    def frame(self, spec: QuerySpec) -> pl.DataFrame:
        """The answer as a frame: ``time, _field, <group tags>, _value`` (+ all tags if raw)."""
        lf = self.long_frame(spec).filter(
            (pl.col(TIME) >= spec.start_ns) & (pl.col(TIME) < spec.stop_ns)
            & pl.col(VALUE).is_not_null())
        for tag, values in spec.where.items():
            lf = lf.filter(pl.col(tag).is_in(list(values)))
        tags = list(spec.measurement_spec.tags)
        if spec.aggregate is None:
            raw = lf.select(TIME, FIELD, *tags, VALUE)
            if spec.rank is not None:
                kind, n = spec.rank
                raw = raw.sort([VALUE, TIME], descending=[kind == "top", False]).head(n)
            else:
                raw = raw.sort(TIME, descending=spec.order == "desc")
            return raw.head(spec.limit + 1).collect()
        if spec.aggregate in ("first", "last") and not spec.every:
            # without a window, InfluxQL 1.6.7 breaks ties between series at the same time by
            # its internal series order (not the value, not the key): implementation-defined.
            # Ours is deterministic: the greatest series key wins.
            series = pl.concat_str(
                [pl.when(pl.col(t).is_not_null()).then(pl.lit(f"{t}=") + pl.col(t))
                 for t in sorted(tags)], separator=",", ignore_nulls=True)
            lf = lf.with_columns(series.alias("_series"))
        lf = lf.with_columns([pl.col(t).fill_null("") for t in spec.group_by])
        keys = [FIELD, *spec.group_by]
        every = spec.every_ns
        if every:
            off = spec.window_offset_ns  # local midnight for whole-day windows, else 0
            lf = lf.with_columns((((pl.col(TIME) - off) // every) * every + off).alias("_window"))
            keys = [*keys, "_window"]
        out = lf.group_by(keys).agg(self._agg(spec)).collect()
        if every:
            out = out.drop(TIME).rename({"_window": TIME})
            if spec.fill != "none":
                out = self._fill(out, spec, every)
        out = out.select(TIME, FIELD, *spec.group_by, VALUE)
        if spec.rank is not None:
            kind, n = spec.rank
            out = out.sort([VALUE, TIME], descending=[kind == "top", False],
                           nulls_last=True).head(n)
        else:
            out = out.sort([*spec.group_by, FIELD, TIME],
                           descending=[False] * (len(spec.group_by) + 1) + [spec.order == "desc"])
        return out.head(spec.limit + 1)

    @staticmethod
    def _agg(spec: QuerySpec) -> list[pl.Expr]:
        v, t = pl.col(VALUE), pl.col(TIME)
        start = pl.lit(spec.start_ns, pl.Int64)
        a = spec.aggregate
        if a == "percentile":
            n = v.len()
            idx = ((n.cast(pl.Float64) * (spec.p or 0) / 100 + 0.5).floor().cast(pl.Int64) - 1)
            ok = (idx >= 0) & (idx < n.cast(pl.Int64))
            order = v.arg_sort()
            safe = idx.clip(0, None)
            value = pl.when(ok).then(v.sort().gather(safe).first()).otherwise(None)
            when = pl.when(ok).then(t.gather(order).gather(safe).first()).otherwise(None)
            return [value.alias(VALUE), when.alias(TIME)]
        if a in ("max", "min"):
            ranked = pl.struct(v, t).sort_by([v, t], descending=[a == "max", False])  # ties: earliest
            return [ranked.first().struct.field(VALUE).alias(VALUE),
                    ranked.first().struct.field(TIME).alias(TIME)]
        if a in ("first", "last") and not spec.every:
            ranked = pl.struct(v, t).sort_by([t, pl.col("_series")], descending=[a == "last", True])
            return [ranked.first().struct.field(VALUE).alias(VALUE),
                    ranked.first().struct.field(TIME).alias(TIME)]
        if a in ("first", "last"):
            ranked = pl.struct(v, t).sort_by([t, v], descending=[a == "last", True])
            return [ranked.first().struct.field(VALUE).alias(VALUE),
                    ranked.first().struct.field(TIME).alias(TIME)]
        exprs = {
            "mean": v.mean(), "sum": v.sum(), "count": v.count().cast(pl.Float64),
            "median": v.median(), "spread": v.max() - v.min(), "stddev": v.std(ddof=1),
            "energy": v.sum() * spec.interval_hours,
        }
        return [exprs[a or "mean"].cast(pl.Float64).alias(VALUE), start.alias(TIME)]

    @staticmethod
    def _fill(out: pl.DataFrame, spec: QuerySpec, every: int) -> pl.DataFrame:
        first = spec.window_start_ns(spec.start_ns)
        windows = pl.DataFrame({TIME: pl.int_range(first, spec.stop_ns, every, eager=True)})
        groups = out.select(FIELD, *spec.group_by).unique()
        grid = groups.join(windows, how="cross")
        full = grid.join(out, on=[FIELD, *spec.group_by, TIME], how="left")
        full = full.sort([FIELD, *spec.group_by, TIME])
        keys = [FIELD, *spec.group_by]
        if spec.fill == "null":
            if spec.aggregate == "count":
                full = full.with_columns(pl.col(VALUE).fill_null(0.0))
        elif spec.fill == "previous":
            full = full.with_columns(pl.col(VALUE).forward_fill().over(keys))
        elif spec.fill == "linear":
            full = full.with_columns(pl.col(VALUE).interpolate().over(keys))
        elif not isinstance(spec.fill, str):
            # count is an integer series: InfluxQL truncates the fill value (-1.5 -> -1)
            value = float(int(spec.fill)) if spec.aggregate == "count" else float(spec.fill)
            full = full.with_columns(pl.col(VALUE).fill_null(value))
        return full

    def run(self, spec: QuerySpec) -> QueryResult:
        started = time.perf_counter()
        df = self.frame(spec)
        tag_cols = [c for c in df.columns if c not in (TIME, FIELD, VALUE)]
        rows: list[Row] = []
        for rec in df.iter_rows(named=True):
            tags = {k: rec[k] for k in tag_cols if rec[k] not in (None, "")}
            rows.append(Row(int(rec[TIME]), spec.measurement, rec[FIELD], rec[VALUE], tags))
        rows, truncated = bound(rows, spec.limit)
        text = (f"polars over {self.path}: {spec.measurement} {list(spec.fields)} "
                f"[{rfc3339(spec.start_ns)}, {rfc3339(spec.stop_ns)})")
        return QueryResult(rows, truncated, "s3_fallback", "polars", text,
                           (time.perf_counter() - started) * 1000)
