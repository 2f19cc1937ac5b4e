"""The engines a cutover switches between, behind one interface: ``run(spec) -> QueryResult``.

- ``influxdb`` (green): the query executor on InfluxDB, with **no** Parquet fallback: a
  green failure must be seen as one (counted, rolled back on), not hidden by the files.
- ``timestream`` (blue in AWS): the spec rendered as Timestream SQL
  (``query.render``, the legacy single-measure tables) and run with boto3
  ``timestream-query`` through :class:`onsflux.sources.timestream.TimestreamQuery`
  (``NextToken`` pagination, typed columns, throttling retried with backoff).
- ``files`` (blue locally): the polars engine over the processed Parquet files the old
  platform was fed from (:class:`onsflux.query.ParquetFallback`), so a whole cutover
  runs on one machine, in tests and in ``onsflux cutover rehearse``.

Every backend answers with the same ``QueryResult`` rows (``time_ns, measurement, field,
value, tags``) and says who it is in ``served_from``; that is what the comparator and the
API's ``served_from`` rely on.
"""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

from ..exceptions import ConfigError
from ..query.render import Generator, TimestreamSqlGenerator
from ..query.result import QueryResult, Row, bound
from ..query.spec import QuerySpec
from ..settings import Settings

BackendName = Literal["influxdb", "timestream", "files"]
BACKENDS: tuple[str, ...] = ("influxdb", "timestream", "files")


class Backend(Protocol):
    """One engine that answers a ``QuerySpec``."""

    name: str

    def run(self, spec: QuerySpec) -> QueryResult: ...

    def close(self) -> None: ...


class InfluxBackend:
    """Green: the existing executor, without the Parquet fallback (see the module docstring)."""

    name = "influxdb"

    def __init__(self, settings: Settings, executor: Any | None = None) -> None:
        from ..query.execute import Executor

        self.executor = executor if executor is not None else Executor(settings, fallback=None)

    def run(self, spec: QuerySpec) -> QueryResult:
        return self.executor.run(spec, window_note=False)

    def close(self) -> None:
        self.executor.close()


class FilesBackend:
    """Blue, locally: polars over the processed Parquet files."""

    name = "files"

    def __init__(self, path: str, settings: Settings | None = None) -> None:
        from ..query.fallback import ParquetFallback

        self.path = path
        self.engine = ParquetFallback(path, settings)

    def run(self, spec: QuerySpec) -> QueryResult:
        result = self.engine.run(spec)
        result.served_from = "files"
        return result

    def close(self) -> None:
        return None


class TimestreamMultiSqlGenerator(TimestreamSqlGenerator):
    """Timestream SQL over **multi-measure** tables (what the dual-write writes): one
    record per (dimensions, time), ``measure_name`` = the measurement, one column per
    field. Columns: raw ``time, <tags…>, <fields…>``; aggregates ``time, <group tags…>,
    <aggregate of each field> AS <field>``."""

    def aggregate_sql(self, spec: QuerySpec, field: str) -> str:
        return Generator.aggregate_sql(self, spec, field)  # the field's own column

    def select_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            cols = [self.ident("time"), *(self.ident(t) for t in spec.measurement_spec.tags),
                    *(self.ident(f) for f in spec.fields)]
        else:
            cols = [self.time_sql(spec), *(self.ident(t) for t in spec.group_by),
                    *(f"{self.aggregate_sql(spec, f)} AS {self.ident(f)}" for f in spec.fields)]
        return self.list_sql("SELECT", cols)

    def where_sql(self, spec: QuerySpec) -> str:
        measure = f"{self.ident('measure_name')} = {self.literal(spec.measurement)}"
        return "WHERE " + " AND ".join([measure, *self.conditions(spec)])

    def group_sql(self, spec: QuerySpec) -> str:
        if spec.aggregate is None:
            return ""
        window = [self.window_sql(spec)] if spec.every else []
        return self.list_sql("GROUP BY", [*window, *(self.ident(t) for t in spec.group_by)])

    def rank_column(self, spec: QuerySpec) -> str:
        return self.ident(spec.fields[0])


class TimestreamBackend:
    """Blue, in AWS: Timestream SQL over boto3 ``timestream-query``.

    ``shape`` (``settings.timestream_shape``) says how the tables hold a row, the same
    shape the dual-write writes: ``multi`` (:class:`TimestreamMultiSqlGenerator`: a column
    per field) or ``single``, the legacy one measure per record
    (``query.render.TimestreamSqlGenerator``: raw ``time, <tags…>, measure_name,
    measure_value::double``, aggregates ``time, <group tags…>, measure_name, value``,
    ``measure_name`` being the field). Every other non-null column is a tag.
    """

    name = "timestream"
    _VALUE_COLUMNS = ("measure_value::double", "value")

    def __init__(self, settings: Settings, client: Any | None = None, *,
                 sleep: Any = time.sleep) -> None:
        from ..sources.timestream import TimestreamQuery

        self.reader = TimestreamQuery(settings, client, sleep=sleep)
        self.shape = settings.timestream_shape
        self.database = settings.timestream_database

    def sql(self, spec: QuerySpec) -> str:
        generator = (TimestreamMultiSqlGenerator() if self.shape == "multi"
                     else TimestreamSqlGenerator())
        generator.DATABASE = self.database
        return generator.generate(spec).text

    def run(self, spec: QuerySpec) -> QueryResult:
        started = time.perf_counter()
        sql = self.sql(spec)
        answer = self.reader.query(sql)
        records = answer.frame.to_dicts()
        rows = self.multi_rows(records, spec) if self.shape == "multi" else \
            self.rows(records, spec)
        rows, truncated = bound(rows, spec.limit)
        return QueryResult(rows, truncated, "timestream", "timestream", sql,
                           (time.perf_counter() - started) * 1000)

    @staticmethod
    def multi_rows(records: list[dict[str, Any]], spec: QuerySpec) -> list[Row]:
        """Multi-measure answers -> one row per field column (see the class docstring)."""
        out: list[Row] = []
        fields = list(spec.fields)
        for rec in records:
            t = rec.get("time")
            if t is None:
                raise ConfigError(f"a Timestream answer without a time column: {sorted(rec)}")
            tags = {k: str(v) for k, v in rec.items()
                    if k != "time" and k not in fields and v not in (None, "")}
            for f in fields:
                if f in rec:
                    v = rec[f]
                    out.append(Row(int(t), spec.measurement, f,
                                   None if v is None else float(v), tags))
        return out

    @classmethod
    def rows(cls, records: list[dict[str, Any]], spec: QuerySpec) -> list[Row]:
        """Single-measure answers -> result rows (see the class docstring)."""
        out: list[Row] = []
        for rec in records:
            rec = dict(rec)
            t = rec.pop("time", None)
            field = rec.pop("measure_name", None)
            value: Any = None
            for col in cls._VALUE_COLUMNS:
                if col in rec:
                    value = rec.pop(col)
                    break
            if t is None or field is None:
                raise ConfigError("a Timestream answer without time or measure_name columns: "
                                  f"columns {sorted(rec)}")
            tags = {k: str(v) for k, v in rec.items() if v not in (None, "")}
            out.append(Row(int(t), spec.measurement, str(field),
                           None if value is None else float(value), tags))
        return out

    def close(self) -> None:
        return None


def make_backend(name: str, settings: Settings, *, files_path: str | None = None,
                 client: Any | None = None) -> Backend:
    """The backend called ``name``; ``files`` reads ``files_path`` (default: the fallback path)."""
    if name == "influxdb":
        return InfluxBackend(settings)
    if name == "timestream":
        return TimestreamBackend(settings, client)
    if name == "files":
        path = files_path or settings.fallback_path
        if not path:
            raise ConfigError("the files backend needs a folder or s3:// prefix of processed "
                              "Parquet files: --files PATH or ONSFLUX_FALLBACK_PATH")
        return FilesBackend(path, settings)
    raise ConfigError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
