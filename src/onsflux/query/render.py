"""QuerySpec -> query text, one small generator per dialect (modelled on sqlglot's).

``Generator`` walks a spec in a fixed order (source, time range, filters, window and
aggregate, rank, order, limit) and asks the dialect for each piece through
``<piece>_sql`` methods and declarative tables (``AGGREGATES``, ``FILLS``...). A
feature a dialect cannot express goes through ``unsupported()``, which raises
``UnsupportedError`` -- nothing is silently dropped.

Safety: every identifier goes through ``ident()`` and every user value through
``literal()`` of its dialect; bucket, measurement, field and tag names are checked
against the catalog by the spec before they get here. Generators can only produce read
queries: there is no code path that emits INTO, DELETE, DROP or Flux ``to()``, and
``assert_read_only`` double-checks the output.

Dialects:

- ``influxql`` -- InfluxDB 1.x, and 2.x/3.x through the v1-compatible ``/query``.
- ``flux`` -- InfluxDB 2.x (Timestream for InfluxDB v2).
- ``sql`` -- InfluxDB 3 SQL (DataFusion): one table per measurement, tags and fields
  as columns, ``time``; windows with ``date_bin``, gaps with ``date_bin_gapfill``.
- ``timestream`` -- the legacy Amazon Timestream (LiveAnalytics) tables, in their
  *single-measure* shape (the default of the platform we replace): database
  ``ons_energy_data``, tables ``generation_data``, ``consumption_data``,
  ``transmission_data``; one row per (dimensions, ``measure_name``, ``time``) with the
  number in ``measure_value::double``. Multi-measure tables (one column per measure)
  are not rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ..exceptions import InvalidQuery, UnsupportedError
from ..frames import rfc3339
from ..quoting import quote_ident, quote_literal
from .spec import QuerySpec, format_duration

DIALECTS: tuple[str, ...] = ("influxql", "flux", "sql", "timestream")


@dataclass(frozen=True)
class Rendered:
    dialect: str
    text: str


def _num(x: float) -> str:
    text = repr(float(x))
    if text in ("nan", "inf", "-inf"):
        raise InvalidQuery(f"not a finite number: {x}")
    return text


class Generator:
    """Base generator: the order of the pieces and the safety net; dialects fill in."""

    DIALECT: ClassVar[str] = "base"
    #: aggregate name -> template with {x} (the quoted field) [and {p}, {q}, {h}]
    AGGREGATES: ClassVar[dict[str, str]] = {}
    FILLS: ClassVar[frozenset[str]] = frozenset()
    FORBIDDEN: ClassVar[re.Pattern[str]] = re.compile(r"(?!)")
    #: how string literals and quoted identifiers look (removed before the FORBIDDEN check)
    QUOTED: ClassVar[re.Pattern[str]] = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")

    def unsupported(self, message: str) -> None:
        raise UnsupportedError(message, dialect=self.DIALECT)

    def ident(self, name: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def literal(self, value: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def aggregate_sql(self, spec: QuerySpec, field: str) -> str:
        assert spec.aggregate is not None
        template = self.AGGREGATES.get(spec.aggregate)
        if template is None:
            self.unsupported(f"aggregate {spec.aggregate!r} is not supported")
            raise AssertionError  # unreachable
        p = spec.p or 0.0
        return template.format(x=self.ident(field), p=_num(p), q=_num(p / 100),
                               h=_num(spec.interval_hours))

    def check_fill(self, spec: QuerySpec) -> None:
        key = spec.fill if isinstance(spec.fill, str) else "number"
        if spec.every is not None and key not in self.FILLS:
            self.unsupported(f"fill {spec.fill!r} is not supported")

    def generate(self, spec: QuerySpec) -> Rendered:
        self.check_fill(spec)
        text = self.render(spec)
        assert_read_only(self.DIALECT, text, self.FORBIDDEN, self.QUOTED)
        return Rendered(self.DIALECT, text)

    def render(self, spec: QuerySpec) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def assert_read_only(dialect: str, text: str, forbidden: re.Pattern[str],
                     quoted: re.Pattern[str]) -> None:
    """Last line of defence: rendered text must not contain a write construct outside literals."""
    bare = quoted.sub("''", text)
    m = forbidden.search(bare)
    if m:
        raise InvalidQuery(f"{dialect}: refusing to produce a non-read query ({m.group(0)!r})")


# --------------------------------------------------------------------------- InfluxQL


class InfluxQLGenerator(Generator):
    DIALECT = "influxql"
    AGGREGATES = {
        "mean": "mean({x})", "max": "max({x})", "min": "min({x})", "sum": "sum({x})",
        "count": "count({x})", "first": "first({x})", "last": "last({x})",
        "median": "median({x})", "spread": "spread({x})", "stddev": "stddev({x})",
        "percentile": "percentile({x}, {p})", "energy": "sum({x}) * {h}",
    }
    FILLS = frozenset({"none", "null", "previous", "linear", "number"})
    FORBIDDEN = re.compile(r"\b(INTO|DELETE|DROP|CREATE|ALTER|GRANT|REVOKE|KILL)\b|;", re.I)

    def ident(self, name: str) -> str:
        return quote_ident(name)

    def literal(self, value: str) -> str:
        return quote_literal(value)

    def where_sql(self, spec: QuerySpec) -> str:
        parts = [f"time >= {self.literal(rfc3339(spec.start_ns))}",
                 f"time < {self.literal(rfc3339(spec.stop_ns))}"]
        for tag, values in spec.where.items():
            ors = " OR ".join(f"{self.ident(tag)} = {self.literal(v)}" for v in values)
            parts.append(f"({ors})" if len(values) > 1 else ors)
        return " AND ".join(parts)

    def fill_sql(self, spec: QuerySpec) -> str:
        return f"fill({spec.fill if isinstance(spec.fill, str) else _num(spec.fill)})"

    def render(self, spec: QuerySpec) -> str:
        source = f"{self.ident(spec.measurement)}"
        where = self.where_sql(spec)
        groups = [self.ident(t) for t in spec.group_by]
        tag_cols = [self.ident(t) for t in spec.measurement_spec.tags]
        if spec.aggregate is None:  # raw points: their tags as columns too
            select = ", ".join([*(self.ident(f) for f in spec.fields), *tag_cols])
        else:
            select = ", ".join(
                f"{self.aggregate_sql(spec, f)} AS {self.ident(f)}" for f in spec.fields
            )
        inner = f"SELECT {select} FROM {source} WHERE {where}"
        group = list(groups)
        if spec.every:
            offset = f", {spec.window_offset}" if spec.window_offset else ""
            group.insert(0, f"time({spec.every}{offset})")
        if group:
            inner += " GROUP BY " + ", ".join(group)
        if spec.every:
            inner += " " + self.fill_sql(spec)
        rank = spec.rank
        if rank is None:
            q = inner
            if spec.order == "desc":
                q += " ORDER BY time DESC"
            return q + f" LIMIT {spec.limit + 1}"
        kind, n = rank
        field = self.ident(spec.fields[0])
        if spec.aggregate is None:
            q = (f"SELECT {kind}({field}, {n}) AS {field}, {', '.join(tag_cols)} "
                 f"FROM {source} WHERE {where}")
            return q + f" LIMIT {spec.limit + 1}"
        if spec.every and spec.group_by:
            self.unsupported("top/bottom over windows grouped by tags: rank one of them")
        args = ", ".join([field, *groups, str(n)])
        # the subquery aggregates; the outer selector ranks its rows (one per group)
        return f"SELECT {kind}({args}) AS {field} FROM ({inner}) LIMIT {spec.limit + 1}"


# --------------------------------------------------------------------------- Flux


class FluxGenerator(Generator):
    DIALECT = "flux"
    EXACT_MEDIAN = '(column, tables=<-) => tables |> median(method: "exact_mean", column: column)'
    AGGREGATES = {
        "mean": "mean", "max": "max", "min": "min", "sum": "sum", "count": "count",
        "first": "first", "last": "last", "median": EXACT_MEDIAN,
        "spread": "spread", "stddev": "stddev",
        "percentile": ('(column, tables=<-) => tables |> quantile(q: {q}, method: '
                       '"exact_selector", column: column)'),
        "energy": "sum",
    }
    CALLS = {
        "median": 'median(method: "exact_mean")',
        "percentile": 'quantile(q: {q}, method: "exact_selector")',
        "energy": "sum()",
    }
    FILLS = frozenset({"none", "null", "previous", "number"})
    FORBIDDEN = re.compile(r"\|>\s*(to|experimental\.to|http\.post|sql\.to|csv\.to)\s*\(|"
                           r"\b(sql|http|socket|kafka|mqtt|slack|pagerduty)\.[a-z]+\s*\(")

    def ident(self, name: str) -> str:
        return self.literal(name)

    def literal(self, value: str) -> str:
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
                   .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
        return f'"{escaped}"'

    def column(self, name: str) -> str:
        return f"r[{self.literal(name)}]"

    def render(self, spec: QuerySpec) -> str:
        lines = [f"from(bucket: {self.literal(spec.bucket)})",
                 f"  |> range(start: {rfc3339(spec.start_ns)}, stop: {rfc3339(spec.stop_ns)})",
                 f"  |> filter(fn: (r) => r._measurement == {self.literal(spec.measurement)})"]
        fields = " or ".join(f"r._field == {self.literal(f)}" for f in spec.fields)
        lines.append(f"  |> filter(fn: (r) => {fields})")
        for tag, values in spec.where.items():
            ors = " or ".join(f"{self.column(tag)} == {self.literal(v)}" for v in values)
            lines.append(f"  |> filter(fn: (r) => {ors})")
        if spec.aggregate is not None:
            cols = ", ".join(self.literal(c) for c in ("_measurement", "_field", *spec.group_by))
            lines.append(f"  |> group(columns: [{cols}])")
            if spec.every:
                fn = self.aggregate_fn(spec)
                empty = "false" if spec.fill == "none" else "true"
                offset = f"offset: {spec.window_offset}, " if spec.window_offset else ""
                lines.append(f"  |> aggregateWindow(every: {spec.every}, {offset}fn: {fn}, "
                             f'createEmpty: {empty}, timeSrc: "_start")')
                if spec.fill == "previous":
                    lines.append("  |> fill(usePrevious: true)")
                elif not isinstance(spec.fill, str):
                    lines.append(f"  |> fill(value: {_num(spec.fill)})")
            else:
                call = self.CALLS.get(spec.aggregate, f"{spec.aggregate}()")
                lines.append("  |> " + call.format(q=_num((spec.p or 0) / 100)))
                if spec.aggregate not in ("first", "last", "max", "min", "percentile"):
                    lines.append('  |> duplicate(column: "_start", as: "_time")')
            if spec.aggregate == "energy":
                lines.append(f"  |> map(fn: (r) => ({{r with _value: float(v: r._value) * "
                             f"{_num(spec.interval_hours)}}}))")
        rank = spec.rank
        if rank is not None:
            if spec.every and spec.group_by:
                self.unsupported("top/bottom over windows grouped by tags: rank one of them")
            kind, n = rank
            lines.append("  |> group()")
            lines.append(f"  |> {kind}(n: {n})")
        elif spec.order == "desc":
            lines.append('  |> sort(columns: ["_time"], desc: true)')
        lines.append(f"  |> limit(n: {spec.limit + 1})")
        return "\n".join(lines)

    def aggregate_fn(self, spec: QuerySpec) -> str:
        assert spec.aggregate is not None
        return self.AGGREGATES[spec.aggregate].format(q=_num((spec.p or 0) / 100))


# --------------------------------------------------------------------------- SQL


class _SqlGenerator(Generator):
    QUOTED = re.compile(r"'(?:''|[^'])*'|\"(?:\"\"|[^\"])*\"")
    FORBIDDEN = re.compile(
        r"\b(INTO|DELETE|DROP|CREATE|ALTER|INSERT|UPDATE|MERGE|TRUNCATE|GRANT|COPY|UNLOAD)\b|;",
        re.I)

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def literal(self, value: str) -> str:
        if "\x00" in value:
            raise InvalidQuery("NUL characters cannot appear in a query")
        return "'" + value.replace("'", "''") + "'"

    def timestamp(self, ns: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def interval_sql(self, every: str) -> str:
        n, unit = int(every[:-1]), every[-1]
        if unit == "w":
            n, unit = n * 7, "d"
        name = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[unit]
        return f"INTERVAL '{n} {name}{'s' if n != 1 else ''}'"

    def time_where(self, spec: QuerySpec, time_col: str) -> list[str]:
        return [f"{time_col} >= {self.timestamp(spec.start_ns)}",
                f"{time_col} < {self.timestamp(spec.stop_ns)}"]

    def tag_where(self, spec: QuerySpec) -> list[str]:
        parts = []
        for tag, values in spec.where.items():
            if len(values) == 1:
                parts.append(f"{self.ident(tag)} = {self.literal(values[0])}")
            else:
                parts.append(f"{self.ident(tag)} IN ({', '.join(self.literal(v) for v in values)})")
        return parts

    def finish(self, spec: QuerySpec, select: list[str], source: str, where: list[str],
               group: list[str], value_cols: list[str]) -> str:
        q = f"SELECT {', '.join(select)}\nFROM {source}\nWHERE {' AND '.join(where)}"
        if group:
            q += f"\nGROUP BY {', '.join(group)}"
        rank = spec.rank
        if rank is not None:
            if spec.every and spec.group_by:
                self.unsupported("top/bottom over windows grouped by tags: rank one of them")
            kind, n = rank
            direction = "DESC" if kind == "top" else "ASC"
            q += f"\nORDER BY {value_cols[0]} {direction} NULLS LAST\nLIMIT {min(n, spec.limit + 1)}"
            return q
        order = "DESC" if spec.order == "desc" else "ASC"
        keys = [*([self.ident(t) for t in spec.group_by]), f"{self.ident('time')} {order}"]
        q += f"\nORDER BY {', '.join(keys)}\nLIMIT {spec.limit + 1}"
        return q


class InfluxSqlGenerator(_SqlGenerator):
    """InfluxDB 3 SQL (Apache DataFusion)."""

    DIALECT = "sql"
    AGGREGATES = {
        "mean": "avg({x})", "max": "max({x})", "min": "min({x})", "sum": "sum({x})",
        "count": "count({x})", "first": "first_value({x} ORDER BY \"time\" ASC)",
        "last": "last_value({x} ORDER BY \"time\" ASC)", "median": "median({x})",
        "spread": "max({x}) - min({x})", "stddev": "stddev({x})",
        "percentile": "approx_percentile_cont({x}, {q})", "energy": "sum({x}) * {h}",
    }
    FILLS = frozenset({"none", "null", "previous", "linear", "number"})

    def timestamp(self, ns: int) -> str:
        return f"TIMESTAMP {self.literal(rfc3339(ns))}"

    def render(self, spec: QuerySpec) -> str:
        tags = [self.ident(t) for t in spec.group_by]
        where = self.time_where(spec, self.ident("time")) + self.tag_where(spec)
        source = self.ident(spec.measurement)
        if spec.aggregate is None:
            cols = [self.ident("time"), *[self.ident(t) for t in spec.measurement_spec.tags],
                    *[self.ident(f) for f in spec.fields]]
            return self.finish(spec, cols, source, where, [], [self.ident(spec.fields[0])])
        aggs = []
        for f in spec.fields:
            agg = self.aggregate_sql(spec, f)
            if spec.every and spec.fill == "previous":
                agg = f"locf({agg})"
            elif spec.every and spec.fill == "linear":
                agg = f"interpolate({agg})"
            elif spec.every and not isinstance(spec.fill, str):
                agg = f"coalesce({agg}, {_num(spec.fill)})"
            aggs.append(f"{agg} AS {self.ident(f)}")
        group = list(tags)
        select = list(tags)
        if spec.every:
            fn = "date_bin" if spec.fill == "none" else "date_bin_gapfill"
            # the origin is a window start: the epoch, shifted to local midnight for days
            origin = spec.window_offset_ns % (spec.every_ns or 1)
            select.insert(0, f"{fn}({self.interval_sql(spec.every)}, {self.ident('time')}, "
                             f"{self.timestamp(origin)}) AS {self.ident('time')}")
            group.insert(0, "1")
        else:
            select.insert(0, f"{self.timestamp(spec.start_ns)} AS {self.ident('time')}")
        return self.finish(spec, select + aggs, source, where, group,
                           [self.ident(spec.fields[0])])


class TimestreamSqlGenerator(_SqlGenerator):
    """Amazon Timestream (LiveAnalytics) SQL over the legacy single-measure tables."""

    DIALECT = "timestream"
    DATABASE = "ons_energy_data"
    #: the legacy tables store one measure per row, its number in this column
    MEASURE_VALUE = "measure_value::double"
    AGGREGATES = {
        "mean": "avg({x})", "max": "max({x})", "min": "min({x})", "sum": "sum({x})",
        "count": "count({x})", "first": "min_by({x}, \"time\")", "last": "max_by({x}, \"time\")",
        "median": "approx_percentile({x}, 0.5)", "spread": "max({x}) - min({x})",
        "stddev": "stddev_samp({x})", "percentile": "approx_percentile({x}, {q})",
        "energy": "sum({x}) * {h}",
    }
    FILLS = frozenset({"none"})

    def timestamp(self, ns: int) -> str:
        return f"from_iso8601_timestamp({self.literal(rfc3339(ns))})"

    def aggregate_sql(self, spec: QuerySpec, field: str) -> str:
        return super().aggregate_sql(spec, self.MEASURE_VALUE)

    def render(self, spec: QuerySpec) -> str:
        source = f"{self.ident(self.DATABASE)}.{self.ident(spec.measurement)}"
        fields = spec.fields
        measure = (f"{self.ident('measure_name')} = {self.literal(fields[0])}" if len(fields) == 1
                   else f"{self.ident('measure_name')} IN "
                        f"({', '.join(self.literal(f) for f in fields)})")
        where = [measure, *self.time_where(spec, self.ident("time")), *self.tag_where(spec)]
        tags = [self.ident(t) for t in spec.group_by]
        if spec.aggregate is None:
            cols = [self.ident("time"), *[self.ident(t) for t in spec.measurement_spec.tags],
                    self.ident("measure_name"), self.ident(self.MEASURE_VALUE)]
            return self.finish(spec, cols, source, where, [], [self.ident(self.MEASURE_VALUE)])
        agg = f"{self.aggregate_sql(spec, fields[0])} AS {self.ident('value')}"
        select = [*tags, self.ident("measure_name")]
        group = [*tags, self.ident("measure_name")]
        if spec.every:
            # parse_duration('1h') rather than the 1h shorthand: same interval, standard syntax
            binned = f"bin({self.ident('time')}, parse_duration({self.literal(spec.every)}))"
            offset = spec.window_offset_ns
            if offset:  # bin() has no origin: shift time back, bin, shift the start forward
                shift = f"parse_duration({self.literal(format_duration(abs(offset)))})"
                back, forth = ("-", "+") if offset > 0 else ("+", "-")
                binned = (f"bin({self.ident('time')} {back} {shift}, parse_duration("
                          f"{self.literal(spec.every)})) {forth} {shift}")
            select.insert(0, f"{binned} AS {self.ident('time')}")
            group.insert(0, binned)
        else:
            select.insert(0, f"{self.timestamp(spec.start_ns)} AS {self.ident('time')}")
        return self.finish(spec, [*select, agg], source, where, group, [self.ident("value")])


GENERATORS: dict[str, Callable[[], Generator]] = {
    "influxql": InfluxQLGenerator,
    "flux": FluxGenerator,
    "sql": InfluxSqlGenerator,
    "timestream": TimestreamSqlGenerator,
}


def render(spec: QuerySpec, dialect: str) -> Rendered:
    """Render ``spec`` in ``dialect`` (``influxql``, ``flux``, ``sql``, ``timestream``)."""
    try:
        generator = GENERATORS[dialect]()
    except KeyError:
        raise InvalidQuery(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}") from None
    return generator.generate(spec)


def render_all(spec: QuerySpec) -> dict[str, Rendered | UnsupportedError]:
    """Every dialect's rendering, or the ``UnsupportedError`` saying why it has none."""
    out: dict[str, Rendered | UnsupportedError] = {}
    for dialect in DIALECTS:
        try:
            out[dialect] = render(spec, dialect)
        except UnsupportedError as exc:
            out[dialect] = exc
    return out
