"""``onsflux query`` through the CLI, against the session's real influxd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.influx import InfluxClient, ServerHandle

pytestmark = pytest.mark.integration


def invoke(server: ServerHandle, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--url", server.url, "--state-dir", str(tmp_path), "query",
                                    *args])


def test_template_json_has_rows_queries_and_timings(influx_server: ServerHandle, influx: InfluxClient,
                                                    tmp_path: Path) -> None:
    influx.ensure_database("consumption_data")
    body = b"consumption_data,region=south demand_mw=12000.5 1709251200000000000\n"
    assert influx.write("consumption_data", body, lines=1).ok
    r = invoke(influx_server, tmp_path, "--template", "consumption_peak", "--start", "2024-03-01",
               "--stop", "2024-03-02", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["served_from"] == "influxdb" and out["row_count"] == 1
    assert out["time_series_data"][0] == {
        "timestamp": "2024-03-01T00:00:00Z", "measurement": "consumption_data",
        "field": "demand_mw", "value": 12000.5, "tags": {"region": "south"}}
    assert set(out["queries"]) == {"influxql", "flux", "sql", "timestream"}
    assert "execute" in out["timings_ms"]


def test_spec_file_render_only(influx_server: ServerHandle, tmp_path: Path) -> None:
    spec = tmp_path / "q.json"
    spec.write_text(json.dumps({"measurement": "generation_data", "fields": ["power_mw"],
                                "aggregate": "mean", "every": "1h", "fill": "linear",
                                "start": "2024-03-01", "stop": "2024-03-02"}))
    r = invoke(influx_server, tmp_path, "--spec", str(spec), "--render-only")
    assert r.exit_code == 0, r.output
    assert "fill(linear)" in r.stdout and "unsupported: flux: fill 'linear'" in r.stdout
    assert "rows" not in r.stdout  # nothing ran: no result table


def test_spec_file_runs_and_prints_a_table(influx_server: ServerHandle, influx: InfluxClient,
                                           tmp_path: Path) -> None:
    influx.ensure_database("generation_data")
    body = (b"generation_data,region=south,source=wind,plant=p1 power_mw=10 1709251200000000000\n"
            b"generation_data,region=south,source=wind,plant=p1 power_mw=30 1709258400000000000\n")
    assert influx.write("generation_data", body, lines=2).ok
    spec = tmp_path / "q.json"
    spec.write_text(json.dumps({"measurement": "generation_data", "fields": ["power_mw"],
                                "aggregate": "mean", "every": "1h", "fill": "linear",
                                "start": "2024-03-01T00:00Z", "stop": "2024-03-01T03:00Z"}))
    r = invoke(influx_server, tmp_path, "--spec", str(spec))
    assert r.exit_code == 0, r.output
    assert "3 rows from influxdb" in r.stdout
    # 01:00 had no point: the server interpolated it (fill(linear)) between 10 and 30
    assert "2024-03-01T01:00:00Z" in r.stdout and " 20 " in r.stdout


@pytest.mark.parametrize(("text", "why"), [
    ('DROP DATABASE "generation_data"', "only SELECT and SHOW"),
    ("SELECT * INTO x FROM generation_data", "INTO writes data"),
    ("SELECT 1; DROP DATABASE x", "one statement per query"),
])
def test_raw_writes_are_refused_before_any_request(tmp_path: Path, text: str, why: str) -> None:
    # nothing listens on port 9: a request would fail too, so the guard's reason is checked
    r = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "--state-dir", str(tmp_path),
                                 "query", "--influxql", text])
    assert r.exit_code == 1 and "error:" in r.output and why in r.output, r.output
    assert "unavailable" not in r.output


def test_raw_select_runs(influx_server: ServerHandle, influx: InfluxClient,
                         tmp_path: Path) -> None:
    influx.ensure_database("consumption_data")
    r = invoke(influx_server, tmp_path, "--influxql", "SHOW DATABASES", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["served_from"] == "influxdb"
    assert "consumption_data" in {row["tags"].get("name") for row in out["time_series_data"]}


def test_usage_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "query"])
    assert r.exit_code == 1 and "exactly one" in r.output
