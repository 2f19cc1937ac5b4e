"""QuerySpec -> query text, one small generator per dialect (shaped like sqlglot's).

The base :class:`Generator` owns the walk (:meth:`Generator.sql`): it checks the
dialect's capabilities, renders the dialect's ``CLAUSES`` in order -- each through its
``<clause>_sql`` hook (``select_sql``, ``from_sql``, ``where_sql``, ``group_sql``,
``window_sql``, ``fill_sql``...) -- and finishes with ``rank_sql`` or
``order_sql`` + ``limit_sql``. A dialect is a subclass that declares its tables
(``AGGREGATES``), capability flags (``FILLS``, ``RANK_OVER_GROUPED_WINDOWS``), clause
order and separator, and implements only the hooks where its grammar differs. A feature
a dialect cannot express goes through ``unsupported()`` (typed ``NoReturn``), which
raises ``UnsupportedError`` -- nothing is silently dropped, and each rule is written once.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, NoReturn

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
    """Base generator: the walk, the capability checks and the safety net."""

    DIALECT: ClassVar[str] = "base"
    #: aggregate name -> template with {x} (the quoted field) [and {p}, {q}, {h}]
    AGGREGATES: ClassVar[dict[str, str]] = {}
    #: capability: the fills this dialect can express (``number`` for a constant)
    FILLS: ClassVar[frozenset[str]] = frozenset()
    #: capability: top/bottom over time windows that are also grouped by tags
    RANK_OVER_GROUPED_WINDOWS: ClassVar[bool] = False
    #: the clauses of a query in this dialect's order; each renders through ``<name>_sql``
    CLAUSES: ClassVar[tuple[str, ...]] = ()
    #: what joins clauses (empty ones are left out)
    SEP: ClassVar[str] = " "
    FORBIDDEN: ClassVar[re.Pattern[str]] = re.compile(r"(?!)")
    #: how string literals and quoted identifiers look (removed before the FORBIDDEN check)
    QUOTED: ClassVar[re.Pattern[str]] = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")

    def unsupported(self, message: str) -> NoReturn:
        raise UnsupportedError(message, dialect=self.DIALECT)

    def ident(self, name: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def literal(self, value: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ the walk

    def generate(self, spec: QuerySpec) -> Rendered:
        text = self.sql(spec)
        assert_read_only(self.DIALECT, text, self.FORBIDDEN, self.QUOTED)
        return Rendered(self.DIALECT, text)

    def sql(self, spec: QuerySpec) -> str:
        """Capabilities, then the clauses in order, then rank, or order and limit."""
        self.check_fill(spec)
        self.check_rank(spec)
        body = self.join(getattr(self, f"{name}_sql")(spec) for name in self.CLAUSES)
        if spec.rank is not None:
            return self.rank_sql(spec, body)
        return self.join([body, self.order_sql(spec), self.limit_sql(spec)])

    def join(self, parts: Iterable[str]) -> str:
        return self.SEP.join(p for p in parts if p)

    def check_fill(self, spec: QuerySpec) -> None:
        key = spec.fill if isinstance(spec.fill, str) else "number"
        if spec.every is not None and key not in self.FILLS:
            self.unsupported(f"fill {spec.fill!r} is not supported")

    def check_rank(self, spec: QuerySpec) -> None:
        if (spec.rank is not None and spec.aggregate is not None and spec.every
                and spec.group_by and not self.RANK_OVER_GROUPED_WINDOWS):
            self.unsupported("top/bottom over windows grouped by tags: rank one of them")

    # ------------------------------------------------------------------ shared pieces

    def aggregate_sql(self, spec: QuerySpec, field: str) -> str:
        assert spec.aggregate is not None
        template = self.AGGREGATES.get(spec.aggregate)
        if template is None:
            self.unsupported(f"aggregate {spec.aggregate!r} is not supported")
        p = spec.p or 0.0
        return template.format(x=self.ident(field), p=_num(p), q=_num(p / 100),
                               h=_num(spec.interval_hours))

    def rank_sql(self, spec: QuerySpec, body: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def order_sql(self, spec: QuerySpec) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def limit_sql(self, spec: QuerySpec) -> str:  # pragma: no cover - abstract
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
    CLAUSES = ("select", "from", "where", "group", "fill")

    def ident(self, name: str) -> str:
        return quote_ident(name)

    def literal(self, value: str) -> str:
        return quote_literal(value)

    def tag_columns(self, spec: QuerySpec) -> list[str]:
        return [self.ident(t) for t in spec.measurement_spec.tags]

    def select_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:  # raw points: their tags as columns too
            cols = [*(self.ident(f) for f in spec.fields), *self.tag_columns(spec)]
        else:
            cols = [f"{self.aggregate_sql(spec, f)} AS {self.ident(f)}" for f in spec.fields]
        return "SELECT " + ", ".join(cols)

    def from_sql(self, spec: QuerySpec) -> str:
        return f"FROM {self.ident(spec.measurement)}"

    def where_sql(self, spec: QuerySpec) -> str:
        parts = [f"time >= {self.literal(rfc3339(spec.start_ns))}",
                 f"time < {self.literal(rfc3339(spec.stop_ns))}"]
        for tag, values in spec.where.items():
            ors = " OR ".join(f"{self.ident(tag)} = {self.literal(v)}" for v in values)
            parts.append(f"({ors})" if len(values) > 1 else ors)
        return "WHERE " + " AND ".join(parts)

    def window_sql(self, spec: QuerySpec) -> str:
        offset = f", {spec.window_offset}" if spec.window_offset else ""
        return f"time({spec.every}{offset})" if spec.every else ""

    def group_sql(self, spec: QuerySpec) -> str:
        group = [self.window_sql(spec), *(self.ident(t) for t in spec.group_by)]
        return self.join_list(group, "GROUP BY ")

    @staticmethod
    def join_list(items: list[str], prefix: str) -> str:
        items = [i for i in items if i]
        return prefix + ", ".join(items) if items else ""

    def fill_sql(self, spec: QuerySpec) -> str:
        if not spec.every:
            return ""
        return f"fill({spec.fill if isinstance(spec.fill, str) else _num(spec.fill)})"

    def rank_sql(self, spec: QuerySpec, body: str) -> str:
        assert spec.rank is not None
        kind, n = spec.rank
        field = self.ident(spec.fields[0])
        if spec.aggregate is None:
            q = (f"SELECT {kind}({field}, {n}) AS {field}, {', '.join(self.tag_columns(spec))} "
                 f"{self.from_sql(spec)} {self.where_sql(spec)}")
            return self.join([q, self.limit_sql(spec)])
        args = ", ".join([field, *(self.ident(t) for t in spec.group_by), str(n)])
        # the subquery aggregates; the outer selector ranks its rows (one per group)
        return self.join([f"SELECT {kind}({args}) AS {field} FROM ({body})", self.limit_sql(spec)])

    def order_sql(self, spec: QuerySpec) -> str:
        return "ORDER BY time DESC" if spec.order == "desc" else ""

    def limit_sql(self, spec: QuerySpec) -> str:
        return f"LIMIT {spec.limit + 1}"


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
    #: selectors keep their rows' own ``_time``; the others get the range start
    SELECTORS = frozenset({"first", "last", "max", "min", "percentile"})
    FILLS = frozenset({"none", "null", "previous", "number"})
    FORBIDDEN = re.compile(r"\|>\s*(to|experimental\.to|http\.post|sql\.to|csv\.to)\s*\(|"
                           r"\b(sql|http|socket|kafka|mqtt|slack|pagerduty)\.[a-z]+\s*\(")
    CLAUSES = ("from", "where", "group", "window", "reduce", "fill", "energy")
    SEP = "\n"

    def ident(self, name: str) -> str:
        return self.literal(name)

    def literal(self, value: str) -> str:
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
                   .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
        return f'"{escaped}"'

    def column(self, name: str) -> str:
        return f"r[{self.literal(name)}]"

    def from_sql(self, spec: QuerySpec) -> str:
        return f"from(bucket: {self.literal(spec.bucket)})"

    def where_sql(self, spec: QuerySpec) -> str:
        fields = " or ".join(f"r._field == {self.literal(f)}" for f in spec.fields)
        lines = [f"  |> range(start: {rfc3339(spec.start_ns)}, stop: {rfc3339(spec.stop_ns)})",
                 f"  |> filter(fn: (r) => r._measurement == {self.literal(spec.measurement)})",
                 f"  |> filter(fn: (r) => {fields})"]
        for tag, values in spec.where.items():
            ors = " or ".join(f"{self.column(tag)} == {self.literal(v)}" for v in values)
            lines.append(f"  |> filter(fn: (r) => {ors})")
        return self.join(lines)

    def group_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            return ""
        cols = ", ".join(self.literal(c) for c in ("_measurement", "_field", *spec.group_by))
        return f"  |> group(columns: [{cols}])"

    def window_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None or not spec.every:
            return ""
        empty = "false" if spec.fill == "none" else "true"
        offset = f"offset: {spec.window_offset}, " if spec.window_offset else ""
        return (f"  |> aggregateWindow(every: {spec.every}, {offset}fn: {self.aggregate_fn(spec)}, "
                f'createEmpty: {empty}, timeSrc: "_start")')

    def reduce_sql(self, spec: QuerySpec) -> str:
        """The aggregate over the whole range (no window)."""
        if spec.aggregate is None or spec.every:
            return ""
        call = self.CALLS.get(spec.aggregate, f"{spec.aggregate}()")
        lines = ["  |> " + call.format(q=_num((spec.p or 0) / 100))]
        if spec.aggregate not in self.SELECTORS:
            lines.append('  |> duplicate(column: "_start", as: "_time")')
        return self.join(lines)

    def fill_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None or not spec.every:
            return ""
        if spec.fill == "previous":
            return "  |> fill(usePrevious: true)"
        if not isinstance(spec.fill, str):
            return f"  |> fill(value: {_num(spec.fill)})"
        return ""

    def energy_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate != "energy":
            return ""
        return (f"  |> map(fn: (r) => ({{r with _value: float(v: r._value) * "
                f"{_num(spec.interval_hours)}}}))")

    def aggregate_fn(self, spec: QuerySpec) -> str:
        assert spec.aggregate is not None
        return self.AGGREGATES[spec.aggregate].format(q=_num((spec.p or 0) / 100))

    def rank_sql(self, spec: QuerySpec, body: str) -> str:
        assert spec.rank is not None
        kind, n = spec.rank
        return self.join([body, "  |> group()", f"  |> {kind}(n: {n})", self.limit_sql(spec)])

    def order_sql(self, spec: QuerySpec) -> str:
        return '  |> sort(columns: ["_time"], desc: true)' if spec.order == "desc" else ""

    def limit_sql(self, spec: QuerySpec) -> str:
        return f"  |> limit(n: {spec.limit + 1})"


# --------------------------------------------------------------------------- SQL


class _SqlGenerator(Generator):
    """What InfluxDB 3 SQL and Timestream SQL share: quoting, WHERE, ORDER BY, LIMIT."""

    QUOTED = re.compile(r"'(?:''|[^'])*'|\"(?:\"\"|[^\"])*\"")
    FORBIDDEN = re.compile(
        r"\b(INTO|DELETE|DROP|CREATE|ALTER|INSERT|UPDATE|MERGE|TRUNCATE|GRANT|COPY|UNLOAD)\b|;",
        re.I)
    CLAUSES = ("select", "from", "where", "group")
    SEP = "\n"

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

    def conditions(self, spec: QuerySpec) -> list[str]:
        """The time range and tag filters (a dialect may put more in front)."""
        time_col = self.ident("time")
        parts = [f"{time_col} >= {self.timestamp(spec.start_ns)}",
                 f"{time_col} < {self.timestamp(spec.stop_ns)}"]
        for tag, values in spec.where.items():
            if len(values) == 1:
                parts.append(f"{self.ident(tag)} = {self.literal(values[0])}")
            else:
                parts.append(f"{self.ident(tag)} IN ({', '.join(self.literal(v) for v in values)})")
        return parts

    def where_sql(self, spec: QuerySpec) -> str:
        return "WHERE " + " AND ".join(self.conditions(spec))

    def time_sql(self, spec: QuerySpec) -> str:
        """The ``time`` column of an aggregate: its window, or the start of the range."""
        window = self.window_sql(spec)
        return f"{window or self.timestamp(spec.start_ns)} AS {self.ident('time')}"

    def window_sql(self, spec: QuerySpec) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def rank_column(self, spec: QuerySpec) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def list_sql(keyword: str, items: list[str]) -> str:
        return f"{keyword} {', '.join(items)}" if items else ""

    def rank_sql(self, spec: QuerySpec, body: str) -> str:
        assert spec.rank is not None
        kind, n = spec.rank
        direction = "DESC" if kind == "top" else "ASC"
        return self.join([body, f"ORDER BY {self.rank_column(spec)} {direction} NULLS LAST",
                          f"LIMIT {min(n, spec.limit + 1)}"])

    def order_sql(self, spec: QuerySpec) -> str:
        order = "DESC" if spec.order == "desc" else "ASC"
        keys = [*(self.ident(t) for t in spec.group_by), f"{self.ident('time')} {order}"]
        return self.list_sql("ORDER BY", keys)

    def limit_sql(self, spec: QuerySpec) -> str:
        return f"LIMIT {spec.limit + 1}"


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

    def window_sql(self, spec: QuerySpec) -> str:
        if not spec.every:
            return ""
        fn = "date_bin" if spec.fill == "none" else "date_bin_gapfill"
        # the origin is a window start: the epoch, shifted to local midnight for days
        origin = spec.window_offset_ns % (spec.every_ns or 1)
        return (f"{fn}({self.interval_sql(spec.every)}, {self.ident('time')}, "
                f"{self.timestamp(origin)})")

    def fill_sql(self, spec: QuerySpec, agg: str) -> str:
        """An aggregate with the window's gap fill applied."""
        if spec.every and spec.fill == "previous":
            return f"locf({agg})"
        if spec.every and spec.fill == "linear":
            return f"interpolate({agg})"
        if spec.every and not isinstance(spec.fill, str):
            return f"coalesce({agg}, {_num(spec.fill)})"
        return agg

    def select_sql(self, spec: QuerySpec) -> str:
        tags = [self.ident(t) for t in spec.group_by]
        if spec.aggregate is None:
            cols = [self.ident("time"), *[self.ident(t) for t in spec.measurement_spec.tags],
                    *[self.ident(f) for f in spec.fields]]
        else:
            aggs = [f"{self.fill_sql(spec, self.aggregate_sql(spec, f))} AS {self.ident(f)}"
                    for f in spec.fields]
            cols = [self.time_sql(spec), *tags, *aggs]
        return self.list_sql("SELECT", cols)

    def from_sql(self, spec: QuerySpec) -> str:
        return f"FROM {self.ident(spec.measurement)}"

    def group_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            return ""
        window = ["1"] if spec.every else []
        return self.list_sql("GROUP BY", [*window, *(self.ident(t) for t in spec.group_by)])

    def rank_column(self, spec: QuerySpec) -> str:
        return self.ident(spec.fields[0])


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

    def window_sql(self, spec: QuerySpec) -> str:
        if not spec.every:
            return ""
        # parse_duration('1h') rather than the 1h shorthand: same interval, standard syntax
        every = f"parse_duration({self.literal(spec.every)})"
        offset = spec.window_offset_ns
        if not offset:
            return f"bin({self.ident('time')}, {every})"
        # bin() has no origin: shift time back, bin, shift the start forward
        shift = f"parse_duration({self.literal(format_duration(abs(offset)))})"
        back, forth = ("-", "+") if offset > 0 else ("+", "-")
        return f"bin({self.ident('time')} {back} {shift}, {every}) {forth} {shift}"

    def select_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            cols = [self.ident("time"), *[self.ident(t) for t in spec.measurement_spec.tags],
                    self.ident("measure_name"), self.ident(self.MEASURE_VALUE)]
        else:
            agg = f"{self.aggregate_sql(spec, spec.fields[0])} AS {self.ident('value')}"
            cols = [self.time_sql(spec), *(self.ident(t) for t in spec.group_by),
                    self.ident("measure_name"), agg]
        return self.list_sql("SELECT", cols)

    def from_sql(self, spec: QuerySpec) -> str:
        return f"FROM {self.ident(self.DATABASE)}.{self.ident(spec.measurement)}"

    def where_sql(self, spec: QuerySpec) -> str:
        fields = spec.fields
        measure = (f"{self.ident('measure_name')} = {self.literal(fields[0])}" if len(fields) == 1
                   else f"{self.ident('measure_name')} IN "
                        f"({', '.join(self.literal(f) for f in fields)})")
        return "WHERE " + " AND ".join([measure, *self.conditions(spec)])

    def group_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            return ""
        window = [self.window_sql(spec)] if spec.every else []
        return self.list_sql("GROUP BY", [*window, *(self.ident(t) for t in spec.group_by),
                                          self.ident("measure_name")])

    def rank_column(self, spec: QuerySpec) -> str:
        return self.ident(self.MEASURE_VALUE if spec.aggregate is None else "value")


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
