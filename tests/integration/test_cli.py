"""The command line as a user runs it: exit codes, messages, JSON, help for every command."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from onsflux.cli import app
from onsflux.influx import InfluxClient, ServerHandle

pytestmark = pytest.mark.integration

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def env(influx_server: ServerHandle, influx: InfluxClient, tmp_path: Path) -> dict[str, str]:
    return {"INFLUXDB_URL": influx_server.url, "ONSFLUX_STATE_DIR": str(tmp_path / "state"),
            "ONSFLUX_BACKOFF_BASE_SECONDS": "0.01", "ONSFLUX_MAX_ATTEMPTS": "2"}


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((f"{prefix}{name}", cmd))
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, f"{prefix}{name} "))
    return out


def test_every_command_has_help_text() -> None:
    group = typer.main.get_command(app)
    names = dict(_commands(group))
    assert {"ingest", "sample", "status", "dlq list", "dlq retry", "local up", "bench"} <= set(names)
    for name, cmd in names.items():
        assert cmd.help, f"`onsflux {name}` has no help text"
        result = run(*name.split(), "--help")
        assert result.exit_code == 0, name


def test_sample_ingest_status_json(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "files"
    start = (date.today() - timedelta(days=4)).isoformat()
    r = run("sample", "--out", str(out), "--days", "2", "--format", "processed",
            "--start", start, "--json", env=env)
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    assert files and all(Path(f["path"]).exists() for f in files)

    r = run("ingest", str(out), "--json", env=env)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["failed"] == 0 and summary["rejected"] == 0 and summary["points"] > 0
    assert summary["points_per_s"] > 0 and {"files", "rows", "seconds", "skipped"} <= set(summary)

    r = run("status", "--json", env=env)
    status = json.loads(r.stdout)
    assert {o["status"] for o in status["objects"]} == {"ok"} and status["dead_letters"] == []


def test_ingest_table_keeps_object_names_whole_at_80_columns(env: dict[str, str],
                                                             tmp_path: Path) -> None:
    """The verify column's text ("ok (acknowledged; 3 series read back)") must not squeeze
    the object column: a file name cut over two lines cannot be copied or searched for."""
    out = tmp_path / "files"
    start = (date.today() - timedelta(days=4)).isoformat()
    assert run("sample", "--out", str(out), "--days", "1", "--format", "wide",
               "--start", start, env=env).exit_code == 0
    r = run("ingest", str(out), env={**env, "COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3
    for name in names:
        assert name in r.output, r.output
    assert "sampled)" in r.output and "acknowledged" not in r.output  # the verdict, short


def test_rejects_give_exit_3_with_file_row_column_reason(env: dict[str, str],
                                                          tmp_path: Path) -> None:
    day = (date.today() - timedelta(days=2)).isoformat()
    bad = tmp_path / "CARGA_ENERGIA.csv"
    bad.write_text(
        "id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\n"
        f"SE;SUDESTE;{day} 10:00:00;44000.5\n"
        f"NE;NORDESTE;{day} 10:00:00;NaN\n"
        f"S;SUL;{day} 10:00:00;-5\n"
        f"XX;MARTE;{day} 10:00:00;100\n",
        encoding="utf-8-sig",  # with a BOM, as Excel writes it
    )
    r = run("ingest", str(bad), env=env)
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output
    assert f"{bad} row 2 column val_cargaenergiahomwmed value 'NaN'" in r.output
    assert "row 3 column demand_mw" in r.output and "outside the valid range" in r.output
    assert "row 4 column id_subsistema value 'XX': unknown subsystem" in r.output

    r = run("rejects", str(bad), "--json", env=env)
    assert sorted(x["row"] for x in json.loads(r.stdout)) == [2, 3, 4]
    assert run("ingest", str(bad), "--force", "--allow-rejects", env=env).exit_code == 0


def test_broken_file_gives_exit_1_and_a_dead_letter(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "GERACAO.parquet"
    broken.write_bytes(b"PAR1 truncated")
    r = run("ingest", str(broken), env=env)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "not a readable Parquet file" in r.output
    dead = json.loads(run("dlq", "list", "--json", env=env).stdout)
    assert [d["key"] for d in dead] == [str(broken)]


def test_missing_path_and_bad_flag_are_clean_errors(env: dict[str, str], tmp_path: Path) -> None:
    r = run("ingest", str(tmp_path / "nope"), env=env)
    assert r.exit_code == 1 and "nope" in r.output and "Traceback" not in r.output
    r = run("sample", "--out", str(tmp_path), "--format", "xml", env=env)
    assert r.exit_code == 1 and "--format must be" in r.output


def test_token_is_never_echoed(env: dict[str, str], tmp_path: Path) -> None:
    secret = "tok-THIS-MUST-NOT-LEAK"
    r = run("ingest", str(tmp_path / "nope"), "--json",
            env={**env, "INFLUXDB_TOKEN": secret, "INFLUXDB_URL": "http://127.0.0.1:9"})
    assert secret not in r.output
