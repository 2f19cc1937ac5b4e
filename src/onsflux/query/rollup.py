"""Rollups (hourly per region and source, daily per plant) and the planner that answers a
spec from them when exactly equivalent.

Why: a 30-day trend over 550 plants scans 396k raw points; the same answer from an
hourly rollup per (region, source) reads 4 x 5 x 720 = 14.4k rows, and a 30-day mean per
plant from a daily rollup per (region, source, plant) reads 550 x 30 = 16.5k. An hourly
rollup per plant would be as big as the raw data (ONS publishes hourly per plant), so
per-plant questions get a daily one. Pure: no I/O here; the rollups are computed by the
server or the ingest (``influx/rollup.py``) and kept by ingest, migration and rollback.

A rollup row per (period, tags) holds, for every rolled field ``f``: ``f_sum``,
``f_count``, ``f_min``, ``f_max``. From those, over whole periods:

- ``sum`` = Σ f_sum, ``count`` = Σ f_count, ``min`` = min f_min, ``max`` = max f_max;
- ``mean`` = Σ f_sum / Σ f_count (the mean of all raw samples, not a mean of means);
- ``energy`` = Σ f_sum x the sample interval in hours.

A rollup can answer a spec (``why_not``) when: the aggregate is one of those; no
top/bottom; fields, filters and groups only on what it keeps; windows (size and offset)
whole periods; fill ``none`` or ``null``; and ``min``/``max`` only with windows (without
one, InfluxQL returns the raw sample's time, which a rollup does not keep).

``plans`` lists the plans that can, cheapest first (per region and hour: 24 x 4 rows a
day; per region, source and hour: at most 24 x 20; per plant and day: hundreds):

- a period made of whole periods of the rollup reads it alone (one InfluxQL statement
  recombining the statistics on the server; or, when each rollup row is one row of the
  answer — windows of the rollup's period, grouped by all its tags, fill none — a plain
  select of the rows, several times cheaper than 1.6's windowed aggregation);
- otherwise, *widened*: the rollup over the whole periods holding the spec's period, one
  statement, exact only when the raw series holds no point (of the spec's filters)
  between those bounds and the spec's (``Plan.gaps``; the executor counts them first).
  That is the usual "last 30 days up to now": nothing after now, and often nothing
  before the first ingested hour;
- otherwise, *split*: the whole periods inside from the rollup and the ends from the raw
  series, several statements in one request whose statistics ``combine`` adds up (fill
  ``none`` only: a filled window would need every part to agree on it).

A period with no whole period of the rollup inside is not planned. Sums may differ from
the raw ones in the last bits (floating-point addition in another order); every other
aggregate is bit-identical.

Where: each rollup lives in the raw series' database under its own retention policy
``onsflux_rollups`` with 52-week shard groups. InfluxDB 1.x pays per series and shard a
query touches, far more than per point: 30 days of a per-plant rollup in the default
policy's 7-day shards cost about as much as the raw points; in one shard, a third.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..frames import TIME, rfc3339
from ..quoting import quote_ident, quote_literal
from .result import Row
from .spec import DAY_NS, QuerySpec

HOUR_NS = 3_600_000_000_000
#: the retention policy the rollups are kept in (its shard groups are long: see above)
ROLLUP_RP = "onsflux_rollups"
ROLLUP_SHARD_DURATION = "52w"
#: the statistics a rollup keeps per field, in this order
STATS: tuple[str, ...] = ("sum", "count", "min", "max")
#: the aggregates a rollup can answer, and the InfluxQL that recombines its statistics
_COMBINE: dict[str, str] = {
    "sum": "sum({sum})",
    "count": "sum({count})",
    "min": "min({min})",
    "max": "max({max})",
    "mean": "sum({sum}) / sum({count})",
    "energy": "sum({sum}) * {h}",
}
#: the statistics each aggregate needs when parts are combined in Python
_NEEDS: dict[str, tuple[str, ...]] = {
    "sum": ("sum",), "count": ("count",), "min": ("min",), "max": ("max",),
    "mean": ("sum", "count"), "energy": ("sum",),
}
#: a statistic of the raw series, and of a rollup's column, per statistic
_RAW_STAT = {"sum": "sum({x})", "count": "count({x})", "min": "min({x})", "max": "max({x})"}
_ROLLED_STAT = {"sum": "sum({x})", "count": "sum({x})", "min": "min({x})", "max": "max({x})"}


@dataclass(frozen=True)
class Rollup:
    """A rollup of ``source`` kept in ``name`` (same database) per ``period`` and ``tags``;
    its covered periods are marked in ``markers`` (one point per period)."""

    source: str
    name: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    period: str
    period_ns: int
    markers: str

    def column(self, field: str, stat: str) -> str:
        return f"{field}_{stat}"

    @property
    def target(self) -> str:
        """The rollup's fully qualified InfluxQL name (database = the raw measurement's)."""
        return f"{quote_ident(self.source)}.{quote_ident(ROLLUP_RP)}.{quote_ident(self.name)}"

    def partials(self, frame: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame | None:
        """The rollup's statistics of ``frame``'s rows per (period, tags): what the ingest
        writes for the periods it proves it owns alone (``influx.rollup.keep_partials``
        adds up the chunks'). None when the frame lacks one of the rollup's tags."""
        if not set(self.tags) <= set(frame.columns):
            return None
        p = self.period_ns
        rolled = [f for f in self.fields if f in fields and f in frame.columns]
        return frame.group_by([(pl.col(TIME) // p * p).alias(TIME), *self.tags]).agg(
            [getattr(pl.col(f), stat)().alias(self.column(f, stat))
             for f in rolled for stat in STATS])

    def span(self, tmin_ns: int, tmax_ns: int) -> tuple[int, int]:
        """The whole periods ``[start, stop)`` that contain every time in ``[tmin, tmax]``."""
        p = self.period_ns
        return tmin_ns // p * p, (tmax_ns // p + 1) * p

    def refresh_influxql(self, start_ns: int, stop_ns: int) -> str:
        """``SELECT … INTO`` recomputing the rollup rows of ``[start_ns, stop_ns)`` (whole
        periods) from the raw series: the server does the work and the answer can never
        drift from the raw data it was computed from."""
        stats = ", ".join(
            f"{stat}({quote_ident(f)}) AS {quote_ident(self.column(f, stat))}"
            for f in self.fields for stat in STATS
        )
        groups = ", ".join(quote_ident(t) for t in self.tags)
        return (f"SELECT {stats} INTO {self.target} FROM {quote_ident(self.source)} "
                f"WHERE time >= {start_ns} AND time < {stop_ns} "
                f"GROUP BY time({self.period}), {groups} fill(none)")

    def marker_lines(self, start_ns: int, stop_ns: int) -> bytes:
        """One marker point per covered period of ``[start_ns, stop_ns)`` (line protocol)."""
        return b"".join(
            f"{self.markers},measurement={self.source} covered=1i {t}\n".encode()
            for t in range(start_ns, stop_ns, self.period_ns)
        )


#: per (region, hour): the 30-day trends by region (each row one window of the answer)
REGION_HOURLY = Rollup("generation_data", "generation_data_region_1h", ("region",),
                       ("power_mw",), "1h", HOUR_NS, "onsflux_rollup_region_1h")
#: per (region, source, hour): the 30-day trends by source, or region and source
HOURLY = Rollup("generation_data", "generation_data_1h", ("region", "source"), ("power_mw",),
                "1h", HOUR_NS, "onsflux_rollup_1h")
#: per (region, source, plant, UTC day): per-plant questions over weeks and months
DAILY = Rollup("generation_data", "generation_data_1d", ("region", "source", "plant"),
               ("power_mw",), "1d", DAY_NS, "onsflux_rollup_1d")
#: the rollups of each measurement, cheapest first; others are small enough to read raw.
#: Power only: each rolled field adds 4 values per row to every ingest's writes, and the
#: questions people ask of generation are about power.
_CHAINS: dict[str, tuple[Rollup, ...]] = {"generation_data": (REGION_HOURLY, HOURLY, DAILY)}
#: the hourly rollup per measurement (what the ingest computes partials for)
ROLLUPS: dict[str, Rollup] = {"generation_data": HOURLY}


def rollups_of(measurement: str) -> tuple[Rollup, ...]:
    """The rollups kept for ``measurement``, cheapest first (empty: none)."""
    return _CHAINS.get(measurement, ())


def hour_range(tmin_ns: int, tmax_ns: int) -> tuple[int, int]:
    """The whole hours ``[start, stop)`` that contain every time in ``[tmin, tmax]``."""
    return HOURLY.span(tmin_ns, tmax_ns)


def span_of(measurement: str, tmin_ns: int, tmax_ns: int) -> tuple[int, int]:
    """The whole periods of ``measurement``'s coarsest rollup holding ``[tmin, tmax]``
    (whole UTC days for generation): where someone else's points would share a rollup
    row with an object's, so what the ingest's pre-count must find empty."""
    chain = rollups_of(measurement)
    if not chain:
        return hour_range(tmin_ns, tmax_ns)
    return max(chain, key=lambda r: r.period_ns).span(tmin_ns, tmax_ns)


@dataclass(frozen=True)
class Part:
    """One statement of a split plan: statistics of ``source`` over ``[start, stop)``."""

    source: str
    start_ns: int
    stop_ns: int
    text: str


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open ranges ``[a, b)`` sorted, with touching or overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def uncovered_ranges(ranges: list[tuple[int, int]], start: int, stop: int
                     ) -> list[tuple[int, int]]:
    """The parts of ``[start, stop)`` outside every range of ``ranges`` (merged, sorted)."""
    out: list[tuple[int, int]] = []
    at = start
    for a, b in merge_ranges(ranges):
        if b <= at or a >= stop:
            continue
        if a > at:
            out.append((at, a))
        at = max(at, b)
        if at >= stop:
            break
    if at < stop:
        out.append((at, stop))
    return out


@dataclass(frozen=True)
class Plan:
    """A spec answered (partly) from a rollup.

    ``text`` is what runs (one request); ``[start_ns, stop_ns)`` the whole periods read
    from ``rollup`` (they must be covered). ``parts`` is empty when ``text`` answers the
    spec directly, else its statements in order, whose rows ``combine`` adds up.
    ``gaps``: raw ranges that must hold no point of the spec's filters for ``text`` to be
    exact (a widened plan), and ``gaps_text`` the statements counting them.
    """

    rollup: Rollup
    text: str
    start_ns: int
    stop_ns: int
    parts: tuple[Part, ...] = ()
    gaps: tuple[tuple[int, int], ...] = ()
    gaps_text: str = ""


def _shape(spec: QuerySpec, rollup: Rollup) -> str | None:
    """Why ``rollup`` cannot answer ``spec`` whatever its period, or None."""
    if spec.aggregate not in _COMBINE:
        return f"aggregate {spec.aggregate!r} needs the raw samples"
    if spec.rank is not None:
        return "top/bottom rank raw rows"
    if not set(spec.fields) <= set(rollup.fields):
        return "a field the rollup does not keep"
    if not set(spec.where) <= set(rollup.tags) or not set(spec.group_by) <= set(rollup.tags):
        return f"a filter or group on a tag {rollup.name} drops"
    every, p = spec.every_ns, rollup.period_ns
    if every is not None and (every % p or spec.window_offset_ns % p):
        return f"windows that are not whole periods of {rollup.period}"
    if every is None and spec.aggregate in ("min", "max"):
        return "min/max without windows return the raw sample's time"
    if not isinstance(spec.fill, str) or spec.fill not in ("none", "null"):
        return f"fill {spec.fill!r} would fill the recombined value"
    return None


def _inside(spec: QuerySpec, rollup: Rollup) -> tuple[int, int]:
    """The whole periods of ``rollup`` inside the spec's period (empty when a >= b)."""
    p = rollup.period_ns
    return -(-spec.start_ns // p) * p, spec.stop_ns // p * p


def why_not(spec: QuerySpec, rollup: Rollup | None = None) -> str | None:
    """Why ``rollup`` (by default: every rollup of the spec's measurement) cannot answer
    ``spec`` exactly, or None when it can."""
    chain = (rollup,) if rollup is not None else rollups_of(spec.measurement)
    if not chain:
        return f"no rollup for {spec.measurement}"
    reasons = []
    for r in chain:
        reason = _shape(spec, r)
        if reason is None:
            a, b = _inside(spec, r)
            whole = a == spec.start_ns and b == spec.stop_ns
            if a >= b:
                reason = f"no whole period of {r.period} inside the period"
            elif not whole and spec.fill != "none":
                reason = "fill over a period split between a rollup and the raw series"
        if reason is None:
            return None
        reasons.append(f"{r.name}: {reason}")
    return "; ".join(reasons)


def plans(spec: QuerySpec) -> list[Plan]:
    """The plans that answer ``spec`` exactly, cheapest first (see the module docstring);
    a widened plan is exact only when its ``gaps`` hold no point."""
    found: list[Plan] = []
    for r in rollups_of(spec.measurement):
        if why_not(spec, r) is not None:
            continue
        a, b = _inside(spec, r)
        if (a, b) != (spec.start_ns, spec.stop_ns):
            found.append(_widened(spec, r))
        found.append(_plan(spec, r))
    return found


def plan(spec: QuerySpec) -> Plan | None:
    """The cheapest plan for ``spec``, or None (see :func:`why_not`)."""
    found = plans(spec)
    return found[0] if found else None


def _where(spec: QuerySpec, start_ns: int, stop_ns: int) -> str:
    where = [f"time >= {quote_literal(rfc3339(start_ns))}",
             f"time < {quote_literal(rfc3339(stop_ns))}"]
    for tag, values in spec.where.items():
        ors = " OR ".join(f"{quote_ident(tag)} = {quote_literal(v)}" for v in values)
        where.append(f"({ors})" if len(values) > 1 else ors)
    return " AND ".join(where)


def _tail(spec: QuerySpec, limit: int) -> str:
    group = [quote_ident(t) for t in spec.group_by]
    text = ""
    if spec.every:
        offset = f", {spec.window_offset}" if spec.window_offset else ""
        group.insert(0, f"time({spec.every}{offset})")
    if group:
        text += " GROUP BY " + ", ".join(group)
    if spec.every:
        text += f" fill({spec.fill})"
    if spec.order == "desc":
        text += " ORDER BY time DESC"
    return text + f" LIMIT {limit}"


#: an aggregate over one rollup row (the row is the whole window of one series)
_ROW: dict[str, str] = {
    "sum": "{sum}", "count": "{count}", "min": "{min}", "max": "{max}",
    "mean": "{sum} / {count}", "energy": "{sum} * {h}",
}


def _rows_are_answer(spec: QuerySpec, rollup: Rollup) -> bool:
    """Each rollup row is one row of the answer: windows of exactly its period (aligned,
    so they are its periods), grouped by every tag it keeps, no filled windows."""
    return (spec.every_ns == rollup.period_ns and spec.window_offset_ns % rollup.period_ns == 0
            and set(spec.group_by) == set(rollup.tags) and spec.fill == "none")


def _alone(spec: QuerySpec, rollup: Rollup, a: int, b: int) -> str:
    """The one statement answering ``spec`` from ``rollup`` over ``[a, b)``."""
    assert spec.aggregate is not None
    if _rows_are_answer(spec, rollup):
        select = ", ".join(
            _ROW[spec.aggregate].format(**{s: quote_ident(rollup.column(f, s)) for s in STATS},
                                        h=repr(float(spec.interval_hours)))
            + f" AS {quote_ident(f)}"
            for f in spec.fields
        )
        group = ", ".join(quote_ident(t) for t in spec.group_by)
        order = " ORDER BY time DESC" if spec.order == "desc" else ""
        return (f"SELECT {select} FROM {rollup.target} WHERE {_where(spec, a, b)} "
                f"GROUP BY {group}{order} LIMIT {spec.limit + 1}")
    template = _COMBINE[spec.aggregate]
    select = ", ".join(
        template.format(**{s: quote_ident(rollup.column(f, s)) for s in STATS},
                        h=repr(float(spec.interval_hours)))
        + f" AS {quote_ident(f)}"
        for f in spec.fields
    )
    return (f"SELECT {select} FROM {rollup.target} "
            f"WHERE {_where(spec, a, b)}{_tail(spec, spec.limit + 1)}")


def _widened(spec: QuerySpec, rollup: Rollup) -> Plan:
    """The rollup over the whole periods holding the spec's period. With windows of whole
    periods the windows are the raw query's; without, the rows' time is the spec's start
    (the executor restamps it). Exact when the gaps hold no raw point."""
    a, b = rollup.span(spec.start_ns, spec.stop_ns - 1)
    gaps = tuple((x, y) for x, y in ((a, spec.start_ns), (spec.stop_ns, b)) if x < y)
    counts = ", ".join(f"count({quote_ident(f)}) AS {quote_ident(f)}" for f in spec.fields)
    gaps_text = ";\n".join(f"SELECT {counts} FROM {quote_ident(spec.measurement)} "
                           f"WHERE {_where(spec, x, y)}" for x, y in gaps)
    return Plan(rollup, _alone(spec, rollup, a, b), a, b, gaps=gaps, gaps_text=gaps_text)


def _plan(spec: QuerySpec, rollup: Rollup) -> Plan:
    assert spec.aggregate is not None
    a, b = _inside(spec, rollup)
    if (a, b) == (spec.start_ns, spec.stop_ns):  # whole periods: the rollup alone
        return Plan(rollup, _alone(spec, rollup, a, b), a, b)
    # whole periods from the rollup, the ends raw
    spans = [(spec.measurement, spec.start_ns, a), (rollup.name, a, b),
             (spec.measurement, b, spec.stop_ns)]
    return _split(spec, rollup, spans, a, b)


def _split(spec: QuerySpec, rollup: Rollup, spans: Sequence[tuple[str, int, int]],
           a: int, b: int) -> Plan:
    """One statement of statistics per span (the rollup's, or the raw series'). Per series,
    a window's rank among one part's windows is at most its rank among all, so the first
    ``limit + 1`` rows of each part hold the answer's first ``limit + 1`` windows."""
    assert spec.aggregate is not None
    needs = _NEEDS[spec.aggregate]
    parts = []
    for source, start, stop in spans:
        if start >= stop:
            continue
        rolled = source == rollup.name
        select = ", ".join(
            (_ROLLED_STAT if rolled else _RAW_STAT)[s].format(
                x=quote_ident(rollup.column(f, s) if rolled else f))
            + f" AS {quote_ident(f'{f}__{s}')}"
            for f in spec.fields for s in needs
        )
        text = (f"SELECT {select} FROM {rollup.target if rolled else quote_ident(source)} "
                f"WHERE {_where(spec, start, stop)}{_tail(spec, spec.limit + 1)}")
        parts.append(Part(source, start, stop, text))
    return Plan(rollup, ";\n".join(p.text for p in parts), a, b, tuple(parts))


def inside(spec: QuerySpec, rollup: Rollup) -> tuple[int, int]:
    """The whole periods of ``rollup`` inside the spec's period ``[a, b)`` (empty: a >= b)."""
    return _inside(spec, rollup)


def patched(spec: QuerySpec, rollup: Rollup, covered: Collection[int]) -> Plan | None:
    """A split plan reading from ``rollup`` only the whole periods marked covered (their
    starts, ``covered``) and everything else raw: a UTC day two files share, or the hours
    another object rewrote, then cost their own raw points, not the whole period's.

    None when the rollup cannot answer the spec, when windows are filled (``fill`` is
    for a plan read from one place), or when fewer than half the whole periods are
    covered (reading raw is then about as cheap).
    """
    if why_not(spec, rollup) is not None or spec.fill != "none":
        return None
    a, b = _inside(spec, rollup)
    p = rollup.period_ns
    marks = [t in covered for t in range(a, b, p)]
    if not marks or sum(marks) * 2 < len(marks):
        return None
    spans: list[tuple[str, int, int]] = [(spec.measurement, spec.start_ns, a)]
    for k, ok in enumerate(marks):
        source = rollup.name if ok else spec.measurement
        t = a + k * p
        if spans[-1][0] == source and spans[-1][2] == t:
            spans[-1] = (source, spans[-1][1], t + p)
        else:
            spans.append((source, t, t + p))
    if spans[-1][0] == spec.measurement:
        spans[-1] = (spec.measurement, spans[-1][1], spec.stop_ns)
    else:
        spans.append((spec.measurement, b, spec.stop_ns))
    return _split(spec, rollup, spans, a, b)


def combine(spec: QuerySpec, plan: Plan, results: Sequence[dict[str, Any]]) -> list[Row]:
    """The rows of a split ``plan``: each part's statistics per (window, series), added up
    and turned into the spec's aggregate, in the server's order (series by tag set, then
    time) with at most ``limit + 1`` rows per series, as the raw query returns them."""
    assert spec.aggregate is not None
    needs = _NEEDS[spec.aggregate]
    acc: dict[tuple[tuple[str, ...], int], dict[str, Any]] = {}
    tagsets: dict[tuple[str, ...], dict[str, str]] = {}
    order = sorted(spec.group_by)
    for result in results:
        for series in result.get("series") or []:
            tags = {k: str(v) for k, v in (series.get("tags") or {}).items()
                    if k in spec.group_by and v not in (None, "")}
            skey = tuple(tags.get(t, "") for t in order)
            tagsets[skey] = tags
            columns = series.get("columns") or []
            for values in series.get("values") or []:
                record = dict(zip(columns, values, strict=False))
                t = int(record.get("time") or 0) if spec.every else spec.start_ns
                stats = acc.setdefault((skey, t), {})
                for f in spec.fields:
                    for s in needs:
                        _add(stats, f"{f}__{s}", s, record.get(f"{f}__{s}"))
    rows: list[Row] = []
    per_series: dict[tuple[str, ...], int] = {}
    desc = spec.order == "desc"
    for (skey, t) in sorted(acc, key=lambda k: (k[0], -k[1] if desc else k[1])):
        n = per_series.get(skey, 0)
        if n > spec.limit:
            continue
        per_series[skey] = n + 1
        stats = acc[(skey, t)]
        for f in spec.fields:
            rows.append(Row(t, spec.measurement, f, _value(spec, stats, f), dict(tagsets[skey])))
    return rows


def _add(stats: dict[str, Any], key: str, stat: str, value: Any) -> None:
    if value is None:
        return
    old = stats.get(key)
    if old is None:
        stats[key] = value
    elif stat in ("sum", "count"):
        stats[key] = old + value
    else:
        stats[key] = min(old, value) if stat == "min" else max(old, value)


def _value(spec: QuerySpec, stats: dict[str, Any], field: str) -> float | None:
    agg = spec.aggregate
    total, count = stats.get(f"{field}__sum"), stats.get(f"{field}__count")
    if agg == "mean":
        return None if total is None or not count else float(total) / float(count)
    if agg == "energy":
        return None if total is None else float(total) * float(spec.interval_hours)
    value = stats.get(f"{field}__{agg}")
    return None if value is None else float(value)
