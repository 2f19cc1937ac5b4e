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


class TimestreamBackend:
    """Blue, in AWS: Timestream SQL over boto3 ``timestream-query``.

    Result columns of the rendered SQL (``query.render.TimestreamSqlGenerator``): raw
    points are ``time, <tags…>, measure_name, measure_value::double``; aggregates are
    ``time, <group tags…>, measure_name, value``. ``measure_name`` is the field; every
    other non-null column is a tag.
    """

    name = "timestream"
    _VALUE_COLUMNS = ("measure_value::double", "value")

    def __init__(self, settings: Settings, client: Any | None = None, *,
                 sleep: Any = time.sleep) -> None:
        from ..sources.timestream import TimestreamQuery

        self.reader = TimestreamQuery(settings, client, sleep=sleep)

    def run(self, spec: QuerySpec) -> QueryResult:
        from ..query.render import render

        started = time.perf_counter()
        sql = render(spec, "timestream").text
        answer = self.reader.query(sql)
        rows = self.rows(answer.frame.to_dicts(), spec)
        rows, truncated = bound(rows, spec.limit)
        return QueryResult(rows, truncated, "timestream", "timestream", sql,
                           (time.perf_counter() - started) * 1000)

    @classmethod
    def rows(cls, records: list[dict[str, Any]], spec: QuerySpec) -> list[Row]:
        """Typed Timestream rows -> result rows (see the class docstring)."""
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
