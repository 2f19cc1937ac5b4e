"""``onsflux local status`` without ``--json``: readable lines, not a Python dict."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.influx import local


def test_running_server_is_shown_as_key_value_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    info: dict[str, Any] = {"running": True, "pid": 4242, "url": "http://127.0.0.1:5",
                            "port": 5, "version": "1.6.7", "state_dir": "/tmp/st[1]"}
    monkeypatch.setattr(local.LocalServer, "status", lambda self: info)
    out = CliRunner().invoke(app, ["local", "status"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        "InfluxDB running", "  pid         4242", "  url         http://127.0.0.1:5",
        "  port        5", "  version     1.6.7", "  state_dir   /tmp/st[1]"]


def test_stopped_server_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local.LocalServer, "status", lambda self: {"running": False})
    out = CliRunner().invoke(app, ["local", "status"])
    assert out.exit_code == 0 and "not running (start it with `onsflux local up`)" in out.output
