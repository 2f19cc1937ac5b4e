"""Adapters: one raw batch of any input format → Chunks in the catalog's wide shape.

A raw batch is a polars frame with ``_row`` (1-based data-row number) and the file's
columns under their original names, as :mod:`onsflux.sources.readers` streams them.
Each adapter converts it with vectorized expressions (Python only touches *distinct*
names: plant names, subsystem ids, units) and returns Chunks whose ``frame`` follows
:mod:`onsflux.frames`. Every row ends up either in a chunk frame or in its ``rejects``
with the first reason found, so ``sum(source_rows) == rows read``.

Reasons a row is rejected here: missing or unparseable timestamp, non-existent local
time (DST gap), an ambiguous local time repeated a third time, unknown or missing
subsystem / region / source / sector / measurement_type, unit incompatible with the
field, missing value, non-numeric value (the text is kept in the reject), non-finite
value. Range checks are the validator's job, not the adapter's.

Numbers given as text are trimmed and may use a decimal comma, decided per column from
its values (:func:`coerce_numbers`): ``"1234,5"``/``"1.234,5"`` show a decimal comma,
``"44.1"``/``"1,234.5"`` a decimal point; ``"44.100"`` and ``"1,234"`` follow what the
column showed, and are rejected as ambiguous when it showed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from .. import catalog
from ..frames import FIELD_DTYPES, ROW, TIME, Chunk, empty_rejects, make_rejects
from .detect import DetectedFormat, suggest
from .timezone import (
    DUPLICATE_AMBIGUOUS_REASON,
    NON_EXISTENT_REASON,
    AmbiguityTracker,
    localize,
    to_utc_ns,
)

# --- small vectorized helpers ------------------------------------------------------------

def as_text(s: pl.Series) -> pl.Series:
    """Trimmed text; empty → null."""
    t = s.cast(pl.Utf8, strict=False).str.strip_chars()
    return pl.select(pl.when(t.str.len_chars() > 0).then(t)).to_series().alias(s.name)


def map_distinct(s: pl.Series, fn: Callable[[str], str | None],
                 cache: dict[str, str | None] | None = None) -> pl.Series:
    """Apply a Python function to each distinct value only (trimmed; blank → null).

    ``cache`` (value → result, kept by the caller across the batches of one file) spares
    calling ``fn`` again for values seen before. When every value maps to itself (tags
    already in canonical form, the common case) the column is returned as it is, without
    the per-row look-up.
    """
    t = s.cast(pl.Utf8, strict=False)
    mapping: dict[str, str | None] = {}
    known = cache if cache is not None else {}
    for v in t.unique().drop_nulls().to_list():
        if v in known:
            mapping[v] = known[v]
            continue
        v2 = v.strip()
        mapping[v] = known[v] = fn(v2) if v2 else None
    if not mapping:
        return pl.repeat(None, len(s), dtype=pl.Utf8, eager=True).alias(s.name)
    if all(k == v for k, v in mapping.items()):
        return t.alias(s.name)
    return t.replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(s.name)


slug_or_none = catalog.slug_or_none


def ons_region(text: str) -> str | None:
    return catalog.ONS_SUBSYSTEM_IDS.get(text.strip().upper()) or catalog.resolve_region(text)


def ons_source(text: str) -> str | None:
    return catalog.ONS_PLANT_TYPES.get(text.strip().upper()) or catalog.resolve_source(text)


@dataclass
class Numbers:
    values: pl.Series  #: Float64, null unless a finite number
    missing: pl.Series  #: null or empty text
    bad: pl.Series  #: text that is not a number
    nonfinite: pl.Series  #: ±inf
    nan: pl.Series  #: NaN (a number, but not a value InfluxDB can store)
    #: text whose decimal separator cannot be told (``44.100``: 44.1 or 44100?), or
    #: contradicts the convention the column already showed
    unclear: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.Boolean))
    unclear_reason: str = ""
    #: the column's convention after this batch: "comma", "dot" or None (not shown yet)
    convention: str | None = None


_SIGN = r"^[+-]?"
#: one group of exactly three digits after the only separator: 44.100 / 1,234
_AMBIGUOUS_DOT = _SIGN + r"\d{1,3}\.\d{3}$"
_AMBIGUOUS_COMMA = _SIGN + r"\d{1,3},\d{3}$"
#: only a decimal comma reads these: 1234,5 · 1.234,5 · 1.234.567 · ,5
_COMMA_DECIMAL = _SIGN + r"(\d*,\d*|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,})$"
#: comma thousands with a decimal point: 1,234.5 · 1,234,567
_COMMA_THOUSANDS = _SIGN + r"(\d{1,3}(,\d{3})+\.\d*|\d{1,3}(,\d{3}){2,})$"


def coerce_numbers(s: pl.Series, convention: str | None = None) -> Numbers:
    """Float64 from numbers or number-like text, decimal commas decided per column.

    A column's convention (decimal ``comma`` or ``dot``) is what its values show: a
    value only one convention reads (``1,5``, ``1.234,5`` → comma; ``44.1``,
    ``1,234.5`` → dot). ``convention`` is what earlier batches of the same column
    showed; the batch's own values decide it otherwise (both shown in one batch: not
    decided). Under a convention, ``44.100`` and ``1,234`` follow it, and a value showing
    the other one is rejected; with none, they are rejected as ambiguous, never guessed.
    """
    if s.dtype.is_numeric():
        v = s.cast(pl.Float64)
        nan = v.is_nan().fill_null(False)
        missing = v.is_null()
        bad = pl.repeat(False, len(s), dtype=pl.Boolean, eager=True).alias("")
        unclear = pl.repeat(False, len(s), dtype=pl.Boolean, eager=True).alias("")
        reason = ""
    else:
        t = as_text(s)
        missing = t.is_null()
        plain = t.cast(pl.Float64, strict=False)
        amb_dot = t.str.contains(_AMBIGUOUS_DOT).fill_null(False)
        if plain.null_count() == t.null_count() and not t.str.contains(",", literal=True).any():
            # every value reads as a plain number and none has a comma (the common case):
            # no comma pattern can match, so skip their four passes over the column
            never = pl.repeat(False, len(t), dtype=pl.Boolean, eager=True).alias("")
            amb_comma = comma_form = thousands_form = never
        else:
            amb_comma = t.str.contains(_AMBIGUOUS_COMMA).fill_null(False)
            comma_form = t.str.contains(_COMMA_DECIMAL).fill_null(False) & ~amb_comma
            thousands_form = t.str.contains(_COMMA_THOUSANDS).fill_null(False)
        dot_form = (plain.is_not_null() & t.str.contains(".", literal=True).fill_null(False)
                    & ~amb_dot) | thousands_form
        if convention is None:
            shows_comma, shows_dot = bool(comma_form.any()), bool(dot_form.any())
            if shows_comma != shows_dot:
                convention = "comma" if shows_comma else "dot"
        def as_comma() -> pl.Series:  # 1.234,5 -> 1234.5
            return t.str.replace_all(".", "", literal=True).str.replace(
                ",", ".", literal=True).cast(pl.Float64, strict=False)

        def no_commas() -> pl.Series:  # 1,234.5 -> 1234.5
            return t.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)

        # each rewrite is computed only when some value needs it
        if convention == "comma":
            unclear = dot_form
            reason = ("number with a decimal point in a column whose other values use a "
                      "decimal comma")
            use = comma_form | amb_dot | amb_comma
            v = pl.select(pl.when(use).then(as_comma()).otherwise(plain)).to_series() \
                if use.any() else plain
        elif convention == "dot":
            unclear = comma_form
            reason = ("number with a decimal comma in a column whose other values use a "
                      "decimal point")
            use = amb_comma | thousands_form
            v = pl.select(pl.when(use).then(no_commas()).otherwise(plain)).to_series() \
                if use.any() else plain
        else:
            unclear = amb_dot | amb_comma
            reason = ("ambiguous number: thousands separator or decimal separator? no other "
                      "value of the column says (write 44100 or 44.1, not 44.100)")
            v = plain
            if comma_form.any():
                v = pl.select(pl.when(comma_form).then(as_comma()).otherwise(v)).to_series()
            if thousands_form.any():
                v = pl.select(pl.when(thousands_form & ~comma_form).then(no_commas())
                              .otherwise(v)).to_series()
        v = pl.select(pl.when(~unclear).then(v)).to_series()
        bad = t.is_not_null() & v.is_null() & ~unclear
        nan = v.is_nan().fill_null(False)
    nonfinite = v.is_infinite().fill_null(False)
    clean = pl.select(pl.when(~missing & ~nonfinite & ~bad & ~nan & ~unclear).then(v)).to_series()
    return Numbers(clean.alias(s.name), missing, bad, nonfinite, nan, unclear, reason,
                   convention)


def cast_field(values: pl.Series, ftype: str) -> pl.Series:
    return values.cast(FIELD_DTYPES[ftype], strict=False)


class Rejector:
    """Collects rejects for one batch; each row is rejected at most once."""

    def __init__(self, source: str, rows: pl.Series) -> None:
        self.source = source
        self.rows = rows
        self.alive = pl.repeat(True, len(rows), dtype=pl.Boolean, eager=True).alias("")
        self.parts: list[pl.DataFrame] = []

    def reject(self, mask: pl.Series, column: str, values: pl.Series | None, reason: str) -> None:
        m = (mask.fill_null(False) & self.alive).alias("m")
        if not m.any():
            return
        vals = values.filter(m) if values is not None else None
        self.parts.append(make_rejects(self.source, self.rows.filter(m), column, vals, reason))
        self.alive = self.alive & ~m

    def reject_by_value(
        self, mask: pl.Series, column: str, values: pl.Series,
        reason: Callable[[str | None], str],
    ) -> None:
        """Like :meth:`reject`, the reason depending on the (distinct) offending value."""
        m = mask.fill_null(False) & self.alive
        if not m.any():
            return
        text = values.cast(pl.Utf8, strict=False)
        for value in text.filter(m).unique().to_list():
            sel = m & (text == value).fill_null(False) if value is not None else m & text.is_null()
            self.reject(sel, column, text, reason(value))

    @property
    def frame(self) -> pl.DataFrame:
        if not self.parts:
            return empty_rejects()
        return pl.concat(self.parts, how="vertical")


def empty_frame(measurement: str, tags: Iterable[str], fields: Iterable[str]) -> pl.DataFrame:
    spec = catalog.measurement(measurement)
    schema: dict[str, pl.DataType] = {ROW: pl.UInt64(), TIME: pl.Int64()}
    schema.update({t: pl.Utf8() for t in tags})
    schema.update({f: FIELD_DTYPES[spec.field(f).type] for f in fields})
    return pl.DataFrame(schema=schema)


def _time_rejects(rej: Rejector, raw_time: pl.Series, column: str, utc: pl.Series,
                  non_existent: pl.Series | None = None,
                  duplicate: pl.Series | None = None) -> None:
    present = as_text(raw_time).is_not_null() if raw_time.dtype == pl.Utf8 else (
        raw_time.is_not_null())
    rej.reject(~present, column, None, "missing timestamp")
    if non_existent is not None:
        rej.reject(non_existent, column, raw_time, NON_EXISTENT_REASON)
    if duplicate is not None:
        rej.reject(duplicate, column, raw_time, DUPLICATE_AMBIGUOUS_REASON)
    rej.reject(utc.is_null(), column, raw_time, "unparseable timestamp")


def _value_rejects(rej: Rejector, nums: Numbers, raw: pl.Series, column: str) -> None:
    rej.reject(nums.missing, column, None, "missing value")
    rej.reject(nums.nan, column, raw, "NaN is not a storable value")
    rej.reject(nums.unclear, column, raw, nums.unclear_reason)
    rej.reject(nums.bad, column, raw, "not a number")
    rej.reject(nums.nonfinite, column, raw, "not a finite number")


# --- adapters ------------------------------------------------------------------------------

class Adapter:
    """Base: turns raw batches of one file into Chunks (stateful across batches)."""

    def __init__(self, fmt: DetectedFormat, source: str) -> None:
        self.fmt = fmt
        self.source = source
        self.measurement = fmt.measurement or "generation_data"
        self._noted: set[str] = set()
        self._conventions: dict[str, str] = {}  # column -> decimal "comma" | "dot"
        #: per tag: raw value -> canonical value, for the distinct values seen so far
        self._resolved: dict[str, dict[str, str | None]] = {}

    def resolve_tag(self, tag: str, values: pl.Series) -> pl.Series:
        """:func:`_resolve_tag`, remembering across batches what each value resolved to."""
        return _resolve_tag(tag, values, self._resolved.setdefault(tag, {}))

    def mapped(self, key: str, values: pl.Series, fn: Callable[[str], str | None]) -> pl.Series:
        """:func:`map_distinct` with a cache per ``key`` (one ``key`` per ``fn``)."""
        return map_distinct(values, fn, self._resolved.setdefault(f"\x00{key}", {}))

    def numbers(self, column: str, values: pl.Series) -> Numbers:
        """:func:`coerce_numbers` with the convention earlier batches of ``column`` showed."""
        nums = coerce_numbers(values, self._conventions.get(column))
        if nums.convention is not None:
            self._conventions[column] = nums.convention
        return nums

    def col(self, raw: pl.DataFrame, name: str) -> pl.Series | None:
        original = self.fmt.columns.get(name)
        return raw[original] if original is not None else None

    def once(self, notes: Iterable[str]) -> list[str]:
        """Notes that are the same for every chunk are reported once per file."""
        out = [n for n in notes if n not in self._noted]
        self._noted.update(out)
        return out

    def adapt(self, raw: pl.DataFrame) -> list[Chunk]:
        raise NotImplementedError

    def empty_chunk(self, notes: list[str], rejects: pl.DataFrame | None = None) -> Chunk:
        spec = catalog.measurement(self.measurement)
        tags, fields = self.default_columns(spec)
        r = rejects if rejects is not None else empty_rejects()
        return Chunk(self.source, spec.name, empty_frame(spec.name, tags, fields), list(tags),
                     list(fields), rejects=r, notes=notes, source_rows=r.height)

    def default_columns(self, spec: catalog.MeasurementSpec) -> tuple[list[str], list[str]]:
        return list(spec.tags), list(spec.fields)

    def _chunk(self, measurement: str, frame: pl.DataFrame, tags: list[str], fields: list[str],
               rej: Rejector, notes: list[str]) -> Chunk:
        kept = frame.filter(rej.alive)
        rejects = rej.frame
        return Chunk(self.source, measurement, kept, tags, fields, rejects=rejects, notes=notes,
                     source_rows=kept.height + rejects.height)


class _OnsAdapter(Adapter):
    """Common path of the three ONS files: local time, tags, one float field."""

    field_name = ""
    value_column = ""

    def __init__(self, fmt: DetectedFormat, source: str) -> None:
        super().__init__(fmt, source)
        self.tracker = AmbiguityTracker()

    def tags(self, raw: pl.DataFrame, rej: Rejector) -> dict[str, pl.Series]:
        raise NotImplementedError

    def adapt(self, raw: pl.DataFrame) -> list[Chunk]:
        rows = raw[ROW]
        rej = Rejector(self.source, rows)
        tags = self.tags(raw, rej)
        din = self.col(raw, "din_instante")
        assert din is not None
        keys = pl.DataFrame(tags)
        loc = localize(din, keys, tracker=self.tracker)
        _time_rejects(rej, din, "din_instante", loc.utc_ns, loc.non_existent, loc.duplicate)
        self.check_tags(raw, tags, rej)
        raw_value = self.col(raw, self.value_column)
        assert raw_value is not None
        nums = self.numbers(self.value_column, raw_value)
        _value_rejects(rej, nums, raw_value, self.value_column)
        frame = pl.DataFrame(
            {ROW: rows.cast(pl.UInt64), TIME: loc.utc_ns.cast(pl.Int64), **tags,
             self.field_name: nums.values}
        )
        return [self._chunk(self.measurement, frame, list(tags), [self.field_name], rej,
                            loc.notes)]

    def check_tags(self, raw: pl.DataFrame, tags: dict[str, pl.Series], rej: Rejector) -> None:
        raise NotImplementedError

    def default_columns(self, spec: catalog.MeasurementSpec) -> tuple[list[str], list[str]]:
        return list(self.tag_names), [self.field_name]

    tag_names: tuple[str, ...] = ()

    def _subsystem(self, raw: pl.DataFrame, id_col: str, name_col: str) -> pl.Series:
        ids = self.col(raw, id_col)
        assert ids is not None
        region = self.mapped("ons_region", ids, ons_region)
        names = self.col(raw, name_col)
        if names is not None:
            region = pl.select(pl.coalesce(region, self.mapped("ons_region", names, ons_region))).to_series()
        return region

    def _reject_subsystem(self, raw: pl.DataFrame, region: pl.Series, id_col: str,
                          rej: Rejector) -> None:
        ids = self.col(raw, id_col)
        assert ids is not None
        text = as_text(ids)
        rej.reject(region.is_null() & text.is_null(), id_col, None, "missing subsystem")
        rej.reject(region.is_null(), id_col, ids, "unknown subsystem")


class OnsGenerationAdapter(_OnsAdapter):
    field_name = "power_mw"
    value_column = "val_geracao"
    tag_names = ("region", "source", "plant", "state", "plant_id", "plant_name")

    def tags(self, raw: pl.DataFrame, rej: Rejector) -> dict[str, pl.Series]:
        n = raw.height
        none = pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias("")
        plant_type = self.col(raw, "nom_tipousina")
        plant = self.col(raw, "nom_usina")
        state = self.col(raw, "id_estado")
        plant_id = self.col(raw, "id_ons")
        assert plant_type is not None and plant is not None
        return {
            "region": self._subsystem(raw, "id_subsistema", "nom_subsistema").alias("region"),
            "source": self.mapped("ons_source", plant_type, ons_source).alias("source"),
            "plant": self.mapped("plant", plant, catalog.TAG_NORMALIZERS["plant"]).alias("plant"),
            "state": (self.mapped("state", state, catalog.TAG_NORMALIZERS["state"])
                      if state is not None else none).alias("state"),
            # id_ons as published (case kept): users look plants up by it
            "plant_id": (self.mapped("plant_id", plant_id, catalog.TAG_NORMALIZERS["plant_id"])
                         if plant_id is not None else none).alias("plant_id"),
            "plant_name": self.mapped("plant_name", plant,
                                      catalog.TAG_NORMALIZERS["plant_name"])
            .alias("plant_name"),
        }

    def check_tags(self, raw: pl.DataFrame, tags: dict[str, pl.Series], rej: Rejector) -> None:
        self._reject_subsystem(raw, tags["region"], "id_subsistema", rej)
        plant_type = self.col(raw, "nom_tipousina")
        assert plant_type is not None
        rej.reject(tags["source"].is_null() & as_text(plant_type).is_null(), "nom_tipousina",
                   None, "missing plant type")
        rej.reject(tags["source"].is_null(), "nom_tipousina", plant_type, "unknown plant type")
        for tag, column in (("plant", "nom_usina"), ("state", "id_estado"), ("plant_id", "id_ons")):
            src = self.col(raw, column)
            if src is not None:
                rej.reject(_unresolved(src, tags[tag]), column, src, _unmapped(tag))
        rej.reject(tags["plant"].is_null(), "nom_usina", None, "missing plant name")


class OnsLoadAdapter(_OnsAdapter):
    field_name = "demand_mw"
    value_column = "val_cargaenergiahomwmed"
    tag_names = ("region", "sector")

    def tags(self, raw: pl.DataFrame, rej: Rejector) -> dict[str, pl.Series]:
        return {
            "region": self._subsystem(raw, "id_subsistema", "nom_subsistema").alias("region"),
            "sector": pl.Series("sector", ["total"] * raw.height, dtype=pl.Utf8),
        }

    def check_tags(self, raw: pl.DataFrame, tags: dict[str, pl.Series], rej: Rejector) -> None:
        self._reject_subsystem(raw, tags["region"], "id_subsistema", rej)


class OnsInterchangeAdapter(_OnsAdapter):
    field_name = "flow_mw"
    value_column = "val_intercambiomwmed"
    tag_names = ("line", "from_region", "to_region")

    def tags(self, raw: pl.DataFrame, rej: Rejector) -> dict[str, pl.Series]:
        src = self._subsystem(raw, "id_subsistema_origem", "nom_subsistema_origem")
        dst = self._subsystem(raw, "id_subsistema_destino", "nom_subsistema_destino")
        line = pl.select(pl.concat_str([src, pl.lit("_"), dst])).to_series()
        return {"line": line.alias("line"), "from_region": src.alias("from_region"),
                "to_region": dst.alias("to_region")}

    def check_tags(self, raw: pl.DataFrame, tags: dict[str, pl.Series], rej: Rejector) -> None:
        self._reject_subsystem(raw, tags["from_region"], "id_subsistema_origem", rej)
        self._reject_subsystem(raw, tags["to_region"], "id_subsistema_destino", rej)


# --- processed formats -----------------------------------------------------------------------

def _unresolved(src: pl.Series, resolved: pl.Series) -> pl.Series:
    """A tag value was given (not null, not blank) but resolved to nothing.

    Only rows whose resolution is null are inspected: usually none, so this is free.
    """
    missing = resolved.is_null()
    if not missing.any():
        return missing
    return as_text(src).is_not_null() & missing  # as_text: trimmed, blank -> null


def _unmapped(tag: str) -> str:
    """Why a given tag value could not be made canonical (never silently dropped)."""
    if tag in catalog.RESOLVERS:
        return f"unknown {tag}"
    return f"{tag} has no letters or digits to make a canonical tag value from"


def _resolve_tag(tag: str, values: pl.Series,
                 cache: dict[str, str | None] | None = None) -> pl.Series:
    """The stored values of ``tag``: the catalog's one normal form, for every format."""
    return map_distinct(values, lambda text: catalog.normalize_tag(tag, text), cache).alias(tag)


def _field_index() -> dict[str, str]:
    """measurement_type text (folded) → field name: field names and their aliases."""
    index: dict[str, str] = {}
    for spec in catalog.MEASUREMENTS.values():
        for f in spec.fields.values():
            for alias in f.aliases:
                index.setdefault(catalog.fold(alias), f.name)
    for name in catalog.FIELD_TO_MEASUREMENT:
        index[catalog.fold(name)] = name
    return index


_FIELD_INDEX = _field_index()


def resolve_field(text: str) -> str | None:
    return _FIELD_INDEX.get(catalog.fold(text))


class LongAdapter(Adapter):
    """Processed long format: one value per row, ``measurement_type`` names the field."""

    #: long-format column feeding each tag (the rest are same-named optional columns)
    TAG_COLUMNS = {"source": "energy_source"}

    def adapt(self, raw: pl.DataFrame) -> list[Chunk]:
        rows = raw[ROW]
        n = raw.height
        rej = Rejector(self.source, rows)
        ts = self.col(raw, "timestamp")
        assert ts is not None
        utc, tnotes = to_utc_ns(ts)
        _time_rejects(rej, ts, "timestamp", utc)

        mtype_raw = self.col(raw, "measurement_type")
        assert mtype_raw is not None
        field_s = self.mapped("field", mtype_raw, resolve_field)
        rej.reject(as_text(mtype_raw).is_null(), "measurement_type", None,
                   "missing measurement_type")
        known = list(catalog.FIELD_TO_MEASUREMENT)

        def unknown_reason(value: str | None) -> str:
            hint = _suggest(value or "", known)
            return "unknown measurement_type" + (f" (did you mean {hint!r}?)" if hint else "")

        rej.reject_by_value(field_s.is_null(), "measurement_type", mtype_raw, unknown_reason)
        meas_s = field_s.replace_strict(catalog.FIELD_TO_MEASUREMENT, default=None,
                                        return_dtype=pl.Utf8)

        # unit → factor, per distinct (unit, field) pair
        unit_raw = self.col(raw, "unit")
        assert unit_raw is not None
        unit_t = as_text(unit_raw).fill_null("")
        pairs = pl.DataFrame({"u": unit_t, "f": field_s}).unique().drop_nulls("f")
        factors = {
            (u, f): catalog.unit_factor(u, catalog.measurement_for_field(f).field(f).unit)
            for u, f in pairs.iter_rows()
        }
        key = pl.select(pl.concat_str([unit_t, pl.lit("\x00"), field_s])).to_series()
        factor = key.replace_strict(
            {f"{u}\x00{f}": v for (u, f), v in factors.items()}, default=None,
            return_dtype=pl.Float64,
        )
        wrong_unit = field_s.is_not_null() & factor.is_null()
        rej.reject_by_value(
            wrong_unit, "unit", unit_raw,
            lambda u: "unit incompatible with the field's catalog unit"
            + (f" (got {u!r})" if u is not None else " (no unit)"),
        )

        # tags: resolve every tag column once for the whole batch
        resolved: dict[str, pl.Series] = {}
        for tag in sorted({t for m in catalog.MEASUREMENTS.values() for t in m.tags}):
            column = self.TAG_COLUMNS.get(tag, tag)
            src = self.col(raw, column)
            if src is None:
                continue
            res = self.resolve_tag(tag, src)
            resolved[tag] = res
            applies = meas_s.is_in([m.name for m in catalog.MEASUREMENTS.values()
                                    if tag in m.tags]).fill_null(False)
            rej.reject(applies & _unresolved(src, res), column, src, _unmapped(tag))
        if {"from_region", "to_region"} <= set(resolved):  # line from its ends when not given
            derived = pl.select(
                pl.concat_str([resolved["from_region"], pl.lit("_"), resolved["to_region"]])
            ).to_series().alias("line")
            given = resolved.get("line")
            resolved["line"] = derived if given is None else pl.select(
                pl.coalesce(given, derived)).to_series()
        for spec in catalog.MEASUREMENTS.values():
            mine = (meas_s == spec.name).fill_null(False)
            for tag in spec.required_tags:
                tag_s = resolved.get(tag)
                missing = mine if tag_s is None else mine & tag_s.is_null()
                column = self.TAG_COLUMNS.get(tag, tag)
                rej.reject(missing, column, None, f"missing required tag {tag!r}")

        value_raw = self.col(raw, "value")
        assert value_raw is not None
        nums = self.numbers("value", value_raw)
        _value_rejects(rej, nums, value_raw, "value")
        value = nums.values * factor

        chunks: list[Chunk] = []
        present = [m for m in meas_s.filter(rej.alive).unique(maintain_order=True).to_list()
                   if m is not None]
        notes = self.once(tnotes)
        rejects = rej.frame
        for i, mname in enumerate(present):
            spec = catalog.measurement(mname)
            mine = rej.alive & (meas_s == mname).fill_null(False)
            fields_here = [f for f in spec.fields
                           if (mine & (field_s == f).fill_null(False)).any()]
            tags_here = [t for t in spec.tags if t in resolved]
            cols: dict[str, pl.Series] = {ROW: rows.cast(pl.UInt64), TIME: utc}
            cols.update({t: resolved[t] for t in tags_here})
            for f in fields_here:
                sel = pl.select(pl.when(field_s == f).then(value)).to_series()
                cols[f] = cast_field(sel, spec.field(f).type)
            frame = pl.DataFrame(cols).filter(mine)
            r = rejects if i == 0 else empty_rejects()
            chunks.append(Chunk(self.source, mname, frame, tags_here, fields_here, rejects=r,
                                notes=notes if i == 0 else [],
                                source_rows=frame.height + r.height))
        if chunks:
            self.measurement = chunks[0].measurement
        else:
            assert n == rejects.height
            chunks.append(self.empty_chunk(notes, rejects))
        return chunks


class WideAdapter(Adapter):
    """Wide format: a timestamp, tag columns and the fields of one measurement."""

    def default_columns(self, spec: catalog.MeasurementSpec) -> tuple[list[str], list[str]]:
        return list(self.fmt.tags), list(self.fmt.fields)

    def adapt(self, raw: pl.DataFrame) -> list[Chunk]:
        spec = catalog.measurement(self.measurement)
        rows = raw[ROW]
        rej = Rejector(self.source, rows)
        ts = self.col(raw, "timestamp")
        assert ts is not None
        utc, tnotes = to_utc_ns(ts)
        _time_rejects(rej, ts, self.fmt.columns["timestamp"], utc)
        tags: dict[str, pl.Series] = {}
        for tag in self.fmt.tags:
            src = self.col(raw, tag)
            assert src is not None
            res = self.resolve_tag(tag, src)
            column = self.fmt.columns[tag]
            rej.reject(_unresolved(src, res), column, src, _unmapped(tag))
            if tag in spec.required_tags:
                rej.reject(res.is_null(), column, None, f"missing required tag {tag!r}")
            tags[tag] = res
        fields: dict[str, pl.Series] = {}
        any_value = pl.repeat(False, raw.height, dtype=pl.Boolean, eager=True).alias("")
        for f in self.fmt.fields:
            src = self.col(raw, f)
            assert src is not None
            ftype = spec.field(f).type
            column = self.fmt.columns[f]
            if ftype in ("float", "integer"):
                nums = self.numbers(column, src)
                rej.reject(nums.unclear, column, src, nums.unclear_reason)
                rej.reject(nums.bad, column, src, "not a number")
                values = nums.values
                if ftype == "integer":
                    frac = values.is_not_null() & (values != values.floor())
                    rej.reject(frac, column, src, "not an integer")
            elif ftype == "boolean":
                values = _booleans(src)
                rej.reject(values.is_null() & as_text(src).is_not_null(), column, src,
                           "not a boolean")
            else:
                values = as_text(src)
            fields[f] = cast_field(values, ftype).alias(f)
            any_value = any_value | fields[f].is_not_null()
        rej.reject(~any_value, ",".join(self.fmt.columns[f] for f in self.fmt.fields), None,
                   "no field values")
        frame = pl.DataFrame({ROW: rows.cast(pl.UInt64), TIME: utc, **tags, **fields})
        return [self._chunk(spec.name, frame, list(tags), list(fields), rej, self.once(tnotes))]


def _booleans(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Boolean:
        return s
    t = as_text(s).str.to_lowercase()
    return t.replace_strict(
        {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False,
         "0": False, "no": False},
        default=None, return_dtype=pl.Boolean,
    )


def _suggest(name: str, candidates: list[str]) -> str | None:
    return suggest(catalog.fold(name).replace(" ", "_"), candidates)


ADAPTERS: dict[str, type[Adapter]] = {
    "ons_generation": OnsGenerationAdapter,
    "ons_load": OnsLoadAdapter,
    "ons_interchange": OnsInterchangeAdapter,
    "long": LongAdapter,
    "wide": WideAdapter,
}


def make_adapter(fmt: DetectedFormat, source: str) -> Adapter:
    return ADAPTERS[fmt.kind](fmt, source)
