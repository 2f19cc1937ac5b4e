"""Run a QuerySpec (or raw read-only InfluxQL) and normalize the answer.

- InfluxQL goes over the v1 ``/query`` endpoint with ``epoch=ns`` -- 1.x natively, 2.x
  and 3.x through their v1-compatible API -- as an HTTP GET (the read verb). This is
  *not* a server-side guard: 1.6.7 executes DROP/CREATE sent as GET and only warns
  (pinned by a test); ``guard.check_influxql`` and the renderers are the guard.
- Flux goes over ``/api/v2/query`` (annotated CSV) when the server says it is 2.x.
- Both go through the ``InfluxClient`` transport: its retries (5xx/429/timeouts, backoff
  with jitter) and its circuit breaker apply. The per-query timeout is the client's
  (``settings.timeout_seconds``).
- ``ServerUnavailable`` / ``CircuitOpen`` with a fallback (``fallback=``; by default the
  one ``settings.fallback_path`` names; ``fallback=None``: none) -> the same spec
  answered from Parquet, marked ``served_from="s3_fallback"`` with a warning saying why.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
import time
from datetime import datetime
from typing import Any, Literal

from .. import metrics
from ..exceptions import CircuitOpen, QueryError, ServerUnavailable
from ..influx.client import InfluxClient
from ..influx.transport import shared_breaker
from ..ingest.series import SeriesIndex, parse_series_key
from ..quoting import quote_ident
from ..settings import Settings
from . import rollup
from .fallback import ParquetFallback, StoreFallback
from .guard import check_influxql
from .render import render
from .result import QueryResult, Row, bound
from .spec import NS, QuerySpec

log = logging.getLogger(__name__)

Dialect = Literal["auto", "influxql", "flux"]
RAW_LIMIT = 10_000
#: ``Executor(fallback=...)`` default: the fallback ``settings.fallback_path`` names, if any
FROM_SETTINGS: Literal["settings"] = "settings"
#: how long the series list behind ``refuse_parallel_series`` is reused
PARALLEL_CHECK_SECONDS = 30.0
_FRACTION = re.compile(r"\.([0-9]+)")


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 (as Flux prints it, up to nanoseconds) -> integer ns since the epoch."""
    text = text.strip()
    frac = 0
    m = _FRACTION.search(text)
    if m:  # datetime keeps microseconds only: the fraction is read apart
        frac = int(m.group(1)[:9].ljust(9, "0"))
        text = text[:m.start()] + text[m.end():]
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp()) * NS + frac


def influxql_rows(results: list[dict[str, Any]], spec: QuerySpec | None) -> list[Row]:
    """Series of a ``/query`` answer as rows; columns not in the spec's fields are tags."""
    rows: list[Row] = []
    fields = set(spec.fields) if spec else None
    for result in results:
        for series in result.get("series") or []:
            name = spec.measurement if spec is not None else str(series.get("name", ""))
            base = {k: str(v) for k, v in (series.get("tags") or {}).items() if v not in (None, "")}
            columns = series.get("columns") or []
            for values in series.get("values") or []:
                record = dict(zip(columns, values, strict=False))
                t = int(record.pop("time", 0) or 0)
                tags = dict(base)
                numbers: dict[str, Any] = {}
                for k, v in record.items():
                    is_field = k in fields if fields is not None else not isinstance(v, str)
                    if is_field:
                        numbers[k] = v
                    elif v not in (None, ""):
                        tags[k] = str(v)
                if not numbers and fields is None:
                    rows.append(Row(t, name, "", None, tags))
                for k, v in numbers.items():
                    value = None if v is None else float(v)
                    rows.append(Row(t, name, k, value, tags))
    return rows


_FLUX_META = {"", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}


def flux_rows(text: str) -> list[Row]:
    """Annotated CSV of ``/api/v2/query`` as rows (one table after another)."""
    rows: list[Row] = []
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or all(not c for c in record):
            header = None
            continue
        if record[0].startswith("#"):
            header = None
            continue
        if header is None:
            header = record
            continue
        item = dict(zip(header, record, strict=False))
        if item.get("error"):
            raise QueryError(f"flux: {item['error']}", body=text[:2000])
        raw_time = item.get("_time") or item.get("_start") or ""
        t = parse_rfc3339_ns(raw_time) if raw_time else 0
        value = item.get("_value", "")
        tags = {k: v for k, v in item.items() if k not in _FLUX_META and v != ""}
        rows.append(Row(t, item.get("_measurement", ""), item.get("_field", ""),
                        float(value) if value not in ("", None) else None, tags))
    return rows


class Executor:
    """Runs queries on one InfluxDB, with the Parquet fallback when it is down."""

    def __init__(
        self,
        settings: Settings,
        client: InfluxClient | None = None,
        *,
        fallback: ParquetFallback | Literal["settings"] | None = FROM_SETTINGS,
    ) -> None:
        """``fallback``: by default the files ``settings.fallback_path`` names, or when it
        is unset the objects the state store recorded as ingested; ``None``: no fallback,
        whatever the settings say."""
        self.settings = settings
        self._own = client is None
        if client is None:
            from ..influx.local import resolve_url

            url = resolve_url(settings)
            # one breaker per server for the whole process: with InfluxDB down, requests
            # after the first few fail fast to the fallback instead of retrying each time
            client = InfluxClient(settings, url=url, breaker=shared_breaker(settings, url))
        self.client = client
        if fallback == FROM_SETTINGS:
            fallback = (ParquetFallback(settings.fallback_path, settings)
                        if settings.fallback_path else StoreFallback(settings))
        self.fallback: ParquetFallback | None = fallback
        self._series_cache: dict[str, tuple[float, list[dict[str, str]]]] = {}
        from ..influx.rollup import Coverage  # influx.rollup imports query.rollup

        self._coverage = Coverage()

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ front door

    def run(self, spec: QuerySpec, *, dialect: Dialect = "auto",
            window_note: bool = True) -> QueryResult:
        """Answer ``spec`` from InfluxDB, or from the fallback when InfluxDB is down.

        ``window_note=False``: the caller words the spec's daylight-saving note itself
        (the answer service does, in the question's language).
        """
        started = time.perf_counter()
        try:
            if dialect == "auto":
                dialect = "flux" if self.client.kind == "2.x" else "influxql"
            self.refuse_parallel_series(spec)
            result = self._run_flux(spec) if dialect == "flux" else self._run_influxql(spec)
        except (ServerUnavailable, CircuitOpen) as exc:
            metrics.breaker_state(self.client.breaker.state)
            if self.fallback is None:
                raise
            if isinstance(self.fallback, StoreFallback) and not self.fallback.has_data(spec):
                raise  # nothing ingested to answer from: InfluxDB's error is the answer
            result = self.fallback.run(spec)
            metrics.inc("onsflux_query_fallback_total")
            # the warning reaches users (API bodies): the kind only; the address is logged
            log.warning("InfluxDB unavailable, answered from the Parquet files: %s", exc)
            result.warnings.append(f"InfluxDB unavailable ({exc.kind}); answered from "
                                   "the files the ingest read")
        else:
            metrics.breaker_state(self.client.breaker.state)
        if window_note and spec.window_note and spec.window_note not in result.warnings:
            result.warnings.append(spec.window_note)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.observe("onsflux_query_seconds", result.elapsed_ms / 1000,
                        backend=result.served_from)
        return result

    def run_influxql(self, text: str, *, db: str | None = None,
                     limit: int = RAW_LIMIT) -> QueryResult:
        """Raw InfluxQL: SELECT/SHOW only (``guard.check_influxql``), at most ``limit`` rows."""
        check_influxql(text)
        started = time.perf_counter()
        rows, truncated = bound(influxql_rows(self.client.query(text, db=db, method="GET"), None), limit)
        return QueryResult(rows, truncated, "influxdb", "influxql", text,
                           (time.perf_counter() - started) * 1000)

    # ------------------------------------------------------------------ languages

    def refuse_parallel_series(self, spec: QuerySpec) -> None:
        """Never sum parallel series: a ``sum``/``count``/``energy`` over series that hold
        the same quantity under two tag sets (``ingest.series``) would count it twice, so
        it raises :class:`ParallelSeries` naming them instead of answering a wrong number.

        One ``SHOW SERIES`` per measurement, cached for ``PARALLEL_CHECK_SECONDS``; a
        query grouped by every identity tag sums nothing across series and is not checked.
        """
        if spec.aggregate not in ("sum", "count", "energy"):
            return
        m = spec.measurement_spec
        if not m.identity_tags or set(m.identity_tags) <= set(spec.group_by):
            return
        now = time.monotonic()
        cached = self._series_cache.get(spec.measurement)
        if cached is None or now - cached[0] > PARALLEL_CHECK_SECONDS:
            try:
                rows = self.client.query_points(
                    f"SHOW SERIES FROM {quote_ident(spec.measurement)}", db=spec.bucket)
            except QueryError:
                return  # no database yet: nothing to double
            cached = (now, [parse_series_key(str(r.get("key", "")))[1] for r in rows])
            self._series_cache[spec.measurement] = cached
        wanted = [t for t in cached[1] if all(t.get(k) in v for k, v in spec.where.items())]
        SeriesIndex(spec.measurement).check_stored(wanted, spec.measurement)

    def _run_influxql(self, spec: QuerySpec) -> QueryResult:
        planned = self._from_rollup(spec)
        if planned is not None:
            return planned
        rendered = render(spec, "influxql")
        try:
            results = self.client.query(rendered.text, db=spec.bucket, method="GET")
        except QueryError as exc:
            if not exc.database_missing:
                raise
            # nothing was ever ingested into this bucket: an empty answer, said out loud
            return QueryResult([], False, "influxdb", "influxql", rendered.text, warnings=[
                f"no data has been ingested into {spec.bucket!r} yet (database not found)"])
        rows, truncated = bound(influxql_rows(results, spec), spec.limit)
        return QueryResult(rows, truncated, "influxdb", "influxql", rendered.text)

    def _from_rollup(self, spec: QuerySpec) -> QueryResult | None:
        """``spec`` answered from the cheapest rollup plan that is exactly equivalent and
        covers every period it would read (``query/rollup.py``); None: read the raw series.

        A widened plan first counts the raw points in its gaps (one request) and is used
        only when there are none; a split plan (whole periods from the rollup, the ends
        raw) is one request of several statements whose statistics ``rollup.combine``
        adds up. When no plan is fully covered, ``rollup.patched`` reads the covered
        periods from the rollup and the others raw."""
        if not self.settings.rollups:
            return None
        partly: list[rollup.Rollup] = []
        for plan in rollup.plans(spec):
            if not self._coverage.covered(self.client, plan):
                if plan.rollup not in partly:
                    partly.append(plan.rollup)
                continue
            if plan.gaps and self._gaps_hold_points(spec, plan):
                continue
            return self._run_plan(spec, plan)
        # some periods uncovered (a day two files share, hours another object rewrote):
        # the covered ones from the cheapest rollup that has at least half, the rest raw
        for r in partly:
            patched = rollup.patched(
                spec, r, self._coverage.periods(self.client, r, *rollup.inside(spec, r)))
            if patched is not None:
                return self._run_plan(spec, patched)
        return None

    def _run_plan(self, spec: QuerySpec, plan: rollup.Plan) -> QueryResult:
        results = self.client.query(plan.text, db=spec.bucket, method="GET")
        if plan.parts:
            found = rollup.combine(spec, plan, results)
        else:  # rows are named after the spec's measurement, as the raw series' are
            found = influxql_rows(results, spec)
            if not spec.every and plan.start_ns != spec.start_ns:  # widened
                found = [dataclasses.replace(r, time_ns=spec.start_ns) for r in found]
        rows, truncated = bound(found, spec.limit)
        return QueryResult(rows, truncated, "influxdb", "influxql", plan.text)

    def _gaps_hold_points(self, spec: QuerySpec, plan: rollup.Plan) -> bool:
        results = self.client.query(plan.gaps_text, db=spec.bucket, method="GET")
        return any(v for row in influxql_rows(results, spec) for v in [row.value])

    def _run_flux(self, spec: QuerySpec) -> QueryResult:
        rendered = render(spec, "flux")
        csv = self.client.query_flux(rendered.text, what=f"flux query on {spec.bucket!r}")
        rows, truncated = bound(flux_rows(csv), spec.limit)
        return QueryResult(rows, truncated, "influxdb", "flux", rendered.text)
