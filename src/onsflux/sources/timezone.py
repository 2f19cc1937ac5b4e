"""Timestamps of every input format → UTC nanoseconds (pure, vectorized, no I/O).

Two families:

- **ONS local time** (``din_instante``): America/Sao_Paulo wall-clock time marking the
  start of the hour. Brazil observed daylight saving time until February 2019, so:

  * the spring-forward hour (e.g. local 2017-10-15 00:00, clocks jumped to 01:00) does
    not exist: such a row cannot be a real instant and is **rejected** with reason
    ``non-existent local time (DST gap)``;
  * the fall-back hour (e.g. local 2018-02-17 23:00 happened twice, first at UTC-2,
    then at UTC-3) is **ambiguous**: within one series (same tag values) the first
    occurrence in file order is the earlier (daylight, UTC-2) instant and the second
    the later (standard, UTC-3) one. A time seen once gets the earlier instant; a third
    occurrence is a duplicate and is rejected. :class:`AmbiguityTracker` carries the
    occurrences across the chunks of one file, so the rule holds when the two rows fall
    in different chunks.

- **processed / wide ``timestamp``** (:func:`to_utc_ns`): ISO strings with an offset or
  ``Z`` are converted to UTC; naive strings and naive Parquet timestamps are taken as
  UTC already (the processed contract writes UTC); tz-aware Parquet timestamps are
  converted; dates mean midnight UTC; integer (or integral float) epochs get their unit
  from the column's largest magnitude: < 1e11 seconds, < 1e14 milliseconds,
  < 1e17 microseconds, otherwise nanoseconds (so every instant between 1973 and 5138
  is read right in any unit; one unit per column, never per value).

Date strings accepted (after trimming): ``YYYY-MM-DD[ T]HH:MM[:SS[.fff]]``,
``YYYY-MM-DD``, ``DD/MM/YYYY[ HH:MM[:SS]]`` (day first, Brazilian order),
``YYYY/MM/DD[ HH:MM[:SS]]``. Anything else is null and the adapter rejects the row
with the original text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

SAO_PAULO = "America/Sao_Paulo"

NON_EXISTENT_REASON = "non-existent local time (DST gap)"
DUPLICATE_AMBIGUOUS_REASON = "local time repeated more than twice in its series (DST fall-back)"

_ISO_DATE_SEP = r"^(\d{4}-\d{1,2}-\d{1,2})[ T]+"
_OFFSET_SUFFIX = r"T\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"

# tried in order; each only on the values still unparsed
_NAIVE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)
_OFFSET_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"


def _normalize_text(values: pl.Series) -> pl.Series:
    """Trimmed text with ISO date and time joined by a single ``T``; '' → null."""
    text = values.cast(pl.Utf8).str.strip_chars()
    text = text.str.replace(_ISO_DATE_SEP, "${1}T")
    # "2024-01-01T00:00:00 +02:00" → no space before the offset
    text = text.str.replace(r"\s+([+-]\d{2}:?\d{2})$", "${1}")
    return pl.select(pl.when(text.str.len_chars() > 0).then(text)).to_series().alias(values.name)


def _parse_naive_text(text: pl.Series) -> pl.Series:
    """Datetime[ns] (naive) from normalized text, null where no format matches."""
    out = pl.repeat(None, len(text), dtype=pl.Datetime("ns"), eager=True).alias(text.name)
    todo = text.is_not_null()
    for fmt in _NAIVE_FORMATS:
        if not todo.any():
            break
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="ns", exact=True)
        out = pl.select(pl.when(todo).then(parsed).otherwise(out)).to_series()
        todo = todo & parsed.is_null()
    return out.alias(text.name)


def parse_naive(values: pl.Series) -> pl.Series:
    """Wall-clock ``Datetime('ns')`` without time zone from text or naive datetimes.

    Tz-aware datetimes are returned unchanged (already instants). Unparseable → null.
    """
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        return values.cast(pl.Datetime("ns", dtype.time_zone))
    if dtype == pl.Date:
        return values.cast(pl.Datetime("ns"))
    return on_distinct(
        values.cast(pl.Utf8, strict=False), lambda t: _parse_naive_text(_normalize_text(t))
    )


def on_distinct(values: pl.Series, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fn(values)`` computed once per distinct value when values repeat a lot.

    ONS files repeat each ``din_instante`` once per plant, so parsing the distinct
    texts and joining back is several times cheaper than parsing every row.
    """
    distinct = values.unique()
    if len(distinct) * 4 > len(values):
        return fn(values)
    mapped = fn(distinct)
    joined = pl.DataFrame({"k": values}).join(
        pl.DataFrame({"k": distinct, "v": mapped}), on="k", how="left",
        maintain_order="left", nulls_equal=True,
    )
    return joined["v"].alias(values.name)


def epoch_unit(values: pl.Series) -> str:
    """Unit of an integer epoch column guessed from its largest magnitude."""
    biggest = values.abs().max()
    magnitude = float(biggest) if biggest is not None else 0.0  # type: ignore[arg-type]
    if magnitude < 1e11:
        return "s"
    if magnitude < 1e14:
        return "ms"
    if magnitude < 1e17:
        return "us"
    return "ns"


_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def to_utc_ns(values: pl.Series) -> tuple[pl.Series, list[str]]:
    """UTC nanoseconds (Int64, null where unparseable) for a processed/wide timestamp.

    Returns the values and notes (the epoch unit guessed, naive times taken as UTC).
    """
    notes: list[str] = []
    dtype = values.dtype
    name = values.name
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            out = values.dt.epoch("ns")
        else:
            out = values.dt.convert_time_zone("UTC").dt.epoch("ns")
        return out.cast(pl.Int64).alias(name), notes
    if dtype == pl.Date:
        return values.cast(pl.Datetime("ns")).dt.epoch("ns").cast(pl.Int64).alias(name), notes
    if dtype.is_integer() or dtype.is_float():
        numeric = values.cast(pl.Float64) if dtype.is_float() else values.cast(pl.Int64)
        if dtype.is_float():
            integral = numeric.is_finite() & (numeric == numeric.floor())
            numeric = pl.select(pl.when(integral).then(numeric)).to_series()
        unit = epoch_unit(numeric.drop_nulls())
        notes.append(f"integer epoch timestamps read as {unit} (guessed from magnitude)")
        if unit == "ns":
            out = numeric.cast(pl.Int64)
        elif dtype.is_integer():  # exact integer arithmetic, no float round trip
            out = numeric * _UNIT_NS[unit]
        else:
            out = (numeric * _UNIT_NS[unit]).round(0).cast(pl.Int64)
        return out.alias(name), notes

    # text: parsed once per distinct value (files repeat each time once per plant)
    out = on_distinct(values.cast(pl.Utf8, strict=False),
                      lambda t: _text_to_utc_ns(t, notes))
    return out.cast(pl.Int64).alias(name), notes


def _text_to_utc_ns(values: pl.Series, notes: list[str]) -> pl.Series:
    """``to_utc_ns`` of text values (notes appended to ``notes``)."""
    text = _normalize_text(values)
    has_offset = text.str.contains(_OFFSET_SUFFIX).fill_null(False)
    with_offset = (
        text.str.replace(r"[zZ]$", "+00:00")
        .str.to_datetime(_OFFSET_FORMAT, strict=False, time_unit="ns", time_zone="UTC")
        .dt.epoch("ns")
    )
    naive = _parse_naive_text(pl.select(pl.when(~has_offset).then(text)).to_series())
    if naive.is_not_null().any():
        notes.append("timestamps without offset taken as UTC")
    # digits-only text: an epoch written as a string
    digits = text.str.contains(r"^-?\d{9,19}$").fill_null(False)
    epoch_out = None
    if digits.any():
        as_int = pl.select(pl.when(digits).then(text)).to_series().cast(pl.Int64, strict=False)
        unit = epoch_unit(as_int.drop_nulls())
        notes.append(f"integer epoch timestamps read as {unit} (guessed from magnitude)")
        epoch_out = as_int * _UNIT_NS[unit]
    out = pl.select(
        pl.when(has_offset).then(with_offset).otherwise(naive.dt.epoch("ns"))
    ).to_series()
    if epoch_out is not None:
        out = pl.select(pl.when(digits).then(epoch_out).otherwise(out)).to_series()
    return out.cast(pl.Int64).alias(values.name)


@dataclass
class AmbiguityTracker:
    """Occurrences of ambiguous local times per series, across the chunks of one file."""

    seen: dict[tuple[object, ...], int] = field(default_factory=dict)


@dataclass
class LocalizeResult:
    utc_ns: pl.Series  #: Int64, null where unparseable, non-existent or duplicate
    unparseable: pl.Series  #: Boolean: text that is not a date
    non_existent: pl.Series  #: Boolean: inside a DST gap
    duplicate: pl.Series  #: Boolean: a third occurrence of an ambiguous time in its series
    notes: list[str] = field(default_factory=list)


def localize(
    values: pl.Series,
    keys: pl.DataFrame | None = None,
    *,
    tracker: AmbiguityTracker | None = None,
    time_zone: str = SAO_PAULO,
) -> LocalizeResult:
    """UTC ns for wall-clock ``values`` in ``time_zone`` (ONS ``din_instante``).

    ``keys`` (same height) identifies the series each row belongs to, for resolving the
    repeated fall-back hour by order of appearance; ``tracker`` keeps that order across
    chunks. Already tz-aware datetimes are converted directly.
    """
    n = len(values)
    false = pl.repeat(False, n, dtype=pl.Boolean, eager=True).alias("")
    local = parse_naive(values)
    dtype = local.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        utc = local.dt.convert_time_zone("UTC").dt.epoch("ns").cast(pl.Int64)
        return LocalizeResult(utc, local.is_null() & values.is_not_null(), false, false)

    unparseable = local.is_null() & _present(values)
    earliest = local.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
    latest = local.dt.replace_time_zone(time_zone, ambiguous="latest", non_existent="null")
    e_ns = earliest.dt.epoch("ns").cast(pl.Int64)
    l_ns = latest.dt.epoch("ns").cast(pl.Int64)
    non_existent = (local.is_not_null() & e_ns.is_null()).alias("non_existent")
    ambiguous = (e_ns != l_ns).fill_null(False)
    utc = e_ns
    duplicate = false
    notes: list[str] = []
    n_amb = int(ambiguous.sum())
    if n_amb:
        tracker = tracker if tracker is not None else AmbiguityTracker()
        utc, duplicate, notes = _resolve_ambiguous(
            local, e_ns, l_ns, ambiguous, keys, tracker
        )
    n_gap = int(non_existent.sum())
    if n_gap:
        notes.append(f"{n_gap} row(s) at a non-existent local time (DST gap) rejected")
    return LocalizeResult(utc.alias(values.name), unparseable, non_existent, duplicate, notes)


def _present(values: pl.Series) -> pl.Series:
    if values.dtype == pl.Utf8:
        return values.str.strip_chars().str.len_chars().fill_null(0) > 0
    return values.is_not_null()


def _resolve_ambiguous(
    local: pl.Series,
    e_ns: pl.Series,
    l_ns: pl.Series,
    ambiguous: pl.Series,
    keys: pl.DataFrame | None,
    tracker: AmbiguityTracker,
) -> tuple[pl.Series, pl.Series, list[str]]:
    """Order-of-appearance resolution of the (few) rows in a fall-back hour."""
    idx = ambiguous.arg_true()
    key_cols: Sequence[str] = list(keys.columns) if keys is not None else []
    sub = pl.DataFrame({"__i": idx, "__t": local.gather(idx).dt.epoch("ns")})
    if keys is not None:
        sub = pl.concat([sub, keys[idx]], how="horizontal")
    group = ["__t", *key_cols]
    sub = sub.with_columns(
        pl.int_range(pl.len()).over(group).alias("__k"),
        pl.len().over(group).alias("__n"),
    )
    occurrence: list[int] = []
    single = 0
    for row in sub.iter_rows(named=True):
        key = tuple(row[c] for c in group)
        before = tracker.seen.get(key, 0)
        occurrence.append(before + row["__k"])
        if before == 0 and row["__n"] == 1:
            single += 1
    counts = sub.group_by(group, maintain_order=True).agg(pl.len().alias("__c"))
    for values in counts.select([*group, "__c"]).iter_rows():
        tup = tuple(values[:-1])
        tracker.seen[tup] = tracker.seen.get(tup, 0) + int(values[-1])
    occ = pl.Series("occ", occurrence, dtype=pl.Int64)
    chosen = pl.select(
        pl.when(occ == 0).then(e_ns.gather(idx)).when(occ == 1).then(l_ns.gather(idx))
    ).to_series()
    n = len(local)
    full_occ = pl.repeat(None, n, dtype=pl.Int64, eager=True).alias("").scatter(idx, occ)
    full_choice = pl.repeat(None, n, dtype=pl.Int64, eager=True).alias("").scatter(idx, chosen)
    utc = pl.select(pl.when(ambiguous).then(full_choice).otherwise(e_ns)).to_series()
    duplicate = (full_occ >= 2).fill_null(False)
    resolved = int(((occ == 0) | (occ == 1)).sum())
    notes = [
        f"{resolved} ambiguous local time(s) (DST fall-back) resolved by file order: "
        "1st occurrence in a series → earlier (daylight-saving) instant, "
        "2nd → later (standard) instant"
    ]
    if single:
        notes.append(
            f"{single} ambiguous local time(s) appeared once in their series so far: "
            "assigned the earlier (daylight-saving) instant"
        )
    n_dup = int(duplicate.sum())
    if n_dup:
        notes.append(f"{n_dup} row(s) repeat an ambiguous local time a third time: rejected")
    return utc, duplicate, notes
