"""Metrics, alarms, dashboard, alert rules and runbooks agree with each other.

- every metric the code emits is declared in ``onsflux.metrics.CATALOG`` and every declared
  metric is emitted somewhere in ``src/onsflux`` (found by reading the source: calls to
  ``metrics.inc/observe/set_gauge`` and the named helpers);
- every onsflux metric the Terraform (alarms, dashboard) or the Prometheus rules use is
  one the code emits — a renamed metric cannot leave a silent alarm behind;
- every emitted metric has a widget on the CloudWatch dashboard;
- every alarm links to a runbook that exists, and the alarms on onsflux's own metrics have
  a Prometheus twin with the same threshold;
- every runbook belongs to an alarm or is a procedure linked from one.

The Terraform is parsed with python-hcl2 (no provider, no network).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from onsflux import metrics

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "onsflux"
TF_DIR = ROOT / "deploy" / "terraform"
RUNBOOKS = ROOT / "deploy" / "runbooks"
RULES = SRC / "ops" / "prometheus" / "alerts.yml"

#: declared for the cutover (src/onsflux/cutover/, built separately), which sets them with
#: metrics.cutover_phase(...), set_gauge("onsflux_cutover_consistency_ratio", ...) and
#: inc("onsflux_cutover_comparisons_total", outcome=...). Once its code emits one, the test
#: below fails until the name is removed from here.
AWAITING_CUTOVER: set[str] = set()  # the cutover router and shadow worker emit all four
#: alarms on AWS's own metrics: no local series to mirror
AWS_ONLY = {"influxdb-cpu", "influxdb-disk-warning", "influxdb-disk-critical",
            "influxdb-iops-headroom", "lambda-errors", "lambda-throttles", "lambda-duration-p95",
            "api-live-errors"}
#: runbooks that are procedures, reached from alarms' runbooks
PROCEDURES = {"cutover-rollback", "dlq-replay"}
_HELPERS = {"breaker_state": {"onsflux_influx_breaker_state"},
            "cutover_phase": {"onsflux_cutover_phase", "onsflux_cutover_canary_percent"}}


def emitted_by_code() -> dict[str, list[str]]:
    """Metric name -> the source files that record it."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "metrics.py" and path.parent == SRC:
            continue  # the catalog itself
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            names: set[str] = set()
            if name in ("inc", "observe", "set_gauge") and node.args and isinstance(
                    node.args[0], ast.Constant) and str(node.args[0].value).startswith("onsflux_"):
                names = {str(node.args[0].value)}
            elif name in _HELPERS and isinstance(fn, ast.Attribute):
                names = _HELPERS[name]
            for n in names:
                found.setdefault(n, []).append(str(path.relative_to(ROOT)))
    return found


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        return {_unquote(k): _clean(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return _unquote(node) if isinstance(node, str) else node


@pytest.fixture(scope="module")
def alarms() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            doc = _clean(hcl2.load(fh))
        for entry in doc.get("resource", []):
            for name, body in entry.get("aws_cloudwatch_metric_alarm", {}).items():
                out[name] = body
    assert out, "no aws_cloudwatch_metric_alarm in deploy/terraform"
    return out


def _alarm_metrics(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, metric name) of an alarm, single metric or metric math."""
    pairs = []
    if "metric_name" in body:
        pairs.append((body["namespace"], body["metric_name"]))
    for q in body.get("metric_query", []):
        for m in q.get("metric", []):
            pairs.append((m["namespace"], m["metric_name"]))
    return [("onsflux" if ns == "${local.metric_namespace}" else ns, name) for ns, name in pairs]


def _slug(body: dict[str, Any]) -> str:
    m = re.fullmatch(r"\$\{var\.name\}-(?:\$\{each\.key\}-)?([a-z0-9-]+)", body["alarm_name"])
    assert m, body["alarm_name"]
    return m.group(1)


def _dashboard() -> dict[str, Any]:
    text = (TF_DIR / "dashboard.json.tftpl").read_text()
    assert "%{" not in text, "template directives would make the JSON check meaningless"
    return json.loads(text)  # placeholders are all inside strings: still JSON


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def _prom_names(expr: str) -> set[str]:
    return {re.sub(r"_(bucket|count|sum)$", "", n) if n.endswith(("_bucket", "_count", "_sum"))
            and re.sub(r"_(bucket|count|sum)$", "", n) in metrics.BY_NAME else n
            for n in re.findall(r"\bonsflux_[a-z0-9_]+", expr)}


def test_code_emits_exactly_the_catalog() -> None:
    emitted = emitted_by_code()
    unknown = set(emitted) - set(metrics.BY_NAME)
    assert not unknown, f"emitted but not declared: {unknown}"
    never = set(metrics.BY_NAME) - set(emitted) - AWAITING_CUTOVER
    assert not never, f"declared but never emitted by src/onsflux: {never}"
    wired = AWAITING_CUTOVER & set(emitted)
    assert not wired, f"the cutover now emits {wired}: drop them from AWAITING_CUTOVER"


def test_alarms_use_only_emitted_metrics_and_link_a_runbook(
        alarms: dict[str, dict[str, Any]]) -> None:
    for name, body in alarms.items():
        for ns, metric in _alarm_metrics(body):
            if ns == "onsflux":
                assert metric in metrics.BY_NAME, f"alarm {name} uses {metric}: never emitted"
            else:
                assert ns.startswith("AWS/"), f"alarm {name}: namespace {ns}"
        slug = _slug(body)
        desc = body["alarm_description"]
        assert f"Runbook: ${{local.runbooks}}{slug}.md" in desc, name
        for linked in re.findall(r"\$\{local\.runbooks\}([a-z0-9-]+)\.md", desc):
            assert (RUNBOOKS / f"{linked}.md").is_file(), f"{name}: runbook {linked}.md missing"
        assert body["alarm_actions"] == "${local.alarm_actions}", f"{name} notifies nobody"


def test_the_issue_alarms_exist(alarms: dict[str, dict[str, Any]]) -> None:
    by_slug = {_slug(b): b for b in alarms.values()}
    cpu = by_slug["influxdb-cpu"]
    assert (cpu["metric_name"], cpu["threshold"], cpu["period"] * cpu["evaluation_periods"]) \
        == ("CPUUtilization", 90, 300)
    assert by_slug["influxdb-disk-warning"]["threshold"] == 75
    assert by_slug["influxdb-disk-critical"]["threshold"] == 85
    assert by_slug["influxdb-iops-headroom"]["metric_name"] == "TotalIOpsPerSec"
    assert by_slug["cutover-consistency"]["threshold"] == 0.999
    assert by_slug["cutover-consistency"]["comparison_operator"] == "LessThanThreshold"
    assert by_slug["lambda-duration-p95"]["extended_statistic"] == "p95"
    assert by_slug["api-latency-p95"]["extended_statistic"] == "p95"
    assert {"influxdb-write-errors", "lambda-errors", "lambda-throttles", "dlq-depth",
            "api-5xx-rate", "sync-lag"} <= set(by_slug)
    for b in alarms.values():  # AWS/Timestream/InfluxDB metrics are per instance
        if b.get("namespace") == "AWS/Timestream/InfluxDB":
            assert set(b["dimensions"]) == {"DbInstanceName"}


def test_dashboard_has_a_widget_for_every_emitted_metric_and_nothing_else() -> None:
    used: set[str] = set()
    for w in _dashboard()["widgets"]:
        if w["type"] != "metric":
            continue
        props = w["properties"]
        assert props["title"] and props["yAxis"]["left"]["label"], props
        for m in props["metrics"]:
            if m[0] == "onsflux":
                used.add(m[1])
                dims = dict(zip(m[2:-1:2], m[3:-1:2], strict=True))
                d = metrics.BY_NAME.get(m[1])
                assert d is not None, f"dashboard uses {m[1]}: never emitted"
                assert set(dims) == {"service", *d.cw_dimensions}, (m[1], dims)
    assert used == set(metrics.BY_NAME), f"no widget for {set(metrics.BY_NAME) - used}"


def test_prometheus_rules_mirror_the_alarms(alarms: dict[str, dict[str, Any]]) -> None:
    by_slug = {_slug(b): b for b in alarms.values()}
    mirrored: set[str] = set()
    for rule in _rules():
        slug = rule["labels"]["alarm"]
        assert slug in by_slug, f"{rule['alert']}: no CloudWatch alarm {slug}"
        assert rule["annotations"]["runbook"] == f"deploy/runbooks/{slug}.md"
        names = _prom_names(rule["expr"])
        assert names and names <= set(metrics.BY_NAME), (rule["alert"], names)
        alarm = by_slug[slug]
        cw = {m for ns, m in _alarm_metrics(alarm) if ns == "onsflux"}
        if cw:  # the same metrics and the same threshold
            assert cw == names, (slug, cw, names)
            bound = float(re.search(r"([0-9.]+)\s*$", rule["expr"].strip()).group(1))  # type: ignore[union-attr]
            assert bound == float(alarm["threshold"]), (slug, bound, alarm["threshold"])
        mirrored.add(slug)
    assert set(by_slug) - mirrored == AWS_ONLY


def test_every_runbook_is_reached() -> None:
    files = {p.stem for p in RUNBOOKS.glob("*.md")}
    tf_text = "".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    linked = set(re.findall(r"\$\{local\.runbooks\}([a-z0-9-]+)\.md", tf_text))
    assert linked <= files
    assert files - linked <= PROCEDURES, f"runbooks no alarm reaches: {files - linked - PROCEDURES}"
    assert linked | PROCEDURES == files
    prose = "".join((RUNBOOKS / f"{s}.md").read_text() for s in linked)
    for proc in PROCEDURES:
        assert f"({proc}.md)" in prose, f"no alarm runbook links {proc}.md"
    for f in files:
        text = (RUNBOOKS / f"{f}.md").read_text()
        for heading in (("## What it means", "## How to confirm", "## What to do")
                        if f not in PROCEDURES else ("## Do",)):
            assert heading in text, (f, heading)
