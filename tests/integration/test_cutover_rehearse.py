"""``onsflux cutover rehearse`` end to end, small: its own influxd (green), the files
(blue), an ``onsflux serve`` process, the fault, the automatic rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app

pytestmark = pytest.mark.integration


def test_the_rehearsal_runs_and_no_user_request_fails(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["--state-dir", str(tmp_path / "user"), "cutover", "rehearse",
                                 "--days", "2", "--requests", "40", "--workdir",
                                 str(tmp_path / "rh"), "--json"])
    assert r.exit_code == 0, r.output[-3000:]
    report = json.loads(r.output)
    phases = {p["phase"]: p for p in report["phases"]}
    assert list(phases) == ["shadow", "canary 10%", "canary 50%", "green-shadow",
                            "fault (canary 90%)"]
    assert all(p["failed"] == 0 and p["requests"] == 40 for p in phases.values())
    # 40 requests replay at most 40 distinct ones (the workload holds more)
    assert all(p["distinct"] == 40 for p in phases.values())
    assert all("40 requests (40 distinct)" in line for line in report["log"]
               if " requests (" in line)
    assert set(phases["canary 50%"]["served"]) == {"files", "influxdb"}
    assert set(phases["green-shadow"]["served"]) == {"influxdb"}
    fault = report["fault"]
    assert fault["failed_requests"] == 0 and fault["auto_rollback_after_requests"] is not None
    assert report["rollback_propagation_ms"] is not None
    assert report["rollback_propagation_ms"] <= 5000
    actions = [a["action"] for a in report["timeline"]]
    assert actions[0] == "shadow" and actions[-1] == "auto-rollback"
    assert "rollback" in actions and "promote" in actions
    assert report["figures"]["state"]["phase"] == "rolled-back"
    # the user's own state folder was not touched
    assert not (tmp_path / "user" / "state.sqlite").exists()
    assert not (tmp_path / "rh" / "influxd" / "influxd.json").exists()  # its server stopped
