"""Rows per window → what the question asked for: calendar buckets, day filters, reductions,
growth rankings, and which buckets are partial. Pure: no I/O.

The query engine windows by fixed durations (``every``); the words of a question ask for
more: calendar months ("mês a mês"), a peak per day of hourly sums ("pico diário" of
several plants), only weekends or weekdays ("nos fins de semana"), the source that grew
most. The parser asks for the finest windows it needs and names the steps (``postprocess``);
this module applies them to the rows, per series (one series per tag set):

- ``days:weekend`` / ``days:weekday``: keep the rows whose window starts on a Saturday or
  Sunday (or Monday–Friday) in Brasília time;
- ``bucket:<day|week|month>:<sum|mean|max|min>``: merge rows into local calendar days,
  Monday weeks or months; ``max``/``min`` keep the time of the extreme row;
- ``reduce:<sum|mean|max|min|last>``: one row per series for the whole period;
- ``growth:<top|bottom>:N``: per series, the last *whole* bucket minus the first one, then
  the N largest (or smallest) changes;
- ``rank:<top|bottom>:N``: the N largest (or smallest) rows.

Partial buckets. A bucket is *partial* when its window is not wholly inside the asked
period (a rolling "últimos 7 dias" starts mid-day; "este mês" ends now), or when it holds
fewer samples than the series' whole buckets do (the data ends, or starts, inside it).
Partial buckets are shown, marked, and kept out of the maximum, minimum and mean of the
buckets and out of growth comparisons (the answer says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..query.result import Row
from ..query.spec import QuerySpec
from .timeexpr import LOCAL

__all__ = ["STEP_PREFIXES", "apply_step", "apply_steps", "bucket_window", "calendar_start",
           "partial_keys", "series_key"]

STEP_PREFIXES = ("days:", "bucket:", "reduce:", "growth:", "rank:")
NS = 1_000_000_000
SeriesKey = tuple[tuple[str, str], ...]


def series_key(row: Row) -> SeriesKey:
    return tuple(sorted(row.tags.items()))


def _local(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / NS, UTC).astimezone(LOCAL)


def _ns(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=LOCAL).timestamp()) * NS


def calendar_start(ns: int, unit: str) -> int:
    """Start (ns) of the local calendar day, Monday week or month holding ``ns``."""
    return _ns(_calendar_start(ns, unit))


def _calendar_start(ns: int, unit: str) -> date:
    d = _local(ns).date()
    if unit == "week":
        return d - timedelta(days=d.weekday())
    if unit == "month":
        return d.replace(day=1)
    return d


def _calendar_next(d: date, unit: str) -> date:
    if unit == "day":
        return d + timedelta(days=1)
    if unit == "week":
        return d + timedelta(days=7)
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _combine(values: Sequence[Row], how: str) -> Row:
    vals = [r for r in values if r.value is not None and not math.isnan(r.value)]
    first = values[0]
    if not vals:
        return Row(first.time_ns, first.measurement, first.field, None, first.tags)
    if how in ("max", "min"):
        pick = (max if how == "max" else min)(vals, key=lambda r: r.value or 0.0)
        return pick
    if how == "last":
        return max(vals, key=lambda r: r.time_ns)
    if how == "first":
        return min(vals, key=lambda r: r.time_ns)
    total = sum(r.value or 0.0 for r in vals)
    value = total / len(vals) if how == "mean" else total
    return Row(first.time_ns, first.measurement, first.field, value, first.tags)


def _by_series(rows: Iterable[Row]) -> dict[SeriesKey, list[Row]]:
    out: dict[SeriesKey, list[Row]] = {}
    for r in sorted(rows, key=lambda r: r.time_ns):
        out.setdefault(series_key(r), []).append(r)
    return out


def bucket_window(row_ns: int, spec: QuerySpec, unit: str | None) -> tuple[int, int]:
    """``[start, stop)`` of the bucket a row stands for: a calendar unit, or ``every``."""
    every = spec.every_ns or 0
    if unit is None and every in (86_400 * NS, 7 * 86_400 * NS):  # windows from local midnight
        unit = "day" if every == 86_400 * NS else "week"
    if unit is not None:
        d = _calendar_start(row_ns, unit)
        return _ns(d), _ns(_calendar_next(d, unit))
    start = row_ns - row_ns % every if every else row_ns  # a row may carry its extreme's time
    return start, start + every


def _rank(rows: list[Row], direction: str, n: int) -> list[Row]:
    kept = [r for r in rows if r.value is not None]
    kept.sort(key=lambda r: r.value or 0.0, reverse=direction == "top")
    return kept[:n]


def apply_step(step: str, rows: list[Row], spec: QuerySpec, steps: Sequence[str] = ()) -> list[Row]:
    """Apply one postprocess step (see the module docstring) to ``rows``; ``steps`` is the
    whole list (growth needs to know the bucket unit)."""
    kind, _, arg = step.partition(":")
    if kind == "days":
        weekend = arg == "weekend"
        return [r for r in rows if (_local(r.time_ns).weekday() >= 5) == weekend]
    if kind == "bucket":
        cal, _, how = arg.partition(":")
        out: list[Row] = []
        for values in _by_series(rows).values():
            groups: dict[date, list[Row]] = {}
            for r in values:
                groups.setdefault(_calendar_start(r.time_ns, cal), []).append(r)
            for d, members in sorted(groups.items()):
                merged = _combine(members, how)
                if how not in ("max", "min"):
                    merged = Row(_ns(d), merged.measurement, merged.field, merged.value,
                                 merged.tags)
                out.append(merged)
        return out
    if kind == "reduce":
        return [_combine(values, arg) for values in _by_series(rows).values()]
    if kind == "rank":
        direction, _, n = arg.partition(":")
        return _rank(rows, direction, int(n))
    if kind == "growth":
        direction, _, n = arg.partition(":")
        month: str | None = "month" if any(p.startswith("bucket:month") for p in steps) else None
        changes = []
        for values in _by_series(rows).values():
            whole = [r for r in values if r.value is not None
                     and _inside(bucket_window(r.time_ns, spec, month), spec)]
            if len(whole) < 2:
                continue
            a, b = whole[0], whole[-1]
            changes.append(Row(b.time_ns, b.measurement, b.field,
                               (b.value or 0.0) - (a.value or 0.0), b.tags))
        return _rank(changes, direction, int(n))
    raise ValueError(f"unknown postprocess step {step!r}")


def apply_steps(steps: Sequence[str], rows: list[Row], spec: QuerySpec) -> list[Row]:
    """Apply every step of ours in ``steps`` in order (others are left to the caller)."""
    for step in steps:
        if step.startswith(STEP_PREFIXES):
            rows = apply_step(step, rows, spec, steps)
    return rows


def _inside(window: tuple[int, int], spec: QuerySpec) -> bool:
    return spec.start_ns <= window[0] and window[1] <= spec.stop_ns


def partial_keys(rows: Sequence[Row], spec: QuerySpec, steps: Sequence[str],
                 counts: Sequence[Row] | None = None) -> set[tuple[Any, ...]]:
    """Keys (:meth:`Row.key`) of the rows whose bucket is partial.

    ``counts``: the same query with ``count`` as the aggregate (per window, per series),
    when the caller ran it; buckets with fewer samples per hour than the series' best whole
    bucket are partial (the data starts or ends inside them).
    """
    unit = next((p.split(":")[1] for p in steps if p.startswith("bucket:")), None)
    partial: set[tuple[Any, ...]] = set()
    for r in rows:
        if not _inside(bucket_window(r.time_ns, spec, unit), spec):
            partial.add(r.key())
    if not counts:
        return partial
    count_rows = list(counts)
    if unit is not None:
        count_rows = apply_step(f"bucket:{unit}:sum", [c for c in count_rows if c.value], spec)
    rate: dict[tuple[SeriesKey, int], float] = {}
    best: dict[SeriesKey, float] = {}
    for c in count_rows:
        a, b = bucket_window(c.time_ns, spec, unit)
        hours = (b - a) / (3600 * NS)
        if hours <= 0 or c.value is None:
            continue
        start = _bucket_start(c.time_ns, unit, spec)
        per_hour = c.value / hours
        rate[(series_key(c), start)] = per_hour
        if _inside((a, b), spec):
            best[series_key(c)] = max(best.get(series_key(c), 0.0), per_hour)
    only = next(iter(best)) if len(best) == 1 else None  # one count series for every row
    for r in rows:                                          # (the SIN summed from subsystems)
        k = series_key(r) if only is None else only
        got = rate.get((k, _bucket_start(r.time_ns, unit, spec)))
        if got is not None and k in best and got < best[k] * 0.999:
            partial.add(r.key())
    return partial


def _bucket_start(ns: int, unit: str | None, spec: QuerySpec | None = None) -> int:
    if spec is not None:
        return bucket_window(ns, spec, unit)[0]
    return ns if unit is None else _ns(_calendar_start(ns, unit))
