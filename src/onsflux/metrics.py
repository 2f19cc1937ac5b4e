"""One set of metric names for every onsflux process, and the two ways they leave it.

Names follow vmctl and the Prometheus conventions: counters end in ``_total``, durations
are histograms in ``_seconds``, gauges name their unit (``_seconds``, ``_ratio``). The
:data:`CATALOG` below is the only place a name is declared; the code records through
:func:`inc`, :func:`observe` and :func:`set_gauge`, which refuse an undeclared name, and
the Terraform alarms, the CloudWatch dashboard and the Prometheus alert rules are tested
against the same catalog (``tests/unit/test_ops_wiring.py``).

Where the values go:

- **Prometheus** (always): one process-wide :data:`REGISTRY`, served by the API's
  ``GET /metrics`` (``onsflux serve``, and the API Lambda for anyone who asks) and by
  ``migrate run/sync --metrics-port``. Labels are Prometheus labels.
- **CloudWatch embedded metric format** (in the Lambdas): :func:`lambda_metrics` wraps a
  handler, buffers what the invocation recorded, and prints EMF JSON lines to stdout at
  the end, which CloudWatch Logs turns into metrics in the ``onsflux`` namespace with the
  dimension ``service=onsflux`` (plus the labels a definition lists in
  ``cw_dimensions``). Counters are summed per invocation, histograms keep every value
  (CloudWatch computes p95 from them), gauges keep their last value per label set and
  report the largest over the labels that are not dimensions (the worst table's sync
  lag). Labels that are not dimensions are summed away for counters: CloudWatch charges
  per dimension combination.

Why Powertools for AWS Lambda ``Metrics`` (its EMF provider) rather than
``aws-embedded-metrics``: Powertools is synchronous (aws-embedded-metrics flushes through
asyncio), validates names, units and the 100-metrics/30-dimensions limits before
CloudWatch silently drops a blob, and is released monthly by AWS.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

Kind = Literal["counter", "gauge", "histogram"]

#: CloudWatch namespace of every custom metric, and the one dimension all of them carry
NAMESPACE = "onsflux"
SERVICE = "onsflux"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_OBJECT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


@dataclass(frozen=True)
class MetricDef:
    """One metric: its name, kind, what it means, its labels and its CloudWatch unit."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    cw_unit: str = "Count"
    cw_dimensions: tuple[str, ...] = ()
    buckets: tuple[float, ...] = _LATENCY_BUCKETS
    #: the job that emits it: ingest | query | api | migrate | cutover
    area: str = ""


CATALOG: tuple[MetricDef, ...] = (
    # ---------------------------------------------------------------- ingest
    MetricDef("onsflux_ingest_objects_total", "counter",
              "objects ingested, by outcome (ingested, failed, skipped, busy, dry_run)",
              ("status",), area="ingest"),
    MetricDef("onsflux_ingest_points_written_total", "counter",
              "points the server acknowledged as written by ingest", area="ingest"),
    MetricDef("onsflux_ingest_rejects_total", "counter",
              "rows rejected (by validation or by the server), each with a reason in the "
              "state store", area="ingest"),
    MetricDef("onsflux_ingest_dead_letters_total", "counter",
              "objects that failed as a whole and were recorded as dead letters",
              area="ingest"),
    MetricDef("onsflux_ingest_verify_mismatches_total", "counter",
              "objects whose read-back totals did not match what was written", area="ingest"),
    MetricDef("onsflux_ingest_object_seconds", "histogram",
              "time to ingest one object, read to verify", cw_unit="Seconds",
              buckets=_OBJECT_BUCKETS, area="ingest"),
    # ------------------------------------------------ InfluxDB writes (ingest + migrate)
    MetricDef("onsflux_influx_write_seconds", "histogram",
              "time of one batch write to InfluxDB, retries included", cw_unit="Seconds",
              area="ingest"),
    MetricDef("onsflux_influx_write_retries_total", "counter",
              "write attempts retried after a 5xx, 429 or timeout", area="ingest"),
    MetricDef("onsflux_influx_write_errors_total", "counter",
              "batches InfluxDB refused or failed after every retry (the engine's write "
              "errors as the writer sees them)", area="ingest"),
    MetricDef("onsflux_influx_breaker_state", "gauge",
              "circuit breaker in front of InfluxDB: 0 closed, 1 half-open, 2 open",
              cw_unit="None", area="ingest"),
    # ---------------------------------------------------------------- queries
    MetricDef("onsflux_query_seconds", "histogram",
              "time to answer one query, by the backend that answered "
              "(influxdb, s3_fallback, timestream)",
              ("backend",), cw_unit="Seconds", cw_dimensions=("backend",), area="query"),
    MetricDef("onsflux_query_fallback_total", "counter",
              "queries answered from the Parquet fallback because InfluxDB was down",
              area="query"),
    # ---------------------------------------------------------------- HTTP API
    MetricDef("onsflux_api_requests_total", "counter", "HTTP requests, by path and status",
              ("path", "status"), area="api"),
    MetricDef("onsflux_api_server_errors_total", "counter",
              "HTTP responses with a 5xx status", ("path",), area="api"),
    MetricDef("onsflux_api_request_seconds", "histogram", "HTTP request latency",
              ("path",), cw_unit="Seconds", area="api"),
    MetricDef("onsflux_answers_total", "counter", "answers by status and origin",
              ("status", "served_from"), area="api"),
    # ---------------------------------------------------------------- migration
    MetricDef("onsflux_migrate_partitions_done_total", "counter",
              "migration partitions finished", area="migrate"),
    MetricDef("onsflux_migrate_partitions_failed_total", "counter",
              "migration partitions that failed (retried by the next run)", area="migrate"),
    MetricDef("onsflux_migrate_points_total", "counter", "points migrated", area="migrate"),
    MetricDef("onsflux_migrate_sync_lag_seconds", "gauge",
              "replication lag of migrate sync: now minus the table's watermark",
              ("table",), cw_unit="Seconds", area="migrate"),
    # ---------------------------------------------------------------- cutover
    MetricDef("onsflux_cutover_phase", "gauge",
              "cutover phase: 0 blue, 1 shadow, 2 canary, 3 green, 4 green-shadow, 5 rolled-back",
              cw_unit="None", area="cutover"),
    MetricDef("onsflux_cutover_canary_percent", "gauge",
              "share of requests served by InfluxDB during the canary phase",
              cw_unit="Percent", area="cutover"),
    MetricDef("onsflux_cutover_consistency_ratio", "gauge",
              "share of shadow comparisons that matched over the recent window (0-1)",
              cw_unit="None", area="cutover"),
    MetricDef("onsflux_cutover_comparisons_total", "counter",
              "shadow comparisons by outcome (match, value, missing, extra, error, timeout)",
              ("outcome",), area="cutover"),
)

BY_NAME: dict[str, MetricDef] = {d.name: d for d in CATALOG}

#: ``onsflux_cutover_phase`` values, in the order the cutover moves through them
CUTOVER_PHASES: dict[str, int] = {"blue": 0, "shadow": 1, "canary": 2, "green": 3,
                                  "green-shadow": 4, "rolled-back": 5}
BREAKER_STATES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}

REGISTRY = CollectorRegistry()


def _build(d: MetricDef) -> Counter | Gauge | Histogram:
    if d.kind == "counter":
        return Counter(d.name, d.help, d.labels, registry=REGISTRY)
    if d.kind == "gauge":
        return Gauge(d.name, d.help, d.labels, registry=REGISTRY)
    return Histogram(d.name, d.help, d.labels, registry=REGISTRY, buckets=d.buckets)


_PROM: dict[str, Any] = {d.name: _build(d) for d in CATALOG}


# --------------------------------------------------------------------------- recording

class _EmfBuffer:
    """What one Lambda invocation recorded, to be printed as EMF when it ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (name, dimension values) -> values (counters summed at flush, histograms kept)
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        # gauges: (name, dimension values) -> {all labels: last value}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]],
                          dict[tuple[tuple[str, str], ...], float]] = {}

    def add(self, d: MetricDef, labels: dict[str, str], value: float) -> None:
        dims = tuple((k, labels[k]) for k in d.cw_dimensions)
        with self.lock:
            if d.kind == "gauge":
                self.gauges.setdefault((d.name, dims), {})[tuple(sorted(labels.items()))] = value
            else:
                self.values.setdefault((d.name, dims), []).append(value)


_emf: _EmfBuffer | None = None


def _lookup(name: str, kind: Kind, labels: dict[str, Any]) -> tuple[MetricDef, dict[str, str]]:
    d = BY_NAME.get(name)
    if d is None:
        raise KeyError(f"metric {name!r} is not declared in onsflux.metrics.CATALOG")
    if d.kind != kind:
        raise TypeError(f"metric {name!r} is a {d.kind}, not a {kind}")
    if set(labels) != set(d.labels):
        raise ValueError(f"metric {name!r} takes labels {d.labels}, got {tuple(labels)}")
    return d, {k: str(v) for k, v in labels.items()}


def _prom(d: MetricDef, labels: dict[str, str]) -> Any:
    m = _PROM[d.name]
    return m.labels(**labels) if d.labels else m


def inc(name: str, amount: float = 1.0, **labels: Any) -> None:
    """Add ``amount`` to a counter."""
    if amount < 0:
        raise ValueError(f"counter {name!r} cannot go down ({amount})")
    d, lab = _lookup(name, "counter", labels)
    _prom(d, lab).inc(amount)
    if _emf is not None:
        _emf.add(d, lab, amount)


def observe(name: str, value: float, **labels: Any) -> None:
    """Record one value of a histogram (seconds)."""
    d, lab = _lookup(name, "histogram", labels)
    _prom(d, lab).observe(value)
    if _emf is not None:
        _emf.add(d, lab, value)


def set_gauge(name: str, value: float, **labels: Any) -> None:
    """Set a gauge to its current value."""
    d, lab = _lookup(name, "gauge", labels)
    _prom(d, lab).set(value)
    if _emf is not None:
        _emf.add(d, lab, value)


def breaker_state(state: str) -> None:
    """Publish a circuit breaker's state (``closed``, ``half_open``, ``open``)."""
    set_gauge("onsflux_influx_breaker_state", BREAKER_STATES[state])


def cutover_phase(phase: str, canary_percent: float | None = None) -> None:
    """Publish the cutover phase by name (see :data:`CUTOVER_PHASES`)."""
    set_gauge("onsflux_cutover_phase", CUTOVER_PHASES[phase])
    if canary_percent is not None:
        set_gauge("onsflux_cutover_canary_percent", canary_percent)


# --------------------------------------------------------------------------- reading

def value(name: str, **labels: Any) -> float:
    """Current value of a counter or gauge in this process (the /ops page and tests)."""
    d = BY_NAME[name]
    sample = name if d.kind != "histogram" else name + "_count"
    got = REGISTRY.get_sample_value(sample, {k: str(v) for k, v in labels.items()})
    return float(got or 0.0)


def total(name: str) -> float:
    """Sum of a metric over every label combination (``_count`` for histograms)."""
    d = BY_NAME[name]
    sample = name if d.kind != "histogram" else name + "_count"
    out = 0.0
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == sample:
                out += s.value
    return out


def serve_http(port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` of this process on ``addr:port`` in a daemon thread (long-running
    commands); returns the server (``.shutdown()`` stops it)."""
    server, _thread = _start_http_server(port, addr=addr, registry=REGISTRY)
    return server


# --------------------------------------------------------------------------- EMF

def emf_documents(buffer: _EmfBuffer, *, function: str | None = None) -> list[dict[str, Any]]:
    """The EMF JSON documents for what ``buffer`` holds, one per dimension combination.

    Serialised by Powertools' CloudWatch EMF provider, which validates units, names and
    the per-document limits.
    """
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    groups: dict[tuple[tuple[str, str], ...], list[tuple[MetricDef, list[float]]]] = {}
    with buffer.lock:
        # a gauge's labels that are not dimensions (sync lag per table) collapse to their
        # maximum: the worst table is what an alarm on the metric must see
        items = list(buffer.values.items()) + [
            (key, [max(last.values())]) for key, last in buffer.gauges.items()]
    for (name, dims), values in items:
        groups.setdefault(dims, []).append((BY_NAME[name], values))
    docs: list[dict[str, Any]] = []
    for dims, metrics in sorted(groups.items()):
        provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
        for key, dim_value in dims:
            provider.add_dimension(name=key, value=dim_value)
        for d, values in metrics:
            if d.kind == "counter":
                provider.add_metric(name=d.name, unit=d.cw_unit, value=sum(values))
            elif d.kind == "gauge":
                provider.add_metric(name=d.name, unit=d.cw_unit, value=values[0])
            else:
                for one in values[:100]:  # EMF: at most 100 values per metric per document
                    provider.add_metric(name=d.name, unit=d.cw_unit, value=one)
        if function:
            provider.add_metadata(key="function", value=function)
        docs.append(dict(provider.serialize_metric_set()))
    return docs


F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def emf_scope(*, function: str | None = None,
              emit: Callable[[str], None] = print) -> Iterator[_EmfBuffer]:
    """Buffer what the block records and emit it as EMF lines when it ends (even on error)."""
    global _emf
    buffer = _EmfBuffer()
    previous, _emf = _emf, buffer
    try:
        yield buffer
    finally:
        _emf = previous
        for doc in emf_documents(buffer, function=function):
            emit(json.dumps(doc, separators=(",", ":")))


def lambda_metrics(fn: F) -> F:
    """Decorate a Lambda handler: its metrics reach CloudWatch as EMF log lines."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with emf_scope(function=fn.__name__):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
