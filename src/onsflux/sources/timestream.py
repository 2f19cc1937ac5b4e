"""Amazon Timestream (LiveAnalytics) through its Query API (boto3 ``timestream-query``).

What this module assumes about the service (from the Query API reference):

- ``Query(QueryString, NextToken?, MaxRows?)`` answers ``{QueryId, NextToken?, Rows,
  ColumnInfo, QueryStatus}``; a result is complete when a page comes back without
  ``NextToken``. Pages may be empty while the query runs: keep asking with the token.
- ``ColumnInfo[i] = {Name, Type: {ScalarType}}``; a time-series column has
  ``Type.TimeSeriesMeasureValueColumnInfo`` and arrays/rows have other shapes: those are
  refused (:class:`SchemaError`), the migration reads flat ``SELECT *`` results only.
- ``Rows[j].Data[i]`` is ``{ScalarValue: str}`` or ``{NullValue: true}``; every scalar
  is text. ``TIMESTAMP`` values look like ``2024-01-01 00:00:00.000000000`` (UTC,
  nanoseconds); ``BIGINT`` is a decimal int64 (parsed exactly, never through a float);
  ``DOUBLE`` is decimal text; ``BOOLEAN`` is ``true``/``false``; ``VARCHAR`` is the text.
- Throttling (``ThrottlingException``), ``InternalServerException`` and connection
  errors are transient: retried by the one policy (``onsflux.retry``, from settings),
  then raised as :class:`ServerUnavailable`. Every other
  client error (``ValidationException``, ``AccessDeniedException``,
  ``ResourceNotFoundException`` …) is terminal: :class:`SourceError`.

Pages are parsed column-wise into a polars frame: ``time`` becomes Int64 UTC ns, BIGINT
Int64, DOUBLE Float64, BOOLEAN Boolean, VARCHAR Utf8 (other scalar types stay Utf8).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..aws import client_config, translate_botocore
from ..exceptions import SchemaError
from ..retry import RetryPolicy
from ..settings import Settings


def column_types(column_info: list[dict[str, Any]]) -> dict[str, str]:
    """``ColumnInfo`` (API response or UNLOAD ``*_metadata.json``) → ``{name: SCALAR}``."""
    out: dict[str, str] = {}
    for col in column_info:
        name = col.get("Name")
        ctype = col.get("Type") or {}
        scalar = ctype.get("ScalarType")
        if scalar is None and "TimeSeriesMeasureValueColumnInfo" in ctype:
            raise SchemaError(f"column {name!r} is a time series; flatten it in the query")
        if not name or scalar is None:
            raise SchemaError(f"column {name!r}: unsupported Timestream type {ctype!r}")
        out[str(name)] = str(scalar).upper()
    return out


def parse_timestamps(values: pl.Series) -> pl.Series:
    """Timestream TIMESTAMP text → Int64 UTC ns, exactly (no float on the way).

    ``YYYY-MM-DD HH:MM:SS[.fffffffff]`` (a ``T`` separator is accepted too). The seconds
    go through polars' calendar, the fraction is padded to 9 digits and added as an
    integer, so ``.000000001`` is 1 ns and dates before 1970 stay exact.
    """
    s = values.cast(pl.Utf8).str.strip_chars().str.replace("T", " ", literal=True)
    frame = pl.DataFrame({"s": s})
    secs = pl.col("s").str.slice(0, 19).str.to_datetime(
        "%Y-%m-%d %H:%M:%S", time_unit="ns", strict=True
    ).dt.epoch("ns")
    frac = (
        pl.col("s").str.slice(20).str.strip_chars_end("Z").str.slice(0, 9).str.pad_end(9, "0")
    )
    frac_ns = pl.when(pl.col("s").str.len_chars() > 20).then(frac.cast(pl.Int64)).otherwise(0)
    try:
        return frame.select((secs + frac_ns).alias(values.name)).to_series()
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        bad = s.head(3).to_list()
        raise SchemaError(f"timestamps not in Timestream form (e.g. {bad}): {exc}") from exc


def typed_frame(columns: dict[str, list[str | None]], types: dict[str, str]) -> pl.DataFrame:
    """Text columns (None = NULL) → typed frame as the module docstring says."""
    data: dict[str, pl.Series] = {}
    for name, values in columns.items():
        data[name] = cast_text(pl.Series(name, values, dtype=pl.Utf8), types.get(name, "VARCHAR"))
    return pl.DataFrame(data)


def cast_text(s: pl.Series, scalar: str) -> pl.Series:
    """One text column → its Timestream type (strict: a bad value raises SchemaError)."""
    try:
        if scalar == "TIMESTAMP":
            return parse_timestamps(s)
        if scalar in ("BIGINT", "INTEGER"):
            return s.str.strip_chars().cast(pl.Int64, strict=True)
        if scalar == "DOUBLE":
            return s.str.strip_chars().cast(pl.Float64, strict=True)
        if scalar == "BOOLEAN":
            low = s.str.strip_chars().str.to_lowercase()
            bad = low.is_not_null() & ~low.is_in(["true", "false"])
            if bad.any():
                raise SchemaError(f"column {s.name!r}: not a boolean: {s.filter(bad).head(3)}")
            return (low == "true").alias(s.name)
    except pl.exceptions.InvalidOperationError as exc:
        raise SchemaError(f"column {s.name!r} is not {scalar}: {exc}") from exc
    return s


@dataclass
class QueryResult:
    frame: pl.DataFrame
    types: dict[str, str]
    pages: int
    query_id: str | None


class TimestreamQuery:
    """Runs SQL on Timestream and returns typed frames; one boto3 client, retries included."""

    def __init__(
        self,
        settings: Settings,
        client: Any | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._client = client
        self._retry = RetryPolicy.from_settings(settings, sleep=sleep)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "timestream-query", region_name=self.settings.aws_region, config=client_config(),
            )
        return self._client

    def _page(self, sql: str, token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"QueryString": sql}
        if token:
            kwargs["NextToken"] = token

        def once(_attempt: int) -> dict[str, Any]:
            try:
                return dict(self.client.query(**kwargs))
            except Exception as exc:  # noqa: BLE001 - classified by translate
                raise translate(exc, sql) from exc

        return self._retry.call(once, what=f"Timestream query {sql[:80]!r}")

    def pages(self, sql: str) -> Iterator[dict[str, Any]]:
        """Every response page of ``sql`` (``NextToken`` followed to the end)."""
        token: str | None = None
        while True:
            page = self._page(sql, token)
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def query(self, sql: str) -> QueryResult:
        """All rows of ``sql`` as one typed frame."""
        types: dict[str, str] | None = None
        names: list[str] = []
        cols: list[list[str | None]] = []
        pages = 0
        query_id = None
        for page in self.pages(sql):
            pages += 1
            query_id = page.get("QueryId", query_id)
            if types is None and page.get("ColumnInfo"):
                types = column_types(page["ColumnInfo"])
                names = list(types)
                cols = [[] for _ in names]
            for row in page.get("Rows") or []:
                data = row.get("Data") or []
                if len(data) != len(names):
                    raise SchemaError(f"row with {len(data)} values for {len(names)} columns")
                for i, datum in enumerate(data):
                    if datum.get("NullValue"):
                        cols[i].append(None)
                    elif "ScalarValue" in datum:
                        cols[i].append(datum["ScalarValue"])
                    else:
                        raise SchemaError(f"column {names[i]!r}: non-scalar value {datum!r}")
        types = types or {}
        frame = typed_frame(dict(zip(names, cols, strict=True)), types)
        return QueryResult(frame=frame, types=types, pages=pages, query_id=query_id)


def translate(exc: BaseException, what: str) -> Exception:
    """A botocore error → ServerUnavailable (transient) or SourceError (terminal)."""
    return translate_botocore(exc, service="Timestream", where=what)


def ts_literal(ns: int) -> str:
    """``from_nanoseconds(N)``: an exact Timestream timestamp literal."""
    return f"from_nanoseconds({int(ns)})"


def quote_ts_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
