"""Which input format a file is, from its column names alone (pure).

Names are compared trimmed and case-insensitively (a UTF-8 BOM and surrounding quotes
are ignored). Formats, tried in this order:

- ``ons_interchange``: ``din_instante, id_subsistema_origem, id_subsistema_destino,
  val_intercambiomwmed`` (+ the ``nom_*`` names) → ``transmission_data``;
- ``ons_generation``: ``din_instante, id_subsistema, nom_tipousina, nom_usina,
  val_geracao`` (+ ``id_estado, id_ons`` used when present, the rest ignored) →
  ``generation_data``;
- ``ons_load``: ``id_subsistema, din_instante, val_cargaenergiahomwmed`` →
  ``consumption_data``;
- ``long`` (processed platform contract): ``timestamp, region, energy_source,
  measurement_type, value, unit`` + optional tag columns → one measurement per
  ``measurement_type``, decided row by row;
- ``wide``: ``timestamp`` (or ``time``), tag and field columns of exactly one
  measurement. Every column must be known: an unknown one is most likely a misspelled
  field, so it is an error with the closest known name suggested.

Anything else raises :class:`SchemaError` naming the closest format, what it misses,
and for each unknown column the closest known name (``difflib``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .. import catalog
from ..catalog import ONS_GENERATION_COLUMNS, ONS_INTERCHANGE_COLUMNS, ONS_LOAD_COLUMNS
from ..exceptions import SchemaError

FormatKind = Literal["ons_generation", "ons_load", "ons_interchange", "long", "wide"]

LONG_REQUIRED = ("timestamp", "region", "energy_source", "measurement_type", "value", "unit")
LONG_OPTIONAL = ("plant", "sector", "line", "voltage", "from_region", "to_region", "state",
                 "plant_id", "plant_name")
WIDE_TIME_COLUMNS = ("timestamp", "time")
#: wide-format column names accepted for a tag (alias → tag)
WIDE_TAG_ALIASES = {"energy_source": "source"}


@dataclass(frozen=True)
class _Shape:
    kind: FormatKind
    label: str
    required: tuple[str, ...]
    used: tuple[str, ...]  # optional columns read when present
    known: tuple[str, ...]  # every column name the format may carry
    measurement: str | None


_SHAPES: tuple[_Shape, ...] = (
    _Shape("ons_interchange", "ONS interchange",
           ("din_instante", "id_subsistema_origem", "id_subsistema_destino",
            "val_intercambiomwmed"),
           ("nom_subsistema_origem", "nom_subsistema_destino"),
           ONS_INTERCHANGE_COLUMNS, "transmission_data"),
    _Shape("ons_generation", "ONS generation",
           ("din_instante", "id_subsistema", "nom_tipousina", "nom_usina", "val_geracao"),
           ("id_estado", "id_ons", "nom_subsistema"),
           ONS_GENERATION_COLUMNS, "generation_data"),
    _Shape("ons_load", "ONS load",
           ("id_subsistema", "din_instante", "val_cargaenergiahomwmed"),
           ("nom_subsistema",),
           ONS_LOAD_COLUMNS, "consumption_data"),
    _Shape("long", "processed long", LONG_REQUIRED, LONG_OPTIONAL,
           LONG_REQUIRED + LONG_OPTIONAL, None),
)


@dataclass(frozen=True)
class DetectedFormat:
    """What :func:`detect_format` found.

    ``columns`` maps each canonical column name the adapter needs to the file's
    original (untrimmed, any case) name; ``ignored`` lists file columns not used.
    """

    kind: FormatKind
    measurement: str | None
    columns: Mapping[str, str]
    time_column: str
    tags: tuple[str, ...] = ()  # wide: tag columns present (canonical tag names)
    fields: tuple[str, ...] = ()  # wide: field columns present
    ignored: tuple[str, ...] = ()
    unknown: tuple[str, ...] = field(default=())  # long/ONS: columns no format knows

    @property
    def source_columns(self) -> list[str]:
        """Original names to read from the file (projection)."""
        return list(dict.fromkeys(self.columns.values()))


#: how many names an error or note lists before "… and N more"
NAMES_SHOWN = 10


def name_list(names: Sequence[str], limit: int = NAMES_SHOWN, *, quote: bool = False) -> str:
    """``a, b, c … and 9,990 more``: a message about 10,000 columns stays one short line."""
    shown = [repr(n) if quote else str(n) for n in names[:limit]]
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" … and {rest:,} more" if rest > 0 else "")


def normalize_name(name: str) -> str:
    return name.replace("\ufeff", "").strip().strip('"').strip("'").strip().lower()


def _all_known_names() -> list[str]:
    names: set[str] = set(WIDE_TIME_COLUMNS) | set(WIDE_TAG_ALIASES)
    for shape in _SHAPES:
        names.update(shape.known)
    for m in catalog.MEASUREMENTS.values():
        names.update(m.tags)
        names.update(m.fields)
    return sorted(names)


def suggest(name: str, candidates: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def _short(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[:limit] + f"… ({len(name):,} characters)"


def _check_separator(original: Sequence[str], normalized: Sequence[str]) -> None:
    for sep, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
        offenders = [o for o, n in zip(original, normalized, strict=True) if sep in n]
        if offenders and (len(original) == 1 or sep != ","):
            raise SchemaError(
                f"column name {_short(offenders[0])!r} looks like {label}-separated: the file was "
                f"read with the wrong separator (or a {label}-separated CSV was converted "
                "to a single column)"
            )


def detect_format(columns: Sequence[str]) -> DetectedFormat:
    """The format of a file with these column names, or :class:`SchemaError`."""
    original = list(columns)
    normalized = [normalize_name(c) for c in original]
    if not original:
        raise SchemaError("no columns")
    _check_separator(original, normalized)
    by_name: dict[str, str] = {}
    for orig, norm in zip(original, normalized, strict=True):
        if norm in by_name:
            raise SchemaError(
                f"duplicate column {norm!r} ({by_name[norm]!r} and {orig!r} after trimming "
                "and lower-casing)"
            )
        by_name[norm] = orig

    for shape in _SHAPES:
        if all(c in by_name for c in shape.required):
            wanted = [c for c in (*shape.required, *shape.used) if c in by_name]
            mapping = {c: by_name[c] for c in wanted}
            ignored = tuple(by_name[c] for c in by_name if c not in mapping)
            unknown = tuple(
                by_name[c] for c in by_name if c not in shape.known
            )
            time_col = "din_instante" if shape.kind.startswith("ons_") else "timestamp"
            return DetectedFormat(
                shape.kind, shape.measurement, mapping, time_col, ignored=ignored,
                unknown=unknown,
            )

    wide = _detect_wide(by_name)
    if wide is not None:
        return wide
    raise _no_format_error(by_name)


def _detect_wide(by_name: dict[str, str]) -> DetectedFormat | None:
    time_col = next((c for c in WIDE_TIME_COLUMNS if c in by_name), None)
    present_fields = [c for c in by_name if c in catalog.FIELD_TO_MEASUREMENT]
    if time_col is None or not present_fields:
        return None
    measurements = sorted({catalog.FIELD_TO_MEASUREMENT[f] for f in present_fields})
    if len(measurements) > 1:
        per = {m: [f for f in present_fields if catalog.FIELD_TO_MEASUREMENT[f] == m]
               for m in measurements}
        detail = "; ".join(f"{m}: {', '.join(fs)}" for m, fs in per.items())
        raise SchemaError(
            f"wide format with fields of several measurements ({detail}): "
            "write one file per measurement"
        )
    spec = catalog.measurement(measurements[0])
    mapping: dict[str, str] = {"timestamp": by_name[time_col]}
    tags: list[str] = []
    unknown: list[str] = []
    for norm, orig in by_name.items():
        if norm == time_col or norm in present_fields:
            continue
        tag = WIDE_TAG_ALIASES.get(norm, norm)
        if tag in spec.tags and tag not in tags:
            tags.append(tag)
            mapping[tag] = orig
        else:
            unknown.append(orig)
    if unknown:
        known = [*spec.tags, *spec.fields, *WIDE_TIME_COLUMNS, *WIDE_TAG_ALIASES]
        parts = []
        for orig in unknown[:NAMES_SHOWN]:
            hint = suggest(normalize_name(orig), known)
            parts.append(f"{orig!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        parts += [""] * (len(unknown) - len(parts))  # counted, not shown
        raise SchemaError(
            f"{len(unknown):,} unknown column(s) for wide {spec.name}: {name_list(parts)}; "
            f"known tags: {', '.join(spec.tags)}; fields: {', '.join(spec.fields)}"
        )
    missing_tags = [t for t in spec.required_tags if t not in tags]
    if missing_tags:
        raise SchemaError(
            f"wide {spec.name} file lacks required tag column(s): {', '.join(missing_tags)}"
        )
    for f in present_fields:
        mapping[f] = by_name[f]
    return DetectedFormat(
        "wide", spec.name, mapping, "timestamp", tags=tuple(tags), fields=tuple(present_fields)
    )


def _no_format_error(by_name: dict[str, str]) -> SchemaError:
    names = set(by_name)
    # the closest format: most required columns present
    best = max(_SHAPES, key=lambda s: sum(c in names for c in s.required) / len(s.required))
    score = sum(c in names for c in best.required)
    known = _all_known_names()
    unknown = [n for n in by_name if n not in known]
    hints: list[str] = []
    for n in unknown:
        if len(hints) >= NAMES_SHOWN:
            break
        hint = suggest(n, known)
        if hint:
            hints.append(f"{by_name[n]!r} → did you mean {hint!r}?")
    msg = "columns do not match any known input format"
    if score:
        missing = [c for c in best.required if c not in names]
        msg += f"; closest is {best.label} format, which lacks: {', '.join(missing)}"
    else:
        msg += (
            " (ONS generation/load/interchange, processed long "
            "timestamp/region/energy_source/measurement_type/value/unit, or wide "
            "timestamp + tag + field columns)"
        )
    if hints:
        msg += "; " + "; ".join(hints)
    msg += f"; {len(by_name):,} columns found: {name_list(list(by_name.values()))}"
    return SchemaError(msg)
