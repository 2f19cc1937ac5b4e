"""Hourly rollups and the planner that answers a spec from them when exactly equivalent.

Why: a 30-day trend over 550 plants scans 396k raw points; the same answer from an
hourly rollup per (region, source) reads 4 x 5 x 720 = 14.4k. Pure: no I/O here; the
rollups are computed by the server (``influx/rollup.py``) and kept by ingest, migration
and rollback.

A rollup row per (hour, region, source) holds, for every rolled field ``f``:
``f_sum``, ``f_count``, ``f_min``, ``f_max``. From those, with hour-aligned buckets:

- ``sum`` = Σ f_sum, ``count`` = Σ f_count, ``min`` = min f_min, ``max`` = max f_max;
- ``mean`` = Σ f_sum / Σ f_count (the mean of all raw samples, not a mean of means);
- ``energy`` = Σ f_sum x the sample interval in hours.

``plan`` accepts a spec only when the rollup answer is the raw answer: one of those
aggregates; start, stop, window size and window offset on whole hours; filters and
groups only on the rollup's tags; no top/bottom; fill ``none`` or ``null``; and for
``min``/``max`` only with windows (without one, InfluxQL returns the raw sample's time,
which a rollup does not keep). Sums may differ from the raw ones in the last bits
(floating-point addition in another order); every other aggregate is bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frames import rfc3339
from ..quoting import quote_ident, quote_literal
from .spec import QuerySpec

HOUR_NS = 3_600_000_000_000
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


@dataclass(frozen=True)
class Rollup:
    """An hourly rollup of ``source`` kept in ``name`` (same database), by ``tags``."""

    source: str
    name: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]

    def column(self, field: str, stat: str) -> str:
        return f"{field}_{stat}"

    def refresh_influxql(self, start_ns: int, stop_ns: int) -> str:
        """``SELECT … INTO`` recomputing the rollup rows of ``[start_ns, stop_ns)`` (whole
        hours) from the raw series: the server does the work and the answer can never drift
        from the raw data it was computed from."""
        stats = ", ".join(
            f"{stat}({quote_ident(f)}) AS {quote_ident(self.column(f, stat))}"
            for f in self.fields for stat in STATS
        )
        groups = ", ".join(quote_ident(t) for t in self.tags)
        return (f"SELECT {stats} INTO {quote_ident(self.name)} FROM {quote_ident(self.source)} "
                f"WHERE time >= {start_ns} AND time < {stop_ns} "
                f"GROUP BY time(1h), {groups} fill(none)")


#: the measurements with a rollup; others are small enough to read raw
ROLLUPS: dict[str, Rollup] = {
    # power only: each rolled field adds 4 values per (hour, region, source) to every
    # ingest's writes, and the questions people ask of generation are about power
    "generation_data": Rollup("generation_data", "generation_data_1h", ("region", "source"),
                              ("power_mw",)),
}
#: where refreshed hours are marked (one point per hour), so the planner knows coverage
MARKERS = "onsflux_rollup_hours"


def hour_range(tmin_ns: int, tmax_ns: int) -> tuple[int, int]:
    """The whole hours ``[start, stop)`` that contain every time in ``[tmin, tmax]``."""
    return tmin_ns // HOUR_NS * HOUR_NS, (tmax_ns // HOUR_NS + 1) * HOUR_NS


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
    """A spec answered from a rollup: the InfluxQL to run and the rollup it reads."""

    rollup: Rollup
    text: str
    start_ns: int
    stop_ns: int


def why_not(spec: QuerySpec) -> str | None:
    """The reason ``spec`` cannot be answered from a rollup exactly, or None when it can."""
    rollup = ROLLUPS.get(spec.measurement)
    if rollup is None:
        return f"no rollup for {spec.measurement}"
    if spec.aggregate not in _COMBINE:
        return f"aggregate {spec.aggregate!r} needs the raw samples"
    if spec.rank is not None:
        return "top/bottom rank raw rows"
    if not set(spec.fields) <= set(rollup.fields):
        return "a field the rollup does not keep"
    if not set(spec.where) <= set(rollup.tags) or not set(spec.group_by) <= set(rollup.tags):
        return "a filter or group on a tag the rollup drops"
    if spec.start_ns % HOUR_NS or spec.stop_ns % HOUR_NS:
        return "the period does not start and end on whole hours"
    every = spec.every_ns
    if every is not None and (every % HOUR_NS or spec.window_offset_ns % HOUR_NS):
        return "windows that are not whole hours"
    if every is None and spec.aggregate in ("min", "max"):
        return "min/max without windows return the raw sample's time"
    if not isinstance(spec.fill, str) or spec.fill not in ("none", "null"):
        return f"fill {spec.fill!r} would fill the recombined value"
    return None


def plan(spec: QuerySpec) -> Plan | None:
    """The rollup query equivalent to ``spec`` (InfluxQL), or None (see :func:`why_not`)."""
    if why_not(spec) is not None:
        return None
    rollup = ROLLUPS[spec.measurement]
    assert spec.aggregate is not None
    template = _COMBINE[spec.aggregate]
    select = ", ".join(
        template.format(**{s: quote_ident(rollup.column(f, s)) for s in STATS},
                        h=repr(float(spec.interval_hours)))
        + f" AS {quote_ident(f)}"
        for f in spec.fields
    )
    where = [f"time >= {quote_literal(rfc3339(spec.start_ns))}",
             f"time < {quote_literal(rfc3339(spec.stop_ns))}"]
    for tag, values in spec.where.items():
        ors = " OR ".join(f"{quote_ident(tag)} = {quote_literal(v)}" for v in values)
        where.append(f"({ors})" if len(values) > 1 else ors)
    text = f"SELECT {select} FROM {quote_ident(rollup.name)} WHERE {' AND '.join(where)}"
    group = [quote_ident(t) for t in spec.group_by]
    if spec.every:
        offset = f", {spec.window_offset}" if spec.window_offset else ""
        group.insert(0, f"time({spec.every}{offset})")
    if group:
        text += " GROUP BY " + ", ".join(group)
    if spec.every:
        text += f" fill({spec.fill})"
    if spec.order == "desc":
        text += " ORDER BY time DESC"
    text += f" LIMIT {spec.limit + 1}"
    return Plan(rollup, text, spec.start_ns, spec.stop_ns)


def marker_lines(measurement: str, start_ns: int, stop_ns: int) -> bytes:
    """One marker point per refreshed hour of ``measurement`` (line protocol)."""
    return b"".join(
        f"{MARKERS},measurement={measurement} covered=1i {t}\n".encode()
        for t in range(start_ns, stop_ns, HOUR_NS)
    )
