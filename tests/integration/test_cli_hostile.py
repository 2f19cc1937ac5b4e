"""The command line under hostile input: never a traceback, never a foreign exception.

Every command below is run as a user would (``CliRunner`` with ``catch_exceptions=False``,
so an escaping exception fails the test). Each must end with a clear one-line message
and an exit code from the README, and the message must come from a translation where
the error was raised, not from the last-resort ``internal error:`` net.
InfluxDB is a closed port here: these are the paths around it.
"""

from __future__ import annotations

import base64
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsflux.cli import app
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration

runner = CliRunner()


def run(*args: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"INFLUXDB_URL": f"http://127.0.0.1:{free_port()}",
            "ONSFLUX_STATE_DIR": str(tmp_path / "state"), "ONSFLUX_MAX_ATTEMPTS": "1",
            "ONSFLUX_BACKOFF_BASE_SECONDS": "0.01", "ONSFLUX_TIMEOUT_SECONDS": "2"}


def _clean(result, *codes: int) -> str:  # type: ignore[no-untyped-def]
    out = result.output
    assert "Traceback" not in out, out
    assert "internal error" not in out, out  # translated where raised, not by the net
    assert result.exit_code in codes, (result.exit_code, out)
    return str(out)


def test_state_file_problems_are_clear_errors(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    out = _clean(run("status", env={**env, "ONSFLUX_STATE": str(folder)}), 1)
    assert "is a folder" in out and "ONSFLUX_STATE" in out

    corrupt = tmp_path / "state.sqlite"
    corrupt.write_bytes(b"this is not a database at all, just text " * 200)
    out = _clean(run("status", env={**env, "ONSFLUX_STATE": str(corrupt)}), 1)
    assert "not a readable SQLite database" in out and str(corrupt) in out.replace("\n", "")

    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    for args in (["status"], ["dlq", "list"], ["rejects"], ["ask", "carga no Sul ontem"],
                 ["local", "up"], ["local", "down"], ["cutover", "status"]):
        out = _clean(run(*args, env={**env, "ONSFLUX_STATE_DIR": str(a_file)}), 1)
        assert "is a file, not a folder" in out, (args, out)

    out = _clean(run("rejects", "--csv", str(tmp_path / "missing" / "r.csv"), env=env), 1)
    assert "does not exist" in out


def test_disk_full_under_the_state_folder(tmp_path: Path) -> None:
    """SQLITE_FULL, the error a full disk gives, simulated with ``max_page_count``."""
    import polars as pl

    from onsflux.exceptions import StateStoreError
    from onsflux.frames import make_rejects
    from onsflux.state.store import SqliteStateStore

    store = SqliteStateStore(tmp_path / "s.sqlite")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
    store.begin("a.csv", "f")
    many = make_rejects("a.csv", list(range(5000)), "power_mw", ["x" * 50] * 5000, "too big")
    with pytest.raises(StateStoreError, match="disk is full"):
        store.add_rejects("a.csv", many)
    assert isinstance(many, pl.DataFrame)
    store.close()


def test_corrupted_state_file_is_translated_by_the_store(tmp_path: Path) -> None:
    from onsflux.exceptions import StateStoreError
    from onsflux.state.store import SqliteStateStore

    path = tmp_path / "s.sqlite"
    SqliteStateStore(path).close()
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(StateStoreError, match="not a readable SQLite database") as info:
        SqliteStateStore(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


@pytest.mark.parametrize("name", ["dados[sudeste]", "x[/y]z", "[bold]red[/bold]"])
def test_paths_with_brackets_are_printed_literally(env: dict[str, str], tmp_path: Path,
                                                   name: str) -> None:
    missing = tmp_path / name / "carga.csv"
    out = _clean(run("ingest", str(missing), env=env), 1)
    assert f"{name}/carga.csv" in out.replace("\n", "")
    bad = tmp_path / "in" / f"{name}.csv"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("not;an;ons;file\n1;2;3;4\n")
    out = _clean(run("ingest", str(bad), env=env), 1, 3)
    assert f"{name}.csv" in out.replace("\n", "")


def test_many_commands_with_hostile_input_never_trace(env: dict[str, str], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe{not json")
    wrong_spec = tmp_path / "spec.json"
    wrong_spec.write_text('{"measurement": "generation_data", "fields": ["nope"], '
                          '"start": "2024-01-01", "stop": "2023-01-01"}')
    weird = tmp_path / "weird[1]"
    weird.mkdir()
    (weird / "fifo-ish.csv").write_bytes(b"\x00\x01\x02" * 100)
    cases: list[tuple[list[str], tuple[int, ...]]] = [
        (["query", "--influxql", "DROP DATABASE consumption_data"], (1, 2)),
        (["query", "--spec", str(tmp_path / "missing.json")], (1, 2)),
        (["query", "--spec", str(garbage)], (1, 2)),
        (["query", "--spec", str(wrong_spec)], (1, 2)),
        (["query", "--template", "no_such_template"], (1, 2)),
        (["query", "--influxql", "SHOW DATABASES"], (1,)),          # InfluxDB is down
        (["ask", "Qual foi o pico de carga no Sul ontem?"], (1,)),  # InfluxDB is down
        (["ask", "x" * 100_000], (1, 4)),
        (["ask", "\x00\x01 carga [bold] ontem"], (1, 4)),
        (["ingest", str(weird)], (1, 3)),
        (["ingest", str(garbage)], (1, 3)),
        (["dlq", "retry", "s3://nope/x.csv"], (0, 1)),
        (["migrate", "plan", "--source", str(tmp_path / "no-export")], (1, 2)),
        (["migrate", "plan", "--source", str(garbage)], (1, 2)),
        (["migrate", "verify", "--source", str(weird)], (0, 1, 2)),
        (["sample", "--out", str(garbage), "--days", "1"], (1,)),
        (["sample", "--out", str(tmp_path / "s"), "--start", "2024-02-30"], (1,)),
        (["bench", "no-such-bench"], (1,)),
        (["--url", "not a url", "query", "--influxql", "SHOW DATABASES"], (1, 2)),
        (["--url", "http://[::1", "status"], (0, 1, 2)),
    ]
    problems = []
    for args, codes in cases:
        try:
            _clean(run(*args, env=env), *codes)
        except AssertionError as exc:  # collect them all: one run shows every gap
            problems.append((args[:3], str(exc)[:300]))
    assert not problems, problems


class _EchoingProxy(http.server.BaseHTTPRequestHandler):
    """A proxy that fails every request and quotes it back, credentials included."""

    def _echo(self) -> None:
        body = (f"502 upstream failed for {self.command} {self.path}?u=admin&p=hunter2-pw\n"
                f"Authorization: {self.headers.get('Authorization')}\n"
                f"via http://admin:hunter2-pw@influx.internal:8086/\n").encode()
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _echo

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def proxy() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_credentials_echoed_by_a_proxy_reach_no_output_or_state(
        env: dict[str, str], tmp_path: Path, proxy: str) -> None:
    from onsflux import sample

    files = sample.write(sample.generate(days=1, seed=3), tmp_path / "in", "ons")
    host = proxy.removeprefix("http://")
    env = {**env, "INFLUXDB_URL": f"http://admin:hunter2-pw@{host}",
           "INFLUXDB_USERNAME": "admin", "INFLUXDB_PASSWORD": "hunter2-pw"}
    basic = base64.b64encode(b"admin:hunter2-pw").decode()
    outputs = [run("ingest", str(files[0]), env=env).output,
               run("ingest", str(files[0]), "--json", "--force", env=env).output,
               run("status", env=env).output, run("status", "--json", env=env).output,
               run("dlq", "list", "--json", env=env).output,
               run("query", "--influxql", "SHOW DATABASES", env=env).output]
    state = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("state.sqlite*"))
    for text in [*outputs, state.decode("utf-8", "replace")]:
        assert "hunter2" not in text and basic not in text, text[:2000]
    assert any("***" in o for o in outputs)  # the echo was there, and masked


@pytest.mark.parametrize("question", ["Qual o preço da energia (PLD) amanhã?",
                                      "Quanto gerou Angra em janeiro de 2024?"])
def test_ask_json_exits_4_like_the_text_mode(env: dict[str, str], question: str) -> None:
    """README: exit 4 when the question is ambiguous or cannot be answered, --json or not."""
    import json

    text = run("ask", question, env=env)
    as_json = run("ask", question, "--json", env=env)
    status = json.loads(as_json.stdout)["status"]
    assert status in ("unanswerable", "ambiguous")
    assert text.exit_code == 4 and as_json.exit_code == 4, (text.output, as_json.output)
