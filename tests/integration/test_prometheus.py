"""A real Prometheus (Debian's ``prometheus``) scraping a running API, and promtool.

- ``promtool check config`` on the config ``onsflux local up --with-prometheus`` writes
  (it checks the rule file it names too);
- ``promtool test rules`` runs the alert rules' unit tests (tests/prometheus/);
- a real Prometheus scrapes a uvicorn-served API and the exporter of the long-running
  commands, and its query API returns the series the requests produced.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from onsflux import metrics
from onsflux.ops.prometheus import LocalPrometheus, render_config, rules_text
from onsflux.settings import Settings
from tests.integration.test_api import Server
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: `make test` installs Debian's prometheus"
    return path


def test_promtool_checks_the_generated_config_and_its_rules(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(rules_text())
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config({"onsflux": ["127.0.0.1:8000"],
                                     "onsflux-migrate": ["127.0.0.1:9464"]}, str(rules)))
    out = subprocess.run([_promtool(), "check", "config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 9 rules found" in out.stdout + out.stderr
    # a broken rule is caught by the same check (the check can fail)
    rules.write_text(rules_text().replace("increase(onsflux_influx_write_errors_total[5m]) > 0",
                                          "increase(onsflux_influx_write_errors_total[5m] > 0"))
    bad = subprocess.run([_promtool(), "check", "config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


def test_promtool_rule_unit_tests_pass() -> None:
    out = subprocess.run([_promtool(), "test", "rules",
                          str(ROOT / "tests" / "prometheus" / "alerts_test.yml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5, trust_env=False)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def _wait_for(url: str, expr: str, ok: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = _query(url, expr)
        if ok(result):
            return result
        time.sleep(0.5)
    raise AssertionError(f"{expr} never satisfied the check; last answer {result}")


def test_real_prometheus_scrapes_the_api_and_the_command_exporter(
        settings: Settings, tmp_path: Path) -> None:
    s = settings.with_overrides(api_auth="disabled")
    exporter_port = free_port()
    exporter = metrics.serve_http(exporter_port)  # what `migrate run --metrics-port` starts
    prom = LocalPrometheus(tmp_path / "state")
    try:
        with Server(s) as api:
            for _ in range(3):
                assert httpx.get(f"{api.url}/health", timeout=30).status_code == 200
            assert httpx.get(f"{api.url}/nope", timeout=10).status_code == 404
            metrics.inc("onsflux_migrate_points_total", 12345)
            expected_points = metrics.value("onsflux_migrate_points_total")
            handle = prom.up({"onsflux": [f"127.0.0.1:{api.port}"],
                              "onsflux-migrate": [f"127.0.0.1:{exporter_port}"]},
                             scrape_interval="1s")
            assert prom.running() == handle
            up = _wait_for(handle.url, "up", lambda r: len(r) == 2 and all(
                x["value"][1] == "1" for x in r))
            assert {x["metric"]["job"] for x in up} == {"onsflux", "onsflux-migrate"}
            # the registry is the process's: earlier tests' requests count too, so the
            # expected values are what this process exposes after our requests
            want_health = metrics.value("onsflux_api_requests_total", path="/health",
                                        status=200)
            want_404 = metrics.value("onsflux_api_requests_total", path="other", status=404)
            assert want_health >= 3 and want_404 >= 1
            _wait_for(handle.url,
                      'onsflux_api_requests_total{job="onsflux",path="/health",status="200"}',
                      lambda r: bool(r) and float(r[0]["value"][1]) == want_health)
            other = _query(handle.url, 'onsflux_api_requests_total{job="onsflux",path="other",'
                                       'status="404"}')
            assert float(other[0]["value"][1]) == want_404
            latency = _query(handle.url, 'onsflux_api_request_seconds_count{path="/health"}')
            assert latency and float(latency[0]["value"][1]) >= 3
            points = _query(handle.url, 'onsflux_migrate_points_total{job="onsflux-migrate"}')
            assert float(points[0]["value"][1]) == expected_points
            rules = httpx.get(f"{handle.url}/api/v1/rules", timeout=5).json()
            alerting = [r for g in rules["data"]["groups"] for r in g["rules"]]
            assert len(alerting) == 9 and all(r["health"] == "ok" for r in alerting), alerting
    finally:
        prom.down()
        exporter.shutdown()
    assert prom.running() is None
