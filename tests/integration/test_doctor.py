"""``onsflux doctor`` against the session's real influxd, healthy and broken, and
``onsflux cost`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsflux import catalog, sample
from onsflux.cli import app
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.ops.doctor import PROBE_MEASUREMENT, Doctor
from tests.conftest import fast_settings
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration
runner = CliRunner()


def checks(report_json: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(report_json)["checks"]}


@pytest.fixture
def healthy(influx_server: ServerHandle, influx: InfluxClient, tmp_path: Path) -> dict[str, str]:
    for bucket in catalog.BUCKETS:
        influx.ensure_database(bucket, "2555d")
    files = sample.write(sample.generate(days=1, seed=2), tmp_path / "files", "wide")
    assert files
    return {"INFLUXDB_URL": influx_server.url, "ONSFLUX_STATE_DIR": str(tmp_path / "state"),
            "ONSFLUX_FALLBACK_PATH": str(tmp_path / "files"), "ONSFLUX_API_KEYS": "k1",
            "ONSFLUX_MAX_ATTEMPTS": "1"}


def test_healthy_setup_passes_and_leaves_no_probe(healthy: dict[str, str],
                                                 influx: InfluxClient) -> None:
    out = runner.invoke(app, ["doctor", "--json"], env=healthy)
    assert out.exit_code == 0, out.output
    got = checks(out.output)
    for name in ["config", "influxdb", "state", "fallback",
                 *(f"bucket:{b}" for b in catalog.BUCKETS), *(f"probe:{b}" for b in catalog.BUCKETS)]:
        assert got[name]["status"] == "ok", got[name]
    assert "1.6.7" in got["influxdb"]["detail"]
    assert "2555d" in got["bucket:generation_data"]["detail"]
    assert got["s3"]["status"] == "skip"
    for bucket in catalog.BUCKETS:  # the probe point is gone
        rows = influx.query_points(f'SELECT count("ok") FROM "{PROBE_MEASUREMENT}"', bucket)
        assert rows == [] or rows[0]["count"] == 0
    text = runner.invoke(app, ["doctor"], env=healthy)
    assert text.exit_code == 0 and "all checks passed" in text.output


def test_broken_setups_fail_with_the_exact_fix(healthy: dict[str, str], influx: InfluxClient,
                                              tmp_path: Path) -> None:
    # a missing database and a short retention
    influx.query('DROP DATABASE "transmission_data"')
    influx.query('ALTER RETENTION POLICY "onsflux" ON "consumption_data" DURATION 30d DEFAULT')
    env = dict(healthy, ONSFLUX_FALLBACK_PATH=str(tmp_path / "nothing-here"))
    (tmp_path / "nothing-here").mkdir()
    out = runner.invoke(app, ["doctor", "--json"], env=env)
    assert out.exit_code == 1
    got = checks(out.output)
    assert got["bucket:transmission_data"]["status"] == "fail"
    assert "does not exist" in got["bucket:transmission_data"]["detail"]
    assert "onsflux local up" in got["bucket:transmission_data"]["fix"]
    assert "probe:transmission_data" not in got
    assert got["bucket:consumption_data"]["status"] == "fail"
    assert "30d" in got["bucket:consumption_data"]["detail"]
    assert got["bucket:consumption_data"]["fix"].startswith(
        'ALTER RETENTION POLICY "onsflux" ON "consumption_data" DURATION 2555d DEFAULT')
    assert got["probe:generation_data"]["status"] == "ok"
    assert got["fallback"]["status"] == "fail" and "no data files" in got["fallback"]["detail"]

    # InfluxDB unreachable: every dependent check is skipped, not failed twice
    dead = dict(healthy, INFLUXDB_URL=f"http://127.0.0.1:{free_port()}")
    out = runner.invoke(app, ["doctor", "--json"], env=dead)
    got = checks(out.output)
    assert out.exit_code == 1 and got["influxdb"]["status"] == "fail"
    assert "reachable" in got["influxdb"]["fix"] and "/ping" in got["influxdb"]["fix"]
    assert got["bucket:generation_data"]["status"] == "skip"

    # nothing configured at all
    bare = {"ONSFLUX_STATE_DIR": str(tmp_path / "bare")}
    out = runner.invoke(app, ["doctor", "--json"], env=bare)
    got = checks(out.output)
    assert got["config"]["status"] == "fail" and "onsflux local up" in got["config"]["fix"]
    assert got["fallback"]["status"] == "warn"


def test_state_store_failure_names_the_fix(healthy: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    s = fast_settings(healthy["INFLUXDB_URL"], tmp_path / "s", state=str(blocker / "state.sqlite"))
    report = Doctor(s).run()
    [state] = [c for c in report.checks if c.name == "state"]
    assert state.status == "fail" and "writable" in (state.fix or "")
    assert report.exit_code == 1


def test_secrets_never_appear(healthy: dict[str, str]) -> None:
    env = dict(healthy, INFLUXDB_TOKEN="s3cr3t-token-value", ONSFLUX_API_KEYS="k3y-value")
    out = runner.invoke(app, ["doctor", "--json"], env=env)
    assert "s3cr3t-token-value" not in out.output and "k3y-value" not in out.output


def test_cost_command_prints_both_sides() -> None:
    out = runner.invoke(app, ["cost", "--series", "600", "--points-per-day", "14000",
                              "--queries-per-day", "5000", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["instance_class"] == "db.influx.medium"
    assert body["influxdb_total"] > 0 and body["liveanalytics_total"] > 0
    bad = runner.invoke(app, ["cost", "--series", "1", "--points-per-day", "1",
                              "--set", "lambda.nope=1"])
    assert bad.exit_code == 2 and "no key" in bad.output


def test_fallback_from_the_ingested_objects(healthy: dict[str, str], influx: InfluxClient,
                                            tmp_path: Path) -> None:
    """Without ONSFLUX_FALLBACK_PATH the fallback reads what the state store ingested."""
    from onsflux.ingest.pipeline import Ingestor
    from onsflux.state.store import SqliteStateStore

    env = {k: v for k, v in healthy.items() if k != "ONSFLUX_FALLBACK_PATH"}
    [f, *_] = sample.write(sample.generate(days=1, seed=3), tmp_path / "in", "wide")
    s = fast_settings(env["INFLUXDB_URL"], Path(env["ONSFLUX_STATE_DIR"]))
    store = SqliteStateStore(s.state_path)
    assert Ingestor(s, store, influx).ingest([str(f)]).failed == 0
    store.close()
    got = checks(runner.invoke(app, ["doctor", "--json"], env=env).output)
    assert got["fallback"]["status"] == "ok" and "1 ingested objects" in got["fallback"]["detail"]
    f.unlink()  # the file the fallback would read is gone
    out = runner.invoke(app, ["doctor", "--json"], env=env)
    got = checks(out.output)
    assert out.exit_code == 1 and got["fallback"]["status"] == "fail"
    assert f.name in got["fallback"]["detail"] and "restore" in got["fallback"]["fix"]
