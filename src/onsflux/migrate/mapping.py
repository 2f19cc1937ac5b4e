"""Timestream record → InfluxDB point: the mapping file and the pure, vectorized conversion.

A mapping file is TOML (stdlib ``tomllib``) or JSON, read by
:func:`onsflux.migrate.plan.load_mapping` and parsed by :func:`mapping_from_dict`; every
key is optional and the three ONS tables have defaults (:func:`default_mapping`)::

    cardinality_warning = 100000      # series per measurement above which plan warns
    time_column = "time"

    [tables.generation_data]
    bucket = "generation_data"        # database on 1.x
    measurement = "generation_data"
    tags = { energy_source = "source" }             # dimension -> tag (rename)
    dimension_fields = { }                           # dimension -> string field instead
    measure_names = { }                              # single-measure measure_name -> field
    fields = { }                                     # multi-measure column -> field
    ignore = ["measure_name"]                        # columns not migrated
    canonical_tags = true                            # catalog tags as the ingest writes them

How a frame (Timestream column names, typed as the source said) becomes points:

- **single-measure** (``measure_name`` + ``measure_value::double|bigint|varchar|boolean``
  columns): one point per row, one field named ``measure_names.get(name, name)`` whose
  type is that of the non-null ``measure_value::`` column. Rows of one measure name whose
  value sits in a different type column than the majority of that name are *rejects*
  (an InfluxDB field has one type per shard); a row without any value is a NULL measure:
  skipped and counted;
- **multi-measure** (anything else): every column that is not the time, not ignored, not
  a dimension, is a measure → a field (``fields`` renames). A VARCHAR column is a
  dimension unless ``fields`` lists it (the API and UNLOAD types cannot tell a VARCHAR
  measure from a dimension). NULL measure values are omitted from the point and counted;
  a row with every measure NULL is skipped and counted;
- **dimensions** → tags (``tags`` renames; unlisted ones keep their name), or string
  fields via ``dimension_fields``. Tag values are kept *verbatim*: spaces, commas,
  quotes, ``=`` and accents are escaped by the encoder and read back exactly — except
  the catalog's tags of a catalog measurement (``region``, ``source``, ``plant``…),
  which get the canonical value the ingest writes for the same name (``Sudeste`` →
  ``southeast``, ``HIDROELÉTRICA`` → ``hydro``, a plant name → its slug), so a plant
  migrated and a plant ingested are one series; a value the catalog does not know is
  kept as it is and counted (``Mapped.unresolved``; ``plan`` names it). ``canonical_tags
  = false`` keeps every value verbatim. A value
  the line protocol cannot carry (a newline or carriage return, or ending with a
  backslash) makes its row a reject with that reason — never silently dropped. A NULL
  dimension means the tag is absent on that point;
- **types**: BIGINT → integer (``i``, exact beyond 2^53), DOUBLE → float, BOOLEAN →
  boolean, VARCHAR → string, TIMESTAMP measure → integer ns; ``time`` → Int64 ns as is.
  A NaN/±inf DOUBLE cannot be written: reject.

Everything here is pure (no I/O) and works on whole columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .. import catalog
from ..catalog import FieldType
from ..exceptions import ConfigError
from ..frames import REJECT_SCHEMA, ROW, empty_rejects, make_rejects

MEASURE_NAME = "measure_name"
MEASURE_VALUE = "measure_value::"

TS_TO_FIELD: dict[str, FieldType] = {
    "BIGINT": "integer", "INTEGER": "integer", "DOUBLE": "float", "BOOLEAN": "boolean",
    "VARCHAR": "string", "TIMESTAMP": "integer",
}


@dataclass(frozen=True)
class TableMapping:
    table: str
    bucket: str
    measurement: str
    tags: dict[str, str] = field(default_factory=dict)
    dimension_fields: dict[str, str] = field(default_factory=dict)
    measure_names: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    canonical_tags: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "measurement": self.measurement, "tags": self.tags,
                "dimension_fields": self.dimension_fields, "measure_names": self.measure_names,
                "fields": self.fields, "ignore": list(self.ignore),
                "canonical_tags": self.canonical_tags}

    def canonical(self, tag: str) -> bool:
        """Whether ``tag`` gets the ingest's canonical values (see the module docstring)."""
        spec = catalog.MEASUREMENTS.get(self.measurement)
        return self.canonical_tags and spec is not None and tag in spec.tags


@dataclass(frozen=True)
class Mapping:
    tables: dict[str, TableMapping]
    cardinality_warning: int = 100_000
    time_column: str = "time"

    def table(self, name: str) -> TableMapping:
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigError(
                f"table {name!r} is not in the mapping; known: {', '.join(self.tables)}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        return {"cardinality_warning": self.cardinality_warning, "time_column": self.time_column,
                "tables": {k: v.as_dict() for k, v in self.tables.items()}}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


_DEFAULT_TAGS: dict[str, dict[str, str]] = {
    "generation_data": {"energy_source": "source", "subsystem": "region", "plant_name": "plant"},
    "consumption_data": {"subsystem": "region"},
    "transmission_data": {"line_name": "line", "origin_region": "from_region",
                          "destination_region": "to_region"},
}


def default_mapping() -> Mapping:
    """The three ONS tables onto the catalog's buckets/measurements, dimension renames
    from the old platform's names (``energy_source`` → ``source`` …)."""
    tables = {
        name: TableMapping(table=name, bucket=m.bucket, measurement=m.name,
                           tags=dict(_DEFAULT_TAGS.get(name, {})))
        for name, m in catalog.MEASUREMENTS.items()
    }
    return Mapping(tables=tables)


def mapping_from_dict(doc: dict[str, Any]) -> Mapping:
    """A mapping from a parsed file: its tables override/extend the defaults."""
    base = default_mapping()
    known = {"cardinality_warning", "time_column", "tables"}
    unknown = set(doc) - known
    if unknown:
        raise ConfigError(f"mapping: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    tables = dict(base.tables)
    for name, t in (doc.get("tables") or {}).items():
        if not isinstance(t, dict):
            raise ConfigError(f"mapping: tables.{name} must be a table")
        allowed = {"bucket", "measurement", "tags", "dimension_fields", "measure_names",
                   "fields", "ignore", "canonical_tags"}
        bad = set(t) - allowed
        if bad:
            raise ConfigError(f"mapping: tables.{name}: unknown keys {sorted(bad)}")
        prev = tables.get(name)
        measurement = t.get("measurement") or (prev.measurement if prev else name)
        tables[name] = TableMapping(
            table=name,
            bucket=t.get("bucket") or (prev.bucket if prev else measurement),
            measurement=measurement,
            tags={**(prev.tags if prev else {}), **dict(t.get("tags") or {})},
            dimension_fields=dict(t.get("dimension_fields") or {}),
            measure_names=dict(t.get("measure_names") or {}),
            fields=dict(t.get("fields") or {}),
            ignore=tuple(t.get("ignore") or ()),
            canonical_tags=bool(t.get("canonical_tags", prev.canonical_tags if prev else True)),
        )
    try:
        return Mapping(tables=tables,
                       cardinality_warning=int(doc.get("cardinality_warning", 100_000)),
                       time_column=str(doc.get("time_column", "time")))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"mapping: {exc}") from exc


# --------------------------------------------------------------------------- conversion


@dataclass
class Mapped:
    """Points ready for ``encode_lines`` plus what did not make it and why."""

    frame: pl.DataFrame  # time + tag columns (Utf8) + field columns
    tags: list[str]
    fields: dict[str, FieldType]
    rows: int  # source rows considered
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    null_measures: int = 0  # rows skipped: no measure value at all
    null_values: int = 0  # individual NULL measure values omitted (multi-measure)
    #: catalog tag → distinct values the catalog does not know (kept as they are)
    unresolved: dict[str, list[str]] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return self.frame.height


def is_single_measure(columns: list[str]) -> bool:
    return MEASURE_NAME in columns and any(c.startswith(MEASURE_VALUE) for c in columns)


def classify(tm: TableMapping, types: dict[str, str], time_column: str = "time"
             ) -> tuple[list[str], list[str]]:
    """(dimension columns, measure columns) of a multi-measure record."""
    dims, measures = [], []
    for name, scalar in types.items():
        if name in (time_column, ROW) or name in tm.ignore or name == MEASURE_NAME:
            continue
        if name in tm.fields or scalar != "VARCHAR":
            measures.append(name)
        else:
            dims.append(name)
    return dims, measures


def dimensions(tm: TableMapping, types: dict[str, str], time_column: str = "time"
               ) -> list[str]:
    """The dimension columns of a record (single- or multi-measure), in column order."""
    if is_single_measure(list(types)):
        return [c for c in types if c not in (time_column, ROW, MEASURE_NAME)
                and not c.startswith(MEASURE_VALUE) and c not in tm.ignore]
    return classify(tm, types, time_column)[0]


#: a newline or carriage return anywhere, or a backslash at the end
_UNCARRIABLE = r"[\r\n]|\\$"


def _tag_rejects(frame: pl.DataFrame, source: str, tag_cols: dict[str, str]
                 ) -> tuple[pl.Series, list[pl.DataFrame]]:
    """Rows whose tag values line protocol cannot carry: (keep mask, reject frames)."""
    keep = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).alias("")
    out: list[pl.DataFrame] = []
    for col, tag in tag_cols.items():
        s = frame.get_column(col)
        if not s.str.contains(_UNCARRIABLE).fill_null(False).any():
            continue  # one pass for the common case; the reasons only when needed
        checks = [
            (s.str.contains("\n", literal=True), "contains a newline"),
            (s.str.contains("\r", literal=True), "contains a carriage return"),
            (s.str.ends_with("\\"), "ends with a backslash"),
        ]
        for mask, why in checks:
            bad = mask.fill_null(False) & keep
            if bad.any():
                rows = frame.get_column(ROW).filter(bad)
                out.append(make_rejects(source, rows, col, s.filter(bad),
                                        f"tag {tag!r} value {why}: line protocol cannot carry it"))
                keep = keep & ~bad
    return keep, out


def map_frame(
    tm: TableMapping, frame: pl.DataFrame, types: dict[str, str], *, source: str,
    time_column: str = "time",
) -> Mapped:
    """Convert one source frame (see the module docstring). ``frame`` has ``_row``."""
    if ROW not in frame.columns:
        frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.UInt64).alias(ROW))
    if time_column not in frame.columns:
        raise ConfigError(f"table {tm.table}: no time column {time_column!r}")
    types = {c: types.get(c, _scalar_of(frame.schema[c])) for c in frame.columns if c != ROW}
    rejects: list[pl.DataFrame] = []
    n_rows = frame.height
    columns = list(frame.columns)

    if is_single_measure(columns):
        dims = dimensions(tm, types, time_column)
        vcols = [c for c in columns if c.startswith(MEASURE_VALUE)]
        has_value = pl.any_horizontal([pl.col(v).is_not_null() for v in vcols])
        null_rows = frame.filter(~has_value).height
        frame = frame.filter(has_value)
        # the value column of each measure name: its majority type
        counts = frame.group_by(MEASURE_NAME).agg(
            [pl.col(v).is_not_null().sum().alias(v) for v in vcols]
        )
        field_cols: dict[str, pl.Expr] = {}
        field_types: dict[str, FieldType] = {}
        sources: dict[str, list[tuple[str, str]]] = {}
        for row in counts.sort(MEASURE_NAME, nulls_last=True).iter_rows(named=True):
            name = row[MEASURE_NAME]
            if name is None:
                continue
            vcol = max(vcols, key=lambda v: row[v])
            fname = tm.measure_names.get(name, name)
            ftype = TS_TO_FIELD.get(types.get(vcol, vcol.split("::", 1)[1].upper()), "string")
            if fname in field_types and field_types[fname] != ftype:
                raise ConfigError(f"table {tm.table}: measures mapped to field {fname!r} have "
                                  f"types {field_types[fname]} and {ftype}")
            field_types[fname] = ftype
            sources.setdefault(fname, []).append((name, vcol))
        for fname, pairs in sources.items():
            expr: Any = None
            for name, vcol in pairs:
                e = pl.when(pl.col(MEASURE_NAME) == name).then(pl.col(vcol))
                expr = e if expr is None else expr.otherwise(e)  # chained when/then
            field_cols[fname] = expr
        # rows whose value sits in another column than their measure's
        chosen = {name: vcol for pairs in sources.values() for name, vcol in pairs}
        ok_expr = pl.lit(False)
        for name, vcol in chosen.items():
            ok_expr = ok_expr | ((pl.col(MEASURE_NAME) == name) & pl.col(vcol).is_not_null())
        ok = frame.select(ok_expr.alias("ok")).to_series()
        if not ok.all():
            bad = frame.filter(~ok)
            rejects.append(make_rejects(
                source, bad.get_column(ROW), MEASURE_NAME, bad.get_column(MEASURE_NAME),
                "measure value type differs from the other rows of this measure name "
                "(one InfluxDB field holds one type)"))
            frame = frame.filter(ok)
        wide = frame.select(
            [pl.col(ROW), pl.col(time_column).alias("time"), *[pl.col(d) for d in dims],
             *[expr.alias(f) for f, expr in field_cols.items()]]
        )
        null_values = 0
    else:
        dims, measures = classify(tm, types, time_column)
        dims = [d for d in dims if d in columns]
        measures = [m for m in measures if m in columns]
        field_types = {}
        renames = {}
        for m in measures:
            fname = tm.fields.get(m, m)
            field_types[fname] = TS_TO_FIELD.get(types.get(m, "VARCHAR"), "string")
            renames[m] = fname
        if not measures:
            raise ConfigError(f"table {tm.table}: no measure columns among {columns}")
        has_value = pl.any_horizontal([pl.col(m).is_not_null() for m in measures])
        null_rows = frame.filter(~has_value).height
        frame = frame.filter(has_value)
        null_values = int(frame.select(
            pl.sum_horizontal([pl.col(m).is_null().cast(pl.Int64) for m in measures]).sum()
        ).item() or 0)
        wide = frame.select(
            [pl.col(ROW), pl.col(time_column).alias("time"), *[pl.col(d) for d in dims],
             *[pl.col(m).alias(renames[m]) for m in measures]]
        )

    # dimensions: to string fields or to (renamed) tags
    tag_cols: dict[str, str] = {}
    for d in dims:
        if d in tm.dimension_fields:
            fname = tm.dimension_fields[d]
            wide = wide.rename({d: fname}).with_columns(pl.col(fname).cast(pl.Utf8))
            field_types[fname] = "string"
        else:
            tag_cols[d] = tm.tags.get(d, d)
    clash = set(tag_cols.values()) & set(field_types)
    if clash or len(set(tag_cols.values())) != len(tag_cols):
        raise ConfigError(f"table {tm.table}: names used twice (tags {sorted(tag_cols.values())}, "
                          f"fields {sorted(field_types)})")
    wide = wide.with_columns([pl.col(d).cast(pl.Utf8) for d in tag_cols])
    wide = _catalog_tags(tm, wide, tag_cols, set(field_types))
    unresolved: dict[str, list[str]] = {}
    for d, tag in tag_cols.items():
        if tm.canonical(tag):
            canon, unknown = canonical_values(tag, wide.get_column(d))
            wide = wide.with_columns(canon.alias(d))
            if unknown:
                unresolved[tag] = unknown
    keep, tag_rej = _tag_rejects(wide, source, tag_cols)
    rejects += tag_rej
    # floats that cannot be written
    for f, ft in field_types.items():
        if ft != "float":
            continue
        col: pl.Series = wide.get_column(f)
        unwritable: pl.Series = (col.is_nan() | col.is_infinite()).fill_null(False) & keep
        if unwritable.any():
            rejects.append(make_rejects(source, wide.get_column(ROW).filter(unwritable), f,
                                        col.filter(unwritable), "NaN or infinite: line protocol "
                                        "cannot carry it"))
            keep = keep & ~unwritable
    if not keep.all():
        wide = wide.filter(keep)
    wide = wide.rename({d: t for d, t in tag_cols.items() if d != t})
    return Mapped(
        frame=wide, tags=list(tag_cols.values()), fields=field_types, rows=n_rows,
        rejects=pl.concat(rejects, how="vertical") if rejects else
        pl.DataFrame(schema=REJECT_SCHEMA),
        null_measures=null_rows, null_values=null_values, unresolved=unresolved,
    )


def _catalog_tags(tm: TableMapping, wide: pl.DataFrame, tag_cols: dict[str, str],
                  fields: set[str]) -> pl.DataFrame:
    """The tags the ingest adds for a catalog measurement (``tag_cols`` extended in
    place): ``plant_name`` — the plant's name for people, from the same dimension as
    ``plant`` — and the catalog's ``tag_defaults`` (``sector = total``…), so a migrated
    series has the ingested series' key."""
    spec = catalog.MEASUREMENTS.get(tm.measurement)
    if not tm.canonical_tags or spec is None:
        return wide
    taken = set(tag_cols.values()) | fields
    plant_col = next((d for d, t in tag_cols.items() if t == "plant"), None)
    if plant_col is not None and "plant_name" in spec.tags and "plant_name" not in taken:
        names = wide.get_column(plant_col)
        table = {v: catalog.display_name(v) for v in names.drop_nulls().unique().to_list()}
        wide = wide.with_columns(names.replace_strict(table, default=None, return_dtype=pl.Utf8)
                                 .alias("\x00plant_name"))
        tag_cols["\x00plant_name"] = "plant_name"
    for tag, default in spec.tag_defaults.items():
        col = next((d for d, t in tag_cols.items() if t == tag), None)
        if col is not None:
            wide = wide.with_columns(pl.col(col).fill_null(default))
        elif tag not in fields:
            wide = wide.with_columns(pl.lit(default, dtype=pl.Utf8).alias("\x00" + tag))
            tag_cols["\x00" + tag] = tag
    return wide


def canonical_values(tag: str, values: pl.Series) -> tuple[pl.Series, list[str]]:
    """The value the ingest stores for each (:func:`onsflux.catalog.normalize_tag`), the
    value itself when there is none; and those without one."""
    distinct = values.drop_nulls().unique()
    table = {v: catalog.normalize_tag(tag, v) for v in distinct.to_list()}
    unknown = sorted(v for v, c in table.items() if c is None)
    known = {v: c for v, c in table.items() if c is not None and c != v}
    if not known:
        return values, unknown
    return values.replace(known), unknown


def _scalar_of(dtype: pl.DataType) -> str:
    if dtype == pl.Float64 or dtype == pl.Float32:
        return "DOUBLE"
    if dtype.is_integer():
        return "BIGINT"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    return "VARCHAR"


