"""UNLOAD export → real InfluxDB: plan, run, verify, rollback, crash and resume.

Each test migrates into its own database (``migtest_*``), dropped afterwards, so the
ingestion tests' catalog databases are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.influx import InfluxClient
from onsflux.migrate import Migration, deletions, rollback, run, verify
from onsflux.migrate.export import write_unload
from onsflux.migrate.verify import cached_aggregates
from onsflux.settings import Settings

pytestmark = pytest.mark.integration

H = 3_600_000_000_000
WEIRD = ['Sudeste, "Centro-Oeste" = São Paulo', "Nordeste\\Bahia", "norte"]
MULTI_TYPES = {"region": "VARCHAR", "energy_source": "VARCHAR", "measure_name": "VARCHAR",
               "time": "TIMESTAMP", "power_mw": "DOUBLE", "units": "BIGINT",
               "status": "VARCHAR", "online": "BOOLEAN"}


def t0() -> int:
    return (time.time_ns() // H - 24 * 20) * H + 123_456_789  # 20 days ago, ns precision


def multi(n: int, start: int, step: int = 60 * 1_000_000_000) -> pl.DataFrame:
    return pl.DataFrame({
        "region": [WEIRD[i % 3] for i in range(n)],
        "energy_source": ["hydro" if i % 2 else "wind" for i in range(n)],
        "measure_name": ["metrics"] * n,
        "time": [start + i * step for i in range(n)],
        "power_mw": [None if i % 50 == 0 else i * 0.1 for i in range(n)],
        "units": [None if i % 50 == 0 else 2**53 + i for i in range(n)],
        "status": [None if i % 50 == 0 else f'ok "{i}", é' for i in range(n)],
        "online": [None if i % 50 == 0 else i % 3 == 0 for i in range(n)],
    }, schema_overrides={"units": pl.Int64})


@pytest.fixture
def db(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    name = "migtest_" + request.node.name.split("[")[0].removeprefix("test_")[:30]
    mapping = settings.state_dir / "mapping.toml"
    mapping.write_text(f'[tables.generation_data]\nbucket = "{name}"\n'
                       'fields = { status = "status" }\ncanonical_tags = false\n')
    yield name, mapping
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.query(f'DROP DATABASE "{name}"')


@pytest.mark.parametrize("fmt,gz", [("CSV", True), ("PARQUET", False)])
def test_end_to_end_exact(settings: Settings, db: tuple[str, Path], tmp_path: Path, fmt: str,
                          gz: bool) -> None:
    name, mapping = db
    frame = multi(3000, t0())
    export = tmp_path / "export"
    write_unload(export, "generation_data", frame, MULTI_TYPES, fmt=fmt, gzip=gz,
                 partitioned_by=["energy_source"], rows_per_file=700)
    with Migration(settings, str(export), str(mapping)) as mig:
        plan = mig.plan(target_rows=1000)
        assert plan.rows == 3000 and len(plan.partitions) >= 3
        assert plan.tables[0].stats.null_measures == 60
        mig.save(plan)
        summary = run(mig, url=settings.influxdb_url)
        assert summary.failed == 0 and summary.points == 2940 and summary.rejected == 0
        again = run(mig, url=settings.influxdb_url)  # nothing left to do
        assert again.partitions == []
        with InfluxClient(settings, url=settings.influxdb_url or "") as c:
            report = verify(mig, c)
            assert report.ok, report.mismatches[:5]
            rows = c.query_points('SELECT * FROM "generation_data" GROUP BY *', db=name)
    assert len(rows) == 2940
    got = pl.DataFrame(rows).sort("time")
    want = frame.filter(pl.col("power_mw").is_not_null()).sort("time")
    assert got["time"].to_list() == want["time"].to_list()  # nanoseconds preserved
    assert got["region"].to_list() == want["region"].to_list()  # tags verbatim
    assert got["units"].to_list() == want["units"].to_list()  # integers above 2^53 exact
    assert got["status"].to_list() == want["status"].to_list()
    assert got["power_mw"].to_list() == want["power_mw"].to_list()
    assert got["online"].to_list() == want["online"].to_list()


def test_verify_detects_changed_missing_and_extra(settings: Settings, db: tuple[str, Path],
                                                  tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    write_unload(tmp_path / "e", "generation_data", multi(200, start), MULTI_TYPES,
                 fmt="PARQUET")
    with Migration(settings, str(tmp_path / "e"), str(mapping)) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        mig.save(mig.plan())
        run(mig, url=settings.influxdb_url)
        # verify compares the statistics run recorded (not a second read of the export)
        assert all(cached_aggregates(mig, p) is not None for p in mig.partitions())
        assert verify(mig, c).ok
        m = "generation_data"
        # a changed value (same point, new power), a missing point, an extra point
        t_changed, t_missing = start + 63 * 60 * 1_000_000_000, start + 120 * 60 * 1_000_000_000
        c.write(name, f'{m},source=hydro,region=Sudeste\\,\\ "Centro-Oeste"\\ \\=\\ São\\ '
                      f'Paulo power_mw=999.0 {t_changed + 0}'.encode(), lines=1)
        c.query(f"DELETE FROM {m} WHERE time = {t_missing}", db=name)
        c.write(name, f"{m},source=solar,region=x power_mw=1.0 {start + 5}".encode(),
                lines=1)
        report = verify(mig, c)
        reread = verify(mig, c, source="read")  # the same verdict from the export itself
    assert not report.ok
    assert sorted(m.as_dict().items() for m in report.mismatches) == \
        sorted(m.as_dict().items() for m in reread.mismatches)
    found = {(x.series, x.field, x.stat) for x in report.mismatches}
    assert ("region=x,source=solar", "power_mw", "count") in found  # extra
    assert any(f == "units" and s == "count" for _, f, s in found)  # missing point
    assert any(f == "power_mw" and s in ("sum", "max") for _, f, s in found), found  # changed


def test_rollback_leaves_other_data_untouched(settings: Settings, db: tuple[str, Path],
                                              tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    write_unload(tmp_path / "e", "generation_data", multi(500, start), MULTI_TYPES, fmt="CSV")
    with Migration(settings, str(tmp_path / "e"), str(mapping)) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.ensure_database(name)
        before, after = start - 10 * H, start + 30 * 24 * H
        c.write(name, (f"generation_data,region=keep v=1 {before}\n"
                       f"generation_data,region=keep v=2 {after}\n"
                       f"other,region=keep v=3 {start + 5}").encode(), lines=3)
        mig.save(mig.plan())
        run(mig, url=settings.influxdb_url)
        assert c.query_points('SELECT count(units) FROM "generation_data"', db=name)[0][
            "count"] == 490
        done = rollback(mig, c, deletions(mig.partitions()))
        assert done and all(p.status == "rolled_back" for p in mig.partitions())
        left = c.query_points('SELECT * FROM /.*/', db=name)
        assert sorted((r["time"], r["v"]) for r in left) == [(before, 1.0), (start + 5, 3.0),
                                                             (after, 2.0)]
        assert [e["action"] for e in mig.store.events(mig.id)].count("rollback") == len(done)


def test_cli_session(settings: Settings, db: tuple[str, Path], tmp_path: Path) -> None:
    name, mapping = db
    write_unload(tmp_path / "e", "generation_data", multi(300, t0()), MULTI_TYPES,
                 fmt="PARQUET")
    runner = CliRunner()
    base = ["--state-dir", str(settings.state_dir), "--url", settings.influxdb_url or ""]
    src = ["--source", str(tmp_path / "e")]
    r = runner.invoke(app, [*base, "migrate", "plan", *src, "--mapping", str(mapping), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == 300
    r = runner.invoke(app, [*base, "migrate", "run", *src, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["points"] == 294
    r = runner.invoke(app, [*base, "migrate", "verify", *src])
    assert r.exit_code == 0, r.output
    assert "identical" in r.stdout
    r = runner.invoke(app, [*base, "migrate", "rollback", *src])  # no terminal, no --yes
    assert r.exit_code == 1
    r = runner.invoke(app, [*base, "migrate", "rollback", *src, "--yes", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["deleted"]
    pid = json.loads(r.stdout)["deleted"][0]["partition"]
    # after a rollback, verify checks that what was migrated is gone: "absent"
    r = runner.invoke(app, [*base, "migrate", "verify", *src])
    assert r.exit_code == 0, r.output
    assert "absent" in r.stdout and "identical" not in r.stdout
    r = runner.invoke(app, [*base, "migrate", "verify", *src, "--json", "--partition", pid])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "absent" and doc["partitions"][0]["state"] == "absent"
    # a point written back into the window of a migrated series is reported
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.write(name, f"generation_data,region=norte,source=hydro units=1i {t0() + 1}"
                .encode(), lines=1)
    r = runner.invoke(app, [*base, "migrate", "verify", *src, "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["verdict"] == "different"
    assert json.loads(r.stdout)["mismatches"][0]["stat"] == "count after rollback"


def test_sigkill_mid_partition_then_resume(settings: Settings, db: tuple[str, Path],
                                           tmp_path: Path) -> None:
    name, mapping = db
    n = 60_000
    frame = multi(n, t0(), step=10 * 1_000_000_000)
    write_unload(tmp_path / "e", "generation_data", frame, MULTI_TYPES, fmt="PARQUET",
                 rows_per_file=1000, row_group_size=1000)
    with Migration(settings, str(tmp_path / "e"), str(mapping)) as mig:
        mig.save(mig.plan(target_rows=20_000))
        assert len(mig.partitions()) >= 4
    env = {**os.environ, "INFLUXDB_URL": settings.influxdb_url or "",
           "ONSFLUX_STATE_DIR": str(settings.state_dir), "ONSFLUX_BATCH_LINES": "100",
           "ONSFLUX_WRITE_WORKERS": "1"}
    cmd = [str(Path(sys.executable).parent / "onsflux"), "migrate", "run", "--source",
           str(tmp_path / "e"), "--workers", "2", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = settings.state_path
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(state, timeout=30) as con:
            row = con.execute("SELECT owner FROM migration_partitions WHERE status = 'running' "
                              "AND points > 0 LIMIT 1").fetchone()
        if row:
            victim = int(row[0].rsplit(":", 1)[1])
        else:
            time.sleep(0.02)
    assert victim is not None, proc.communicate()
    os.kill(victim, signal.SIGKILL)  # the worker process, mid-partition
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, (out, err)
    assert "worker process died" in out.decode()
    again = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        counts = c.query_points('SELECT count(units) AS n FROM "generation_data" GROUP BY *',
                                db=name)
    want = frame.filter(pl.col("units").is_not_null()).group_by("region", "energy_source").len()
    assert sum(r["n"] for r in counts) == want["len"].sum() == n - n // 50
    assert {(r["region"], r["source"], r["n"]) for r in counts} == set(want.iter_rows())
    with Migration(settings, str(tmp_path / "e")) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        assert all(p.status == "done" for p in mig.partitions())
        assert verify(mig, c).ok


def test_recorded_statistics_are_not_used_once_the_export_changed(
        settings: Settings, db: tuple[str, Path], tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    write_unload(tmp_path / "e", "generation_data", multi(200, start), MULTI_TYPES,
                 fmt="PARQUET")
    with Migration(settings, str(tmp_path / "e"), str(mapping)) as mig:
        mig.save(mig.plan())
        run(mig, url=settings.influxdb_url)
        (p,) = mig.partitions()
        assert cached_aggregates(mig, p) is not None
    # the export is written again with one value changed (the manifest follows)
    changed = multi(200, start).with_columns(
        pl.when(pl.col("time") == start + 60 * 60 * 1_000_000_000).then(pl.lit(-1.0))
        .otherwise(pl.col("power_mw")).alias("power_mw"),
        pl.when(pl.col("time") == start).then(pl.lit("x" * 50)).otherwise(pl.col("status"))
        .alias("status"))
    write_unload(tmp_path / "e", "generation_data", changed, MULTI_TYPES, fmt="PARQUET")
    with Migration(settings, str(tmp_path / "e"), str(mapping)) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        (p,) = mig.partitions()
        assert cached_aggregates(mig, p) is None  # sizes differ: read the export again
        report = verify(mig, c)
    assert not report.ok
    assert {(m.field, m.stat) for m in report.mismatches} >= {("power_mw", "sum")}
