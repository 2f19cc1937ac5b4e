"""Catalog-driven validation and cleaning of chunks, vectorized.

One :class:`Validator` per source object (it remembers the keys of the rows it has let
through, to spot duplicates across the object's chunks). ``validate(chunk)`` returns a
:class:`Validated`: the clean frame, a rejects frame and the counts, with

    rows_in == rows_ok + rejected        (duplicates are among the rejected)

Every row that does not reach the clean frame has exactly **one** reject row naming its
``_row``, the column at fault and the offending value, with the most important reason
when a row has several problems. Checks in priority order (first failing one wins):

1. ``time`` null; older than now − retention; later than now + tolerance;
2. per tag (catalog order): required tag null or empty; newline; carriage return;
   trailing backslash (not representable in line protocol, see ``encode``); longer than
   ``max_tag_bytes``; not in ``catalog.TAG_VOCABULARY`` (the reason lists the values);
3. per field (catalog order): value present but not readable as the catalog type; NaN;
   ±inf; outside ``FieldSpec.min..max`` (the reason gives the range and unit);
4. no field value at all on the row (``column`` is null in the reject);
5. duplicates: same (tags, time, set of non-null fields) within the chunk — the last row
   (in file order) wins and each superseded row is rejected with
   ``duplicate of row N (last wins)`` (``column`` is null).

A row with one bad field is rejected whole (a point is written whole; keeping the other
fields would silently change the point). Optional tags with an empty value mean "tag
absent" and become null, or take the catalog default (``sector=total``) so every
format writes the same series key. Columns the chunk does not list as tags or fields are ignored
and mentioned in ``Validated.notes``.

Duplicates across chunks of the same object (same series and time, whatever fields)
are not rejected: the earlier chunk is
already written and the later row overwrites it on the server, which is last-wins.
They are counted in ``cross_chunk_duplicates`` so the pipeline knows ordering matters.
The validator keeps one UInt64 hash per kept row for that (8 bytes a row); a hash
collision can only inflate that count, never drop or change data.

Tag values are limited to 1 KiB (``max_tag_bytes``): InfluxDB's whole series key
(measurement + all tags) must stay under 64 KiB, every distinct value lives in the
series index, and the catalog's canonical values are short slugs — a value above 1 KiB
is a parsing accident (a whole line or file in a cell), not a plant name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from .. import catalog
from ..catalog import FieldSpec, FieldType, MeasurementSpec
from ..exceptions import SchemaError
from ..frames import FIELD_DTYPES, REJECT_SCHEMA, ROW, TIME, Chunk, empty_rejects, rfc3339
from .encode import CHAR_NAMES, FORBIDDEN, NO_TRAILING_BACKSLASH

#: InfluxDB's representable time range (models.MinNanoTime / MaxNanoTime)
MIN_TIME_NS = -9223372036854775806
MAX_TIME_NS = 9223372036854775806

DEFAULT_MAX_TAG_BYTES = 1024

_TRUE = ("true", "t", "1", "yes", "y", "sim", "s")
_FALSE = ("false", "f", "0", "no", "n", "nao", "não")
_POS = "__pos"
_FAIL = "__fail"
_HASH_SEED = 0x0115F1


@dataclass
class Validated:
    """What ``Validator.validate`` returns for one chunk."""

    source: str
    measurement: str
    #: ``_row``, ``time`` (Int64 ns), tags (Utf8, catalog order), fields (catalog dtypes)
    frame: pl.DataFrame
    #: ``frames.REJECT_SCHEMA``, one row per rejected row, sorted by row
    rejects: pl.DataFrame
    tags: list[str]
    #: field name -> catalog type, in catalog order: what ``encode_lines`` takes
    fields: dict[str, FieldType]
    rows_in: int
    rows_ok: int
    rejected: int
    #: rows superseded by a later identical row of the same chunk (included in rejected)
    duplicates: int
    #: kept rows whose series and time were already written from an earlier chunk of
    #: the same object
    cross_chunk_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    #: a hash of each kept row's series (every catalog tag, null where absent) and time
    series_time: pl.Series | None = None
    #: no two kept rows share series and time (every row has the same fields)
    unique_series_time: bool = False


@dataclass(frozen=True)
class _Check:
    """One rule: rows where ``cond`` is true fail it."""

    cond: pl.Expr
    column: str | None
    value: pl.Expr | None
    reason: pl.Expr


class Validator:
    """Validates the chunks of one source object against the catalog."""

    def __init__(
        self,
        *,
        now_ns: int,
        retention_seconds: int,
        future_tolerance_seconds: int,
        max_tag_bytes: int = DEFAULT_MAX_TAG_BYTES,
    ) -> None:
        if max_tag_bytes < 1:
            raise ValueError("max_tag_bytes must be positive")
        self.now_ns = now_ns
        self.retention_seconds = retention_seconds
        self.future_tolerance_seconds = future_tolerance_seconds
        self.max_tag_bytes = max_tag_bytes
        #: oldest accepted time (inclusive); retention 0 means infinite (INF)
        self.min_time_ns = (
            max(MIN_TIME_NS, now_ns - retention_seconds * 1_000_000_000)
            if retention_seconds > 0
            else MIN_TIME_NS
        )
        #: latest accepted time (inclusive)
        self.max_time_ns = min(MAX_TIME_NS, now_ns + future_tolerance_seconds * 1_000_000_000)
        #: per source: (min time, max time, key hashes) of each chunk let through
        self._seen: dict[str, list[tuple[int, int, pl.Series]]] = {}

    # ------------------------------------------------------------------------------
    def validate(self, chunk: Chunk) -> Validated:
        spec = catalog.measurement(chunk.measurement)
        tags, fields, notes = self._columns(chunk, spec)
        frame, cast_checks = self._normalize(chunk, spec, tags, fields)

        checks = self._time_checks()
        tag_checks: dict[int, str] = {}  # index in checks -> the tag it looks at
        for t in tags:
            for c in self._tag_checks(spec, [t]):
                tag_checks[len(checks)] = t
                checks.append(c)
        for f in fields:
            checks += cast_checks.get(f, [])
            checks += self._field_checks(spec.fields[f])
        checks.append(
            _Check(
                cond=pl.all_horizontal([pl.col(f).is_null() for f in fields]),
                column=None,
                value=None,
                reason=pl.lit("no field values"),
            )
        )

        # Only the checks some row fails take part in the per-row verdict (a row's reason
        # is its first failing check, so dropping checks no row fails changes nothing).
        # Tag checks are asked of each tag's distinct values (tags have few), the others
        # in one fused pass; a clean chunk then skips the verdict column and the filters.
        firing = self._firing(frame, checks, tag_checks)
        rejects: list[pl.DataFrame] = []
        good = frame
        if firing:
            frame = frame.with_columns(
                pl.coalesce(
                    [pl.when(checks[i].cond).then(pl.lit(i, dtype=pl.UInt16)) for i in firing]
                ).alias(_FAIL)
            )
            bad = frame.filter(pl.col(_FAIL).is_not_null())
            rejects = [self._rejects_for(chunk.source, bad, checks)] if bad.height else []
            good = frame.filter(pl.col(_FAIL).is_null()).drop(_FAIL)

        # duplicates within the chunk: same key, the last in file order wins. One hash
        # per row answers "any duplicates at all?" cheaply; only then (or on a hash
        # collision) is the exact, dearer grouping done. The key is the series, the time
        # and which fields the row has; its hash is built on the series-time hash, which
        # the pipeline reuses (``Validated.series_time``).
        key_exprs = self._key_exprs(spec, tags, fields)
        key_names = [e.meta.output_name() for e in key_exprs]
        n_series_time = len(spec.tags) + 1
        series_time = good.select(key_exprs[:n_series_time]).hash_rows(seed=_HASH_SEED)
        full = all(good.get_column(f).null_count() == 0 for f in fields)
        # rows that all carry the same fields: the series-time hash is the key's hash
        hashes = series_time if full else pl.DataFrame(
            [series_time.alias("__st"), *good.select(key_exprs[n_series_time:])]
        ).hash_rows(seed=_HASH_SEED)
        dups = good.clear()
        if hashes.n_unique() < hashes.len():  # (several times cheaper than is_duplicated)
            good = good.with_columns(key_exprs)
            good = good.with_columns(
                (pl.col(_POS) != pl.col(_POS).last().over(key_names)).alias("__dup"),
                pl.col(ROW).last().over(key_names).alias("__winner"),
            )
            dups = good.filter(pl.col("__dup"))
            if dups.height:
                rejects.append(
                    dups.select(
                        pl.lit(chunk.source, dtype=pl.Utf8).alias("source"),
                        pl.col(ROW).alias("row"),
                        pl.lit(None, dtype=pl.Utf8).alias("column"),
                        pl.lit(None, dtype=pl.Utf8).alias("value"),
                        pl.format("duplicate of row {} (last wins)", pl.col("__winner")).alias(
                            "reason"
                        ),
                    )
                )
                keep = ~good["__dup"]
                good = good.filter(keep)
                series_time = series_time.filter(keep)

        # duplicates across chunks of the object: counted, not rejected. By series and
        # time alone, whatever fields the rows have: a later row that shares a field with
        # an earlier one must be written after it, so the pipeline orders them.
        # (a key holds the time, so only earlier chunks whose time range meets this
        # one's can share a key: a file in time order compares with none)
        seen = self._seen.setdefault(chunk.source, [])
        cross = 0
        if good.height:
            lo, hi = good.select(pl.col(TIME).min().alias("lo"), pl.col(TIME).max().alias("hi")).row(0)
            older = [h for a, b, h in seen if a <= hi and b >= lo]
            if older:
                cross = int(series_time.is_in(pl.concat(older).implode()).sum())
            seen.append((lo, hi, series_time))
        if cross:
            notes.append(
                f"{cross} rows repeat points written from an earlier chunk of this object; "
                "the later rows overwrite them (last wins)"
            )

        clean = good.select([ROW, TIME, *tags, *fields])
        rej = (
            pl.concat(rejects).sort("row", maintain_order=True) if rejects else empty_rejects()
        )
        return Validated(
            source=chunk.source,
            measurement=spec.name,
            frame=clean,
            rejects=rej,
            tags=tags,
            fields={f: spec.fields[f].type for f in fields},
            rows_in=chunk.frame.height,
            rows_ok=clean.height,
            rejected=rej.height,
            duplicates=dups.height,
            cross_chunk_duplicates=cross,
            notes=notes,
            series_time=series_time,
            unique_series_time=full,
        )

    @staticmethod
    def _firing(frame: pl.DataFrame, checks: list[_Check], tag_checks: dict[int, str]
                ) -> list[int]:
        """Indexes (in order) of the checks at least one row of ``frame`` fails."""
        flags: dict[int, bool] = {}
        by_tag: dict[str, list[int]] = {}
        for i, t in tag_checks.items():
            by_tag.setdefault(t, []).append(i)
        for t, idx in by_tag.items():
            distinct = frame.select(pl.col(t).unique())
            row = distinct.select(
                [checks[i].cond.any().alias(str(i)) for i in idx]).row(0)
            flags.update((i, bool(v)) for i, v in zip(idx, row, strict=True))
        rest = [i for i in range(len(checks)) if i not in tag_checks]
        if rest:
            row = frame.select([checks[i].cond.any().alias(str(i)) for i in rest]).row(0)
            flags.update((i, bool(v)) for i, v in zip(rest, row, strict=True))
        return [i for i in range(len(checks)) if flags[i]]

    # ------------------------------------------------------------------------------
    def _columns(
        self, chunk: Chunk, spec: MeasurementSpec
    ) -> tuple[list[str], list[str], list[str]]:
        present = chunk.frame.columns
        missing = [c for c in (ROW, TIME, *spec.required_tags) if c not in present]
        listed_missing = [c for c in (*chunk.tags, *chunk.fields) if c not in present]
        missing += [c for c in listed_missing if c not in missing]
        if missing:
            raise SchemaError(
                f"{spec.name}: missing column(s) {', '.join(missing)}; "
                f"present: {', '.join(present)}",
                path=chunk.source,
            )
        unknown_tags = [t for t in chunk.tags if t not in spec.tags]
        unknown_fields = [f for f in chunk.fields if f not in spec.fields]
        if unknown_tags or unknown_fields:
            raise SchemaError(
                f"{spec.name}: unknown tag(s) {unknown_tags} / field(s) {unknown_fields}; "
                f"known tags: {', '.join(spec.tags)}; known fields: {', '.join(spec.fields)}",
                path=chunk.source,
            )
        # a tag with a catalog default is always written (the default where not given)
        tags = [t for t in spec.tags
                if t in spec.required_tags or t in chunk.tags or t in spec.tag_defaults]
        fields = [f for f in spec.fields if f in chunk.fields]
        if not fields:
            raise SchemaError(
                f"{spec.name}: no field column; expected one of {', '.join(spec.fields)}; "
                f"present: {', '.join(present)}",
                path=chunk.source,
            )
        ignored = [c for c in present if c not in (ROW, TIME, *tags, *fields)]
        notes = [f"ignored columns: {', '.join(ignored)}"] if ignored else []
        return tags, fields, notes

    def _normalize(
        self, chunk: Chunk, spec: MeasurementSpec, tags: list[str], fields: list[str]
    ) -> tuple[pl.DataFrame, dict[str, list[_Check]]]:
        """Cast to the catalog dtypes; castable values cast, the others become checks."""
        frame = chunk.frame
        schema = frame.schema
        exprs: list[pl.Expr] = [pl.int_range(pl.len(), dtype=pl.UInt64).alias(_POS)]
        exprs.append(pl.col(ROW).cast(pl.UInt64))

        tdtype = schema[TIME]
        if isinstance(tdtype, pl.Datetime):
            exprs.append(pl.col(TIME).dt.epoch("ns").alias(TIME))
        elif tdtype.is_integer():
            exprs.append(pl.col(TIME).cast(pl.Int64))
        else:
            raise SchemaError(
                f"column time has type {tdtype}; expected Int64 UTC nanoseconds",
                path=chunk.source,
            )

        for t in tags:
            if t not in schema:  # a defaulted tag the format does not carry
                exprs.append(pl.lit(spec.tag_defaults[t], dtype=pl.Utf8).alias(t))
                continue
            col = pl.col(t) if schema[t] == pl.Utf8 else pl.col(t).cast(pl.Utf8)
            if t not in spec.required_tags:  # empty optional tag = absent
                col = pl.when(col != "").then(col)
            if t in spec.tag_defaults:
                col = pl.coalesce(col, pl.lit(spec.tag_defaults[t], dtype=pl.Utf8))
            exprs.append(col.alias(t))

        cast_checks: dict[str, list[_Check]] = {}
        originals: list[pl.Expr] = []
        for f in fields:
            fspec = spec.fields[f]
            target = FIELD_DTYPES[fspec.type]
            src = schema[f]
            if src == target:
                exprs.append(pl.col(f))
                continue
            orig = f"__orig_{f}"
            originals.append(pl.col(f).cast(pl.Utf8).alias(orig))
            exprs.append(_cast_expr(f, src, fspec.type).alias(f))
            cast_checks[f] = [
                _Check(
                    cond=pl.col(f).is_null()
                    & pl.col(orig).is_not_null()
                    & (pl.col(orig).str.strip_chars() != ""),
                    column=f,
                    value=pl.col(orig),
                    reason=pl.lit(f"{f} value cannot be read as {fspec.type} ({fspec.unit})"),
                )
            ]
        frame = frame.select(exprs + originals)
        return frame, cast_checks

    def _time_checks(self) -> list[_Check]:
        t = pl.col(TIME)
        iso = _iso_expr(t)
        days, rest = divmod(self.retention_seconds, 86400)
        window = f"{days}d" if not rest else f"{self.retention_seconds}s"
        checks = [_Check(t.is_null(), TIME, None, pl.lit("time is missing"))]
        checks.append(
            _Check(
                t < self.min_time_ns,
                TIME,
                iso,
                pl.lit(
                    f"outside the {window} retention window (before {rfc3339(self.min_time_ns)})"
                    if self.retention_seconds > 0
                    else f"before the earliest time InfluxDB can store ({rfc3339(MIN_TIME_NS)})"
                ),
            )
        )
        checks.append(
            _Check(
                t > self.max_time_ns,
                TIME,
                iso,
                pl.lit(
                    f"in the future (after {rfc3339(self.max_time_ns)}, now + "
                    f"{self.future_tolerance_seconds}s tolerance)"
                ),
            )
        )
        return checks

    def _tag_checks(self, spec: MeasurementSpec, tags: list[str]) -> list[_Check]:
        checks: list[_Check] = []
        for t in tags:
            col = pl.col(t)
            if t in spec.required_tags:
                checks.append(
                    _Check(
                        col.is_null() | (col == ""), t, col, pl.lit(f"required tag {t} is missing")
                    )
                )
            for ch in FORBIDDEN["tag_value"]:
                checks.append(
                    _Check(
                        col.str.contains(ch, literal=True),
                        t,
                        col,
                        pl.lit(
                            f"tag {t} contains {CHAR_NAMES.get(ch, repr(ch))}, which line protocol "
                            "cannot represent"
                        ),
                    )
                )
            if "tag_value" in NO_TRAILING_BACKSLASH:
                checks.append(
                    _Check(
                        col.str.ends_with("\\"),
                        t,
                        col,
                        pl.lit(
                            f"tag {t} ends with a backslash, which line protocol cannot represent"
                        ),
                    )
                )
            checks.append(
                _Check(
                    col.str.len_bytes() > self.max_tag_bytes,
                    t,
                    col,
                    pl.format(
                        f"tag {t} is {{}} bytes long, over the {self.max_tag_bytes}-byte limit",
                        col.str.len_bytes(),
                    ),
                )
            )
            allowed = catalog.TAG_VOCABULARY.get(t)
            if allowed is not None:
                checks.append(
                    _Check(
                        ~col.is_in(sorted(allowed)),
                        t,
                        col,
                        pl.lit(f"{t} must be one of {', '.join(sorted(allowed))}"),
                    )
                )
        return checks

    def _field_checks(self, fspec: FieldSpec) -> list[_Check]:
        if fspec.type not in ("float", "integer"):
            return []
        col = pl.col(fspec.name)
        checks: list[_Check] = []
        if fspec.type == "float":
            checks.append(
                _Check(col.is_nan(), fspec.name, col,
                       pl.lit(f"{fspec.name} is NaN, which line protocol cannot represent"))
            )
            checks.append(
                _Check(col.is_infinite(), fspec.name, col,
                       pl.lit(f"{fspec.name} is infinite, which line protocol cannot represent"))
            )
        if fspec.min is not None or fspec.max is not None:
            out = pl.lit(False)
            if fspec.min is not None:
                out = out | (col < fspec.min)
            if fspec.max is not None:
                out = out | (col > fspec.max)
            lo = "-inf" if fspec.min is None else _num(fspec.min)
            hi = "inf" if fspec.max is None else _num(fspec.max)
            checks.append(
                _Check(
                    out,
                    fspec.name,
                    col,
                    pl.format(
                        f"{fspec.name} = {{}} {fspec.unit} is outside the valid range "
                        f"{lo}..{hi} {fspec.unit}",
                        col.cast(pl.Utf8),
                    ),
                )
            )
        return checks

    @staticmethod
    def _key_exprs(spec: MeasurementSpec, tags: list[str], fields: list[str]) -> list[pl.Expr]:
        """The duplicate key over *all* catalog tags/fields, so chunks with different
        column sets still produce comparable keys."""
        exprs: list[pl.Expr] = []
        for t in spec.tags:
            src = pl.col(t) if t in tags else pl.lit(None, dtype=pl.Utf8)
            exprs.append(src.alias(f"__k_{t}"))
        exprs.append(pl.col(TIME).alias("__k_time"))
        for f in spec.fields:
            src = pl.col(f).is_not_null() if f in fields else pl.lit(False)
            exprs.append(src.alias(f"__k_{f}"))
        return exprs

    @staticmethod
    def _rejects_for(source: str, bad: pl.DataFrame, checks: list[_Check]) -> pl.DataFrame:
        """Reject rows for the (few) failing rows: reason/column/value of their first check."""
        fail = pl.col(_FAIL)
        used = sorted(set(bad.get_column(_FAIL).unique().to_list()))

        def pick(get: object) -> pl.Expr:
            parts = []
            for i in used:
                expr = get(checks[i])  # type: ignore[operator]
                parts.append(pl.when(fail == i).then(expr))
            return pl.coalesce(parts) if parts else pl.lit(None, dtype=pl.Utf8)

        return bad.select(
            pl.lit(source, dtype=pl.Utf8).alias("source"),
            pl.col(ROW).alias("row"),
            pick(lambda c: pl.lit(c.column, dtype=pl.Utf8)).alias("column"),
            pick(
                lambda c: pl.lit(None, dtype=pl.Utf8)
                if c.value is None
                else c.value.cast(pl.Utf8).str.slice(0, 200)
            ).alias("value"),
            pick(lambda c: c.reason.cast(pl.Utf8)).alias("reason"),
        ).cast(REJECT_SCHEMA)  # type: ignore[arg-type]


def _cast_expr(name: str, src: pl.DataType, ftype: FieldType) -> pl.Expr:
    """Cast one field column to its catalog type; unreadable values become null."""
    col = pl.col(name)
    if ftype == "string":
        return col.cast(pl.Utf8)
    if src == pl.Utf8:
        text = col.str.strip_chars()
        if ftype == "boolean":
            low = text.str.to_lowercase()
            return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
        num = text.cast(pl.Float64, strict=False)
        if ftype == "float":
            return num
        whole = text.cast(pl.Int64, strict=False)
        return pl.coalesce([whole, _float_to_int(num)])
    if ftype == "float":
        return col.cast(pl.Float64, strict=False)
    if ftype == "integer":
        if src.is_float():
            return _float_to_int(col.cast(pl.Float64))
        return col.cast(pl.Int64, strict=False)
    if ftype == "boolean":
        if src.is_numeric():
            return pl.when(col == 1).then(True).when(col == 0).then(False)
        return col.cast(pl.Boolean, strict=False)
    return col.cast(FIELD_DTYPES[ftype], strict=False)


def _float_to_int(num: pl.Expr) -> pl.Expr:
    ok = num.is_finite() & (num == num.round(0)) & (num.abs() < 2.0**63)
    return pl.when(ok).then(num.cast(pl.Int64, strict=False))


def _iso_expr(t: pl.Expr) -> pl.Expr:
    return t.cast(pl.Datetime("ns", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
