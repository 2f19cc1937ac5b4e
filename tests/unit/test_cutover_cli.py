"""``onsflux cutover …`` through the CLI (CliRunner), on a SQLite state folder: the
commands an operator types, their exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.cutover.state import ComparisonRecord, MismatchRecord, SqliteCutoverStore

runner = CliRunner()


def _run(tmp: Path, *args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["--state-dir", str(tmp), "cutover", *args])
    return r.exit_code, r.output


def test_a_cutover_from_the_command_line(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "status", "--json")
    assert code == 0 and json.loads(out)["configured"] is False
    code, out = _run(tmp_path, "shadow", "--blue", "files")
    assert code == 1 and "--files PATH" in out
    code, out = _run(tmp_path, "shadow", "--blue", "influxdb", "--files", "x")
    assert code == 1 and "timestream or files" in out
    code, out = _run(tmp_path, "shadow", "--blue", "files", "--files", str(tmp_path),
                     "--sample", "0.5", "--threshold", "min_comparisons=3",
                     "--reason", "start")
    assert code == 0 and "shadow" in out
    store = SqliteCutoverStore(tmp_path / "state.sqlite")
    store.add_comparisons([ComparisonRecord(9e9, f"h{i}", "match", False, "blue", 5.0, 5.5,
                                            False, False) for i in range(5)])
    store.add_mismatch(MismatchRecord(9e9, "h9", {"measurement": "generation_data"}, "value",
                                      False, "a", "b", 1, 1, {"value": 1}, [
                                          {"kind": "value", "field": "power_mw",
                                           "tags": {"region": "north"}, "time": "2024-03-01T00:00:00Z",
                                           "control": 1.0, "candidate": 2.0}], ""))
    code, out = _run(tmp_path, "shift", "--percent", "10")
    assert code == 1 and "shift refused by the gate" in out and "no migrate verify" in out
    code, out = _run(tmp_path, "shift", "--percent", "10", "--force")
    assert code == 1 and "--force needs --reason" in out
    code, out = _run(tmp_path, "shift", "--percent", "10", "--force", "--reason", "drill")
    assert code == 0 and "canary 10%" in out
    code, out = _run(tmp_path, "promote", "--force", "--reason", "drill", "--json")
    assert code == 0 and json.loads(out)["phase"] == "green-shadow"
    code, out = _run(tmp_path, "rollback", "--reason", "drill over")
    assert code == 0 and "rolled-back" in out
    code, out = _run(tmp_path, "status", "--json")
    status = json.loads(out)
    assert [a["action"] for a in status["audit"]] == ["shadow", "shift", "promote", "rollback"]
    assert status["audit"][1]["forced"] and status["figures"]["comparisons"] == 5
    code, out = _run(tmp_path, "status")
    assert code == 0 and "rolled-back" in out and "gate: closed" in out
    code, out = _run(tmp_path, "report", "--format", "csv")
    assert code == 0
    header, row = out.strip().splitlines()[:2]
    assert header.startswith("at,spec_hash,outcome") and ",value,power_mw," in row
    assert "2024-03-01T00:00:00Z,1.0,2.0" in row
    code, out = _run(tmp_path, "report", "--format", "xml")
    assert code == 1 and "json or csv" in out


def test_an_empty_json_report_ends_with_a_newline(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "report")
    assert code == 0 and out == "[]\n"
