"""``onsflux doctor`` without ``--json``: the status marks are styled, never raw markup."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.ops import doctor


def test_text_report_shows_marks_not_markup_and_keeps_brackets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    report = doctor.Report([
        doctor.Check("influxdb", "ok", "http://127.0.0.1:1 answers: InfluxDB 1.6.7 (1.x)"),
        doctor.Check("config", "warn", "state dados[2024]/state.sqlite", fix="export X=1"),
        doctor.Check("bucket:generation_data", "fail", "missing", fix="onsflux local up"),
    ])
    monkeypatch.setattr(doctor.Doctor, "run", lambda self: report)
    out = CliRunner().invoke(app, ["doctor"], env={"ONSFLUX_API_AUTH": "disabled"})
    assert out.exit_code == 1, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("  ok influxdb ")
    assert lines[1].startswith("warn config ") and "dados[2024]/state.sqlite" in lines[1]
    assert lines[2] == "     fix: export X=1"
    assert lines[3].startswith("FAIL bucket:generation_data ")
    assert "[/]" not in out.output and "[green]" not in out.output
