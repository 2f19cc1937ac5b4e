"""Migration bookkeeping against the real InfluxDB: duplicates, timestamps, rollback.

UNLOAD exports are written by ``tests.support.unload_docs`` as the AWS documentation
lays them out. Each test migrates into its own database (``migtest_*``), dropped after.
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

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.influx import InfluxClient
from onsflux.migrate import Migration, planned, run, verify
from onsflux.settings import Settings
from tests.support.unload_docs import write_export

pytestmark = pytest.mark.integration

H = 3_600_000_000_000
COLUMNS = [("region", "VARCHAR"), ("energy_source", "VARCHAR"), ("measure_name", "VARCHAR"),
           ("time", "TIMESTAMP"), ("power_mw", "DOUBLE"), ("units", "BIGINT")]


def t0() -> int:
    return (time.time_ns() // H - 24 * 10) * H + 123_456_789  # 10 days ago, ns precision


def ts(ns: int) -> str:
    import datetime as dt

    secs, frac = divmod(ns, 1_000_000_000)
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)).strftime(
        "%Y-%m-%d %H:%M:%S") + f".{frac:09d}"


def rows(n: int, start: int, regions: tuple[str, ...] = ("north", "south"),
         step: int = 60_000_000_000, value: float = 0.0) -> list[list[str | None]]:
    return [[regions[i % len(regions)], "hydro", "metrics", ts(start + i * step),
             repr(i + value + 0.5), str(i)] for i in range(n)]


@pytest.fixture
def db(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    name = "migtest_bk_" + request.node.name.split("[")[0].removeprefix("test_")[:24]
    mapping = settings.state_dir / f"{name}.toml"
    mapping.write_text(f'[tables.generation_data]\nbucket = "{name}"\n')
    yield name, mapping
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.query(f'DROP DATABASE "{name}"')


def test_duplicates_are_reported_the_last_wins_and_verify_expects_them(
        settings: Settings, db: tuple[str, Path], tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    first = rows(40, start)
    # the same record with another measure_name: same series, time and field
    first.append(["north", "hydro", "metrics_v2", first[4][3], "777.5", None])
    root = tmp_path / "exports" / "generation_data"
    write_export(root / "2024-run1", COLUMNS, [first[:20], first[20:]])
    # an overlapping re-export (later in export order): rows 30..39 again, changed
    again = rows(40, start, value=1000.0)[30:]
    write_export(root / "2024-run2", COLUMNS, [again], uuid="9999999999_rerun")
    with Migration(settings, str(tmp_path / "exports"), str(mapping)) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        plan = mig.plan()
        d = plan.as_dict()["tables"][0]["duplicates"]
        assert d["rows"] == 11 and d["superseded"] == 11 + 10  # power_mw ×11, units ×10
        assert any("rows land on a point" in w for w in plan.warnings)
        ex = d["examples"][0]  # the points with the most superseded values first
        assert sorted(ex["fields_superseded"]) == ["power_mw", "units"]
        assert [r.split("/")[-3] for r in ex["rows"]] == ["2024-run1", "2024-run2"]
        assert ex["time"] in {_rfc(start + i * 60_000_000_000) for i in range(30, 40)}
        mig.save(plan)
        summary = run(mig, url=settings.influxdb_url)
        out = summary.as_dict()
        assert summary.failed == 0 and out["duplicates"] == 11 and out["superseded"] == 21
        assert out["points"] == 40 and out["source_rows"] == 51
        assert any(p["duplicate_examples"] for p in out["partitions"])
        report = verify(mig, c)
        assert report.ok, report.mismatches[:5]
        got = {r["time"]: r for r in c.query_points(
            'SELECT power_mw, units FROM "generation_data"', db=name)}
    assert len(got) == 40
    assert got[start + 4 * 60_000_000_000]["power_mw"] == 777.5  # the later record
    assert got[start + 4 * 60_000_000_000]["units"] == 4  # it had no units: kept
    assert [got[start + i * 60_000_000_000]["power_mw"] for i in range(30, 40)] == \
        [i + 1000.5 for i in range(30, 40)]  # the re-export, last in export order


def _rfc(ns: int) -> str:
    from onsflux.frames import rfc3339

    return rfc3339(ns)


def test_verify_sees_a_point_moved_by_a_microsecond_and_truncated_nanoseconds(
        settings: Settings, db: tuple[str, Path], tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    write_export(tmp_path / "e", COLUMNS, [rows(30, start)])
    with Migration(settings, str(tmp_path / "e"), str(mapping), table="generation_data") as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        mig.save(mig.plan())
        run(mig, url=settings.influxdb_url)
        assert verify(mig, c).ok
        m = "generation_data"
        pts = {r["time"]: r for r in c.query_points(
            f'SELECT * FROM "{m}" WHERE region = \'north\'', db=name)}
        # one point (not the first or last) moved by 1 µs, same values
        t = start + 10 * 60_000_000_000
        c.query(f'DELETE FROM "{m}" WHERE region = \'north\' AND time = {t}', db=name)
        c.write(name, f"{m},region=north,source=hydro power_mw={pts[t]['power_mw']!r},"
                      f"units={pts[t]['units']}i {t + 1000}".encode(), lines=1)
        moved = verify(mig, c)
        # every point of the series with its nanoseconds truncated to microseconds
        c.query(f'DELETE FROM "{m}" WHERE region = \'north\'', db=name)
        body = "\n".join(f"{m},region=north,source=hydro power_mw={r['power_mw']!r},"
                         f"units={r['units']}i {tt // 1000 * 1000}" for tt, r in pts.items())
        c.write(name, body.encode(), lines=len(pts))
        truncated = verify(mig, c)
    assert not moved.ok and {x.stat for x in moved.mismatches} == {"time checksum"}
    assert {x.field for x in moved.mismatches} == {"power_mw", "units"}
    assert all(x.series == "region=north,source=hydro" for x in moved.mismatches)
    assert not truncated.ok
    # every point shifted alike: the first and last times say it (the spacing is intact)
    assert {x.stat for x in truncated.mismatches} == {"first time", "last time"}
    assert {(x.field, x.source[-10:], x.target[-10:]) for x in truncated.mismatches
            if x.stat == "first time"} == {(f, "123456789Z", "123456000Z")
                                            for f in ("power_mw", "units")}


def test_rollback_after_a_killed_run_deletes_only_what_the_migration_wrote(
        settings: Settings, db: tuple[str, Path], tmp_path: Path) -> None:
    name, mapping = db
    start = t0()
    n = 24_000
    files = [rows(4_000, start + k * 4_000 * 10_000_000_000, regions=("north", "south"),
                  step=10_000_000_000) for k in range(6)]
    write_export(tmp_path / "e", COLUMNS, files)
    base = ["--state-dir", str(settings.state_dir), "--url", settings.influxdb_url or ""]
    src = ["--source", str(tmp_path / "e"), "--table", "generation_data"]
    r = CliRunner().invoke(app, [*base, "migrate", "plan", *src, "--mapping", str(mapping),
                                 "--target-rows", "8000", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == n
    m = "generation_data"
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.ensure_database(name)
        # not from the migration, in the migrated windows: another series, and a series
        # with one more tag than the migrated ones
        c.write(name, (f"{m},region=foreign,source=hydro power_mw=1.0 {start + 5}\n"
                       f"{m},region=north,source=hydro,plant=x power_mw=2.0 {start + 6}\n"
                       f"{m},region=foreign,source=hydro power_mw=3.0 "
                       f"{start + n * 10_000_000_000 - 7}").encode(), lines=3)
    env = {**os.environ, "INFLUXDB_URL": settings.influxdb_url or "",
           "ONSFLUX_STATE_DIR": str(settings.state_dir), "ONSFLUX_BATCH_LINES": "100",
           "ONSFLUX_WRITE_WORKERS": "1"}
    cmd = [str(Path(sys.executable).parent / "onsflux"), "migrate", "run", *src,
           "--workers", "2", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(settings.state_path, timeout=30) as con:
            row = con.execute("SELECT owner FROM migration_partitions WHERE status = 'running' "
                              "AND points > 0 LIMIT 1").fetchone()
        if row:
            victim = int(row[0].rsplit(":", 1)[1])
        else:
            time.sleep(0.02)
    assert victim is not None, proc.communicate()
    os.kill(victim, signal.SIGKILL)  # the worker process, mid-partition
    proc.communicate(timeout=300)
    r = CliRunner().invoke(app, [*base, "migrate", "rollback", *src, "--yes", "--json"])
    assert r.exit_code == 0, r.output
    deleted = json.loads(r.stdout)["deleted"]
    assert deleted and all(d["scope"] == "recorded series" for d in deleted)
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        left = c.query_points(f'SELECT power_mw, region, plant FROM "{m}"', db=name)
    assert sorted((x["region"], x["plant"], x["power_mw"]) for x in left) == [
        ("foreign", None, 1.0), ("foreign", None, 3.0), ("north", "x", 2.0)]
    r = CliRunner().invoke(app, [*base, "migrate", "verify", *src])
    assert r.exit_code == 0, r.output
    assert "absent" in r.stdout and "identical" not in r.stdout
    with Migration(settings, str(tmp_path / "e"), table="generation_data") as mig:
        wrote = [p for p in mig.partitions() if mig.store.series(mig.id, p.id)]
        assert wrote and all(p.status == "rolled_back" for p in wrote)
        assert not planned(mig)  # nothing left to roll back
