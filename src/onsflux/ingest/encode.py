"""Vectorized InfluxDB line protocol: a polars frame in, one line per row out.

Every line is built by polars string expressions over whole columns; there is no
per-row Python code. The escaping rules are the table below and nothing else.

Rules (checked against the InfluxDB 1.x/2.x parser, ``models/points.go`` and
``pkg/escape``, which Timestream for InfluxDB v2 also runs):

- **measurement**: ``,`` and space are escaped with a backslash;
- **tag keys, tag values, field keys**: ``,``, ``=`` and space are escaped;
- **backslash** in a measurement, tag key or tag value is written *literally*. The 1.x/2.x
  parser decides "escaped" by looking at the previous byte and unescapes only ``\\,``
  ``\\=`` ``\\ `` in tags, never ``\\\\``. So ``a\\b`` is stored as ``a\\b`` and a value
  ``a\\,b`` (backslash then comma) is written ``a\\\\,b`` and read back exactly. Writing
  ``\\\\`` (as some clients do) would be stored doubled by 1.x/2.x. The one case no
  spelling can express is a name or tag value that *ends* in a backslash (the separator
  after it would read as escaped): validation rejects those and the encoder raises
  :class:`EncodeError`. Field keys and the measurement must not contain a backslash at
  all (the parser unescapes ``\\"`` there too); they come from the catalog anyway.
  InfluxDB 3 (Rust parser) may read ``\\\\`` in a tag value as one backslash; a tag value
  containing two consecutive backslashes is the only thing that would differ there;
- **newline / carriage return** cannot appear in a measurement, tag key, tag value or
  field key (no escape exists): validation rejects them; the encoder raises;
- **string field values**: ``\\`` → ``\\\\`` and ``"`` → ``\\"``, wrapped in double
  quotes. A literal newline inside a string field value is allowed (the parser tracks
  quotes when it splits lines) and is written as is;
- **floats**: polars' Float64 → Utf8 cast, which is the shortest text that round-trips
  (``0.30000000000000004``, ``1e-7``, ``1.7976931348623157e+308``, ``5e-324``, ``-0.0``,
  ``14000.0``); Go's ``strconv.ParseFloat`` (what InfluxDB uses) reads all of these back
  to the same double. NaN and ±inf cannot be written → :class:`EncodeError`;
- **integers**: decimal with an ``i`` suffix; **booleans**: ``true`` / ``false``;
- **null tag values and empty tag values** are omitted (an empty tag value is invalid);
  **null fields** are omitted; a row with no non-null field cannot be written →
  :class:`EncodeError` (validation rejects such rows first);
- tags are written sorted by their escaped key bytes (the order InfluxDB stores them in,
  so the server does not need to re-sort); fields are written with the columns that have
  no nulls first, otherwise in the given order (field order carries no meaning); the
  timestamp is integer nanoseconds.

Known limit: the 1.x/2.x line splitter (``scanLine``) skips the byte after *any*
backslash. A tag value holding a backslash right before a space (written as two
backslashes and an escaped space) makes it think the field set started early; that only
matters if a later *string field* contains a literal newline and a tag holds a ``"`` —
the server would then report a parse error (never store wrong data). Catalog fields are
all floats.

Speed: the line is one flat ``concat_str`` on polars' in-memory engine. Not the streaming
engine: it spreads the rows over every core but spends about a third more CPU seconds per
line (morsel scheduling), and CPU per point is what an ingest Lambda is billed for; the
pipeline already overlaps encoding with the writes of the previous chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..catalog import FieldType
from ..exceptions import EncodeError
from ..frames import TIME

# ---------------------------------------------------------------------------------------
# The escaping table: element -> {character: its spelling in line protocol}.
# Applied in one pass per column with ``str.replace_many`` (so order does not matter).
# ---------------------------------------------------------------------------------------
_NAME_ESCAPES: dict[str, str] = {",": "\\,", "=": "\\=", " ": "\\ "}
ESCAPES: dict[str, dict[str, str]] = {
    "measurement": {",": "\\,", " ": "\\ "},
    "tag_key": _NAME_ESCAPES,
    "tag_value": _NAME_ESCAPES,
    "field_key": _NAME_ESCAPES,
    "string_value": {"\\": "\\\\", '"': '\\"'},
}
#: characters that no spelling can express, per element
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "measurement": ("\n", "\r", "\\"),
    "tag_key": ("\n", "\r"),
    "tag_value": ("\n", "\r"),
    "field_key": ("\n", "\r", "\\"),
    "string_value": (),
}
#: elements that must not end with a backslash (it would escape the separator after it).
#: If "\\" is ever added to an element's ESCAPES (server reading "\\\\" as "\\"), drop it here.
NO_TRAILING_BACKSLASH: frozenset[str] = frozenset(
    e for e in ("measurement", "tag_key", "tag_value", "field_key") if "\\" not in ESCAPES[e]
)


def escape(text: str, element: str) -> str:
    """Escape one scalar (a measurement or a key) exactly as the column expressions do."""
    problem = name_problem(text, element)
    if problem:
        raise EncodeError(f"{element} {text!r} cannot be written as line protocol: {problem}")
    table = ESCAPES[element]
    return "".join(table.get(ch, ch) for ch in text)


def name_problem(text: str, element: str) -> str | None:
    """Why ``text`` cannot be written as ``element`` (None when it can)."""
    if text == "":
        return "it is empty"
    for ch in FORBIDDEN[element]:
        if ch in text:
            return f"it contains {CHAR_NAMES.get(ch, repr(ch))}"
    if element in NO_TRAILING_BACKSLASH and text.endswith("\\"):
        return "it ends with a backslash"
    return None


#: how messages (here and in validation) name the characters of ``FORBIDDEN``
CHAR_NAMES = {"\n": "a newline", "\r": "a carriage return", "\\": "a backslash"}


def _escape_expr(expr: pl.Expr, element: str) -> pl.Expr:
    table = ESCAPES[element]
    if not table:
        return expr
    return expr.str.replace_many(list(table), list(table.values()))


def _as_utf8(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    col = pl.col(name)
    return col if dtype == pl.Utf8 else col.cast(pl.Utf8)


def _time_expr(frame: pl.DataFrame) -> pl.Expr:
    dtype = frame.schema[TIME]
    if isinstance(dtype, pl.Datetime):
        return pl.col(TIME).dt.epoch("ns")
    if dtype != pl.Int64:
        return pl.col(TIME).cast(pl.Int64)
    return pl.col(TIME)


def _field_value_expr(frame: pl.DataFrame, name: str, ftype: FieldType) -> pl.Expr:
    col = pl.col(name)
    if ftype == "float":
        if frame.schema[name] != pl.Float64:
            col = col.cast(pl.Float64)
        return col.cast(pl.Utf8)
    if ftype == "integer":
        if frame.schema[name] != pl.Int64:
            col = col.cast(pl.Int64)  # strict: an out-of-range value raises
        return col.cast(pl.Utf8) + pl.lit("i")
    if ftype == "boolean":
        if frame.schema[name] != pl.Boolean:
            col = col.cast(pl.Boolean)
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if ftype == "string":
        return pl.lit('"') + _escape_expr(_as_utf8(frame, name), "string_value") + pl.lit('"')
    raise EncodeError(f"field {name!r}: unknown field type {ftype!r}")


@dataclass(frozen=True)
class _TagStats:
    nullable: bool  # has nulls or empty strings (omitted on those rows)
    has_empty: bool
    needs_escape: bool


def _inspect(
    frame: pl.DataFrame, tags: Sequence[str], fields: Mapping[str, FieldType],
    *, validated: bool = False,
) -> dict[str, _TagStats]:
    """Raise EncodeError if any row cannot be written; say which tags need care.

    Tag checks run on each column's distinct values (tags have few), so they are cheap.
    ``validated``: the frame comes from ``ingest.validate``, which rejected every row
    these checks look for; only what the encoder needs to know of the tags is computed.
    """
    missing = [c for c in (TIME, *tags, *fields) if c not in frame.columns]
    if missing:
        raise EncodeError(
            f"columns missing for encoding: {', '.join(missing)}; "
            f"present: {', '.join(frame.columns)}"
        )
    problems: list[str] = []
    if frame.get_column(TIME).null_count():
        problems.append(f"{frame.get_column(TIME).null_count()} rows with a null time")

    stats: dict[str, _TagStats] = {}
    escape_chars = list(ESCAPES["tag_value"])
    for t in tags:
        col = frame.get_column(t)
        distinct = (col if col.dtype == pl.Utf8 else col.cast(pl.Utf8)).unique().drop_nulls()
        for ch in () if validated else FORBIDDEN["tag_value"]:
            n = int(distinct.str.contains(ch, literal=True).sum())
            if n:
                problems.append(f"tag {t!r}: {n} distinct values with {CHAR_NAMES.get(ch, ch)}")
        if "tag_value" in NO_TRAILING_BACKSLASH and not validated:
            n = int(distinct.str.ends_with("\\").sum())
            if n:
                problems.append(f"tag {t!r}: {n} distinct values ending with a backslash")
        has_empty = bool((distinct == "").any())
        stats[t] = _TagStats(
            nullable=bool(col.null_count()) or has_empty,
            has_empty=has_empty,
            needs_escape=bool(escape_chars) and bool(distinct.str.contains_any(escape_chars).any()),
        )

    if validated:
        return stats
    float_fields = [f for f, ft in fields.items() if ft == "float"]
    if float_fields:
        counts = frame.select(
            [pl.col(f).cast(pl.Float64).is_nan().sum().alias(f"{f} NaN") for f in float_fields]
            + [pl.col(f).cast(pl.Float64).is_infinite().sum().alias(f"{f} infinite")
               for f in float_fields]
        ).row(0, named=True)
        problems += [f"field {name}: {n} rows" for name, n in counts.items() if n]
    if all(frame.get_column(f).null_count() for f in fields):
        n = frame.select(pl.all_horizontal([pl.col(f).is_null() for f in fields]).sum()).item()
        if n:
            problems.append(f"{n} rows without any non-null field")
    if problems:
        raise EncodeError(
            "frame cannot be written as line protocol (validation should have rejected "
            "these rows): " + "; ".join(problems)
        )
    return stats


def encode_lines(
    measurement: str,
    frame: pl.DataFrame,
    tags: Sequence[str],
    fields: Mapping[str, FieldType],
    *,
    validated: bool = False,
    terminated: bool = False,
) -> pl.Series:
    """One line-protocol line (Utf8) per row of ``frame``, in row order.

    ``validated``: ``frame`` passed ``ingest.validate`` (skip the checks it made).
    ``terminated``: each line ends with ``\\n`` (for :class:`Packed`).

    ``frame`` has ``time`` (Int64 UTC ns, or a Datetime), the ``tags`` columns (Utf8;
    null or empty = tag absent on that row) and the ``fields`` columns typed as given;
    other columns are ignored. Raises :class:`EncodeError` if any row cannot be written.

    The line is one flat ``concat_str`` (nulls skipped): a column that may be null on
    some rows contributes one nested ``",key=" + value`` piece that is null there.
    """
    if not fields:
        raise EncodeError("at least one field column is needed")
    meas = escape(measurement, "measurement")
    tag_keys = {t: escape(t, "tag_key") for t in tags}
    field_keys = {f: escape(f, "field_key") for f in fields}
    if len(set(tags)) != len(tags):
        raise EncodeError(f"duplicate tag columns in {list(tags)}")
    if set(tags) & set(fields):
        raise EncodeError(f"columns both tag and field: {sorted(set(tags) & set(fields))}")
    if frame.height == 0:
        return pl.Series("line", [], dtype=pl.Utf8)
    stats = _inspect(frame, tags, fields, validated=validated)

    pieces: list[pl.Expr] = [pl.lit(meas)]
    for t in sorted(tags, key=lambda t: tag_keys[t].encode()):
        st = stats[t]
        value = _as_utf8(frame, t)
        if st.needs_escape:
            value = _escape_expr(value, "tag_value")
        if st.has_empty:
            value = pl.when(value != "").then(value)
        if st.nullable:
            pieces.append(pl.concat_str([pl.lit(f",{tag_keys[t]}="), value]))
        else:
            pieces += [pl.lit(f",{tag_keys[t]}="), value]

    # a field without nulls goes first, so the field set needs no separator logic
    order = sorted(fields, key=lambda f: frame.get_column(f).null_count() > 0)
    first = order[0]
    if frame.get_column(first).null_count() == 0:
        pieces += [pl.lit(f" {field_keys[first]}="), _field_value_expr(frame, first, fields[first])]
        for f in order[1:]:
            value = _field_value_expr(frame, f, fields[f])
            if frame.get_column(f).null_count():
                pieces.append(pl.concat_str([pl.lit(f",{field_keys[f]}="), value]))
            else:
                pieces += [pl.lit(f",{field_keys[f]}="), value]
    else:
        field_set = pl.concat_str(
            [
                pl.concat_str([pl.lit(f"{field_keys[f]}="), _field_value_expr(frame, f, fields[f])])
                for f in order
            ],
            separator=",",
            ignore_nulls=True,
        )
        pieces += [pl.lit(" "), field_set]
    pieces += [pl.lit(" "), _time_expr(frame).cast(pl.Utf8)]
    if terminated:
        pieces.append(pl.lit("\n"))
    return frame.select(pl.concat_str(pieces, ignore_nulls=True).alias("line")).to_series()


def batches(
    lines: pl.Series, max_lines: int, max_bytes: int
) -> Iterator[tuple[int, int, memoryview]]:
    """Cut ``lines`` into write bodies: ``(start, stop, body)`` over half-open row ranges.

    Each body is the UTF-8 lines ``start..stop`` joined by ``\\n`` (no trailing newline),
    with at most ``max_lines`` lines and at most ``max_bytes`` bytes. A single line longer
    than ``max_bytes`` is yielded alone rather than split or dropped (a line cannot be
    split; the server decides — InfluxDB 1.x accepts bodies up to 25 MB by default). With
    the catalog's float fields and the 1 KiB tag-value limit enforced by validation, a
    line stays under ~6 KiB, far below any sensible ``max_bytes``.

    The bodies are zero-copy views of one :class:`Packed` buffer (the ingest's own way of
    cutting), without each body's final newline.
    """
    if max_lines < 1 or max_bytes < 1:
        raise ValueError("max_lines and max_bytes must be positive")
    if len(lines) == 0:
        return
    packed = Packed(lines + "\n")  # a null line stays null: Packed refuses it
    for start, stop in packed.cuts(max_lines, max_bytes + 1):
        yield start, stop, packed.body(start, stop)[:-1]


class Packed:
    """Lines that each end in ``\\n``, in one contiguous buffer with their byte offsets.

    Why: a batch's write body is then a zero-copy slice (``body``), where joining the
    lines of every batch and copying the result into ``bytes`` cost the client about a
    fifth of a CPU-second per million points. The cuts come from the offsets too.
    """

    def __init__(self, lines: pl.Series) -> None:
        if lines.null_count():
            raise EncodeError(f"{lines.null_count()} null lines cannot be written")
        arr = lines.to_arrow()
        if str(arr.type) not in ("large_string", "string", "large_utf8", "utf8"):
            arr = arr.cast("large_string")
        validity, offsets, data = arr.buffers()
        width = np.int64 if str(arr.type).startswith("large") else np.int32
        self.offsets = np.frombuffer(offsets, dtype=width)[arr.offset:arr.offset + len(arr) + 1]
        # unsigned bytes: pyarrow exports signed chars, which compare unequal to bytes
        self.data = memoryview(data).cast("B") if data is not None else memoryview(b"")
        self._arr = arr  # owns the buffers the views point into

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def body(self, start: int, stop: int) -> memoryview:
        """The write body of lines ``start..stop`` (each with its newline), not copied."""
        return self.data[int(self.offsets[start]):int(self.offsets[stop])]

    def lines(self, start: int, stop: int) -> pl.Series:
        """The text of lines ``start..stop`` without newlines (to name a refused line)."""
        text = bytes(self.body(start, stop)).decode()
        return pl.Series("line", text.split("\n")[: stop - start], dtype=pl.Utf8)

    def cuts(self, max_lines: int, max_bytes: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` ranges of at most ``max_lines`` lines and ``max_bytes`` bytes
        (a single longer line goes alone, never split or dropped)."""
        if max_lines < 1 or max_bytes < 1:
            raise ValueError("max_lines and max_bytes must be positive")
        n, start = len(self), 0
        while start < n:
            by_bytes = int(np.searchsorted(self.offsets, self.offsets[start] + max_bytes,
                                           side="right")) - 1
            stop = min(by_bytes, start + max_lines, n)
            if stop <= start:
                stop = start + 1
            yield start, stop
            start = stop
