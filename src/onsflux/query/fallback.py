"""Answer a QuerySpec from the files the ingest read, with polars.

Used by ``Executor`` when InfluxDB is unreachable or its breaker is open. The files are
a local folder (or file), an ``s3://bucket/prefix``, a list of those, or -- by default,
:class:`StoreFallback` -- the objects the state store recorded as ingested.

Every file goes through exactly what the ingest does before writing: the format's
adapter (``sources.read_object``: ONS, processed long with its units GW/kWh/% and the
Portuguese region/source names, wide with ``time`` or ``timestamp``) and the catalog
``Validator`` (ranges, tag defaults such as ``sector=total``, duplicates: last wins),
so the fallback holds the points InfluxDB holds. Files are listed in the ingest's order
and a point repeated in a later file replaces the earlier one (last write wins, as on
the server). The long frame of each file is cached per fingerprint (size and mtime, or
ETag), so only the first question after a change pays for reading.

The semantics are InfluxQL's (the reference the equivalence tests hold
both to): windows aligned to the epoch shifted by ``spec.window_offset_ns`` (local
midnight for whole-day windows), a window's timestamp is its start; aggregates
without a window are stamped with the range start, selectors (first, last, max, min,
percentile) with the selected point's time; ``first``/``last`` pick by time (ties in a
window: the larger value, as InfluxQL; ties without a window: the greatest series key --
InfluxQL's choice there depends on its internal series order), ``max``/``min`` ties: the
earliest; ``percentile`` is nearest-rank;
``stddev`` is the sample standard deviation; ``count`` on an empty window with
``fill(null)`` is 0, as InfluxQL reports it.

An empty answer says why (:meth:`ParquetFallback.why_empty`): no files, files holding
other measurements, unreadable files, data outside the period, or no series matching
the filter (with the values that exist).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import catalog
from ..exceptions import OnsfluxError, SourceError
from ..frames import ObjectRef, rfc3339
from ..settings import Settings
from .result import QueryResult, Row, bound
from .spec import QuerySpec

FIELD, VALUE, TIME = "_field", "_value", "time"
#: files the cache keeps long frames for at most (whole files: the fallback's data set)
CACHE_OBJECTS = 512


@dataclass
class _ObjectData:
    """One file as the ingest would write it: a long frame per measurement."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    error: str | None = None


_CACHE: dict[tuple[str, str], _ObjectData] = {}
_CACHE_LOCK = threading.Lock()


def _long(frame: pl.DataFrame, measurement: str, fields: Sequence[str]) -> pl.DataFrame:
    tags = catalog.measurement(measurement).tags
    base = [pl.col(TIME).cast(pl.Int64)]
    base += [pl.col(t).cast(pl.Utf8) if t in frame.columns else pl.lit(None, pl.Utf8).alias(t)
             for t in tags]
    parts = [frame.select([*base, pl.lit(f).alias(FIELD),
                           pl.col(f).cast(pl.Float64, strict=False).alias(VALUE)])
             .filter(pl.col(VALUE).is_not_null()) for f in fields]
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame(
        schema={TIME: pl.Int64, **dict.fromkeys(tags, pl.Utf8), FIELD: pl.Utf8,
                VALUE: pl.Float64})


def read_as_ingested(ref: ObjectRef, settings: Settings) -> _ObjectData:
    """``ref`` through the ingest's adapters and validator (cached per fingerprint)."""
    key = (ref.url, ref.fingerprint)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    from ..ingest.validate import Validator
    from ..sources.readers import read_object

    data = _ObjectData()
    validator = Validator(now_ns=time.time_ns(), retention_seconds=settings.retention_seconds,
                          future_tolerance_seconds=settings.future_tolerance_seconds)
    parts: dict[str, list[pl.DataFrame]] = {}
    try:
        for chunk in read_object(ref, settings):
            if chunk.frame.height == 0:
                continue
            checked = validator.validate(chunk)
            if checked.frame.height:
                parts.setdefault(checked.measurement, []).append(
                    _long(checked.frame, checked.measurement, list(checked.fields)))
    except OnsfluxError as exc:
        data.error = str(exc)
    for m, frames in parts.items():
        data.frames[m] = pl.concat(frames, how="vertical")
    with _CACHE_LOCK:
        if len(_CACHE) >= CACHE_OBJECTS:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = data
    return data


class ParquetFallback:
    """Queries over the ingest's files (see the module docstring)."""

    def __init__(self, path: str | Path | Sequence[str], settings: Settings | None = None
                 ) -> None:
        self.paths = [str(path)] if isinstance(path, str | Path) else [str(p) for p in path]
        self.path = self.paths[0] if len(self.paths) == 1 else f"{len(self.paths)} objects"
        self.settings = settings or Settings()
        self._last: dict[str, tuple[list[ObjectRef], dict[str, _ObjectData]]] = {}

    # ------------------------------------------------------------------ sources

    def urls(self, spec: QuerySpec) -> list[str]:
        """Files, folders or S3 URLs to read for ``spec``."""
        for p in self.paths:
            if not p.startswith("s3://") and not Path(p).exists():
                raise SourceError("fallback path does not exist", path=p)
        return list(self.paths)

    def _objects(self, spec: QuerySpec) -> tuple[list[ObjectRef], dict[str, _ObjectData]]:
        from ..sources.objects import list_objects

        urls = self.urls(spec)
        refs = list_objects(urls, self.settings) if urls else []
        data = {r.url: read_as_ingested(r, self.settings) for r in refs if not r.problem}
        for r in refs:
            if r.problem:
                data[r.url] = _ObjectData(error=r.problem)
        self._last[spec.measurement] = (refs, data)
        return refs, data

    def long_frame(self, spec: QuerySpec) -> pl.LazyFrame:
        """``time, <tags>, _field, _value`` for the spec's measurement and fields, as
        InfluxDB holds them: a point repeated by a later file replaces the earlier one."""
        tags = list(spec.measurement_spec.tags)
        refs, data = self._objects(spec)
        frames = [data[r.url].frames[spec.measurement] for r in refs
                  if spec.measurement in data[r.url].frames]
        if not frames:
            return pl.LazyFrame(schema={TIME: pl.Int64, **dict.fromkeys(tags, pl.Utf8),
                                        FIELD: pl.Utf8, VALUE: pl.Float64})
        lf = pl.concat(frames, how="vertical").lazy().filter(
            pl.col(FIELD).is_in(list(spec.fields)))
        if len(frames) > 1:
            lf = lf.unique(subset=[TIME, *tags, FIELD], keep="last", maintain_order=True)
        return lf

    def why_empty(self, spec: QuerySpec) -> str:
        """Why the files answer nothing for ``spec``, in one sentence."""
        refs, data = self._last.get(spec.measurement) or self._objects(spec)
        where = "the fallback files"
        if not refs:
            return f"{where}: no files found"
        broken = [f"{Path(r.url).name}: {data[r.url].error}" for r in refs
                  if data[r.url].error and not data[r.url].frames]
        holding = [r for r in refs if spec.measurement in data[r.url].frames]
        if not holding:
            others = sorted({m for d in data.values() for m in d.frames})
            msg = (f"{where}: none of the {len(refs)} file(s) holds {spec.measurement}"
                   + (f" (they hold {', '.join(others)})" if others else ""))
            return msg + (f"; unreadable: {'; '.join(broken[:3])}" if broken else "")
        lf = self.long_frame(spec).collect()
        if lf.height == 0:
            return (f"{where}: {spec.measurement} has no {', '.join(spec.fields)} values "
                    f"in {len(holding)} file(s)")
        lo, hi = int(lf[TIME].min()), int(lf[TIME].max())  # type: ignore[arg-type]
        inside = lf.filter((pl.col(TIME) >= spec.start_ns) & (pl.col(TIME) < spec.stop_ns))
        if inside.height == 0:
            return (f"{where}: {spec.measurement} data covers {rfc3339(lo, seconds=True)} – "
                    f"{rfc3339(hi, seconds=True)}, outside the period asked")
        for tag, values in spec.where.items():
            found = sorted(v for v in inside[tag].unique().to_list() if v is not None)
            if not set(values) & set(found):
                return (f"{where}: no {spec.measurement} series with {tag} = "
                        f"{', '.join(sorted(values))} in the period (found: "
                        f"{', '.join(found[:10]) or 'none'})")
            inside = inside.filter(pl.col(tag).is_in(list(values)))
        return f"{where}: no {spec.measurement} rows match the query in the period"

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
        result = QueryResult(rows, truncated, "s3_fallback", "polars", text,
                             (time.perf_counter() - started) * 1000)
        if not rows:
            result.warnings.append(self.why_empty(spec))
        return result

    def can_answer(self) -> bool:
        """Configured files are assumed readable (``/health`` must stay cheap)."""
        return bool(self.paths)

    def has_data(self, spec: QuerySpec) -> bool:
        """Whether any file could answer for ``spec``'s measurement."""
        refs, data = self._objects(spec)
        return any(spec.measurement in data[r.url].frames for r in refs)


class StoreFallback(ParquetFallback):
    """The fallback over the objects the state store recorded as ingested (status ok)
    for the spec's measurement, read again at every question so new ingests count."""

    def __init__(self, settings: Settings) -> None:
        super().__init__([], settings)
        self.path = "the ingested objects the state store records"

    def urls(self, spec: QuerySpec) -> list[str]:
        """The recorded objects with data for the spec's measurement and period: one
        lookup by measurement and time, never a scan of the store (DynamoDB bills a scan
        by the whole table)."""
        from ..state.store import OK, store_for

        store = store_for(self.settings)
        try:
            return [o.key for o in store.objects_overlapping(spec.measurement, spec.start_ns,
                                                             spec.stop_ns)
                    if o.status == OK]
        finally:
            store.close()

    def can_answer(self) -> bool:
        """Whether the store records any ingested object at all (a cheap lookup)."""
        from ..state.store import store_for

        store = store_for(self.settings)
        try:
            return store.has_ingested()
        finally:
            store.close()

