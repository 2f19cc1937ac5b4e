"""The one metric catalog: names, refusals, Prometheus exposition and CloudWatch EMF lines.

The EMF checks follow the format's specification (CloudWatch User Guide, "Embedded metric
format specification"): a root ``_aws`` object with ``Timestamp`` in epoch milliseconds
and ``CloudWatchMetrics`` directives (``Namespace``, ``Dimensions`` as arrays of
dimension-name arrays, ``Metrics`` as ``{Name, Unit}``), with every dimension and metric
value as a root member. No CloudWatch is called: EMF is a log line.
"""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import generate_latest

from onsflux import metrics


def test_names_follow_the_conventions() -> None:
    for d in metrics.CATALOG:
        assert d.name.startswith("onsflux_"), d.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", d.name), d.name
        if d.kind == "counter":
            assert d.name.endswith("_total"), d.name
        if d.kind == "histogram":
            assert d.name.endswith("_seconds") and d.cw_unit == "Seconds", d.name
        assert set(d.cw_dimensions) <= set(d.labels), d.name
        assert d.area in {"ingest", "query", "api", "migrate", "cutover"}, d.name
    assert len(metrics.BY_NAME) == len(metrics.CATALOG), "a name is declared twice"


def test_undeclared_names_wrong_kinds_and_labels_are_refused() -> None:
    with pytest.raises(KeyError, match="not declared"):
        metrics.inc("onsflux_made_up_total")
    with pytest.raises(TypeError, match="is a counter"):
        metrics.set_gauge("onsflux_ingest_rejects_total", 3)
    with pytest.raises(ValueError, match="takes labels"):
        metrics.inc("onsflux_ingest_objects_total")
    with pytest.raises(ValueError, match="cannot go down"):
        metrics.inc("onsflux_ingest_rejects_total", -1)


def test_prometheus_exposition_carries_the_catalog_names() -> None:
    before = metrics.value("onsflux_ingest_rejects_total")
    metrics.inc("onsflux_ingest_rejects_total", 7)
    metrics.observe("onsflux_query_seconds", 0.02, backend="influxdb")
    metrics.cutover_phase("canary", canary_percent=10)
    text = generate_latest(metrics.REGISTRY).decode()
    assert f"onsflux_ingest_rejects_total {before + 7}" in text
    assert 'onsflux_query_seconds_bucket{backend="influxdb",le="0.025"}' in text
    assert "onsflux_cutover_phase 2.0" in text
    assert "onsflux_cutover_canary_percent 10.0" in text
    for d in metrics.CATALOG:  # every declared family is exposed (HELP line), labelled or not
        assert f"# HELP {d.name.removesuffix('_total')}" in text, d.name


def test_emf_lines_follow_the_specification() -> None:
    lines: list[str] = []
    with metrics.emf_scope(function="s3_ingest", emit=lines.append):
        metrics.inc("onsflux_ingest_points_written_total", 1000)
        metrics.inc("onsflux_ingest_points_written_total", 500)
        metrics.inc("onsflux_ingest_objects_total", status="ingested")
        metrics.observe("onsflux_influx_write_seconds", 0.1)
        metrics.observe("onsflux_influx_write_seconds", 0.3)
        metrics.observe("onsflux_query_seconds", 0.05, backend="s3_fallback")
        metrics.set_gauge("onsflux_influx_breaker_state", 0)
        metrics.set_gauge("onsflux_influx_breaker_state", 2)
    docs = [json.loads(line) for line in lines]
    assert len(docs) == 2  # one per dimension combination: (service) and (backend, service)
    by_dims = {tuple(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]): d for d in docs}
    plain = by_dims[("service",)]
    directive = plain["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "onsflux"
    assert isinstance(plain["_aws"]["Timestamp"], int) and plain["_aws"]["Timestamp"] > 1.6e12
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"onsflux_ingest_points_written_total": "Count",
                     "onsflux_ingest_objects_total": "Count",
                     "onsflux_influx_write_seconds": "Seconds",
                     "onsflux_influx_breaker_state": "None"}
    assert plain["service"] == "onsflux"
    assert plain["onsflux_ingest_points_written_total"] in (1500, [1500])  # summed
    assert plain["onsflux_ingest_objects_total"] in (1, [1])  # status is not a dimension
    assert plain["onsflux_influx_write_seconds"] == [0.1, 0.3]  # every value, for p95
    assert plain["onsflux_influx_breaker_state"] in (2, [2])  # the last value
    assert plain["function"] == "s3_ingest"
    fallback = by_dims[("backend", "service")]
    assert fallback["backend"] == "s3_fallback"
    assert fallback["onsflux_query_seconds"] in (0.05, [0.05])


def test_emf_is_emitted_when_the_handler_fails_and_not_outside_it() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), metrics.emf_scope(emit=lines.append):
        metrics.inc("onsflux_ingest_dead_letters_total")
        raise RuntimeError("boom")
    assert len(lines) == 1 and "onsflux_ingest_dead_letters_total" in lines[0]
    lines.clear()
    metrics.inc("onsflux_ingest_dead_letters_total")  # no scope: Prometheus only
    assert lines == []


def test_lambda_handler_decorator_prints_emf(capsys: pytest.CaptureFixture[str]) -> None:
    @metrics.lambda_metrics
    def handler(event: dict[str, int], context: object = None) -> int:
        metrics.inc("onsflux_migrate_points_total", event["n"])
        return event["n"]

    assert handler({"n": 42}) == 42
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["onsflux_migrate_points_total"] in (42, [42])
    assert out[0]["function"] == "handler"


def test_migrate_sync_iteration_as_emf() -> None:
    """`migrate sync --emf`: one EMF document per iteration with the lag the alarm reads
    (the largest lag over tables, since table is not a CloudWatch dimension)."""
    from types import SimpleNamespace

    from onsflux.cli.migrate import emit_sync_emf

    it = SimpleNamespace(tables=[
        {"table": "load", "status": "idle", "points": 0, "lag_s": 1200.0},
        {"table": "generation", "status": "done", "points": 120, "lag_s": 75.5}])
    lines: list[str] = []
    emit_sync_emf(it, emit=lines.append)
    [doc] = [json.loads(x) for x in lines]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert doc["onsflux_migrate_points_total"] in (120, [120])
    assert doc["onsflux_migrate_partitions_done_total"] in (1, [1])
    assert "onsflux_migrate_partitions_failed_total" not in doc
    assert doc["onsflux_migrate_sync_lag_seconds"] in (1200.0, [1200.0])  # the worst table
