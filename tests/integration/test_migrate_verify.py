"""``migrate verify`` against the real InfluxDB: bounded statements, sampled timestamps.

UNLOAD exports are written by ``tests.support.unload_docs`` as the AWS documentation
lays them out. Each test migrates into its own database (``migtest_vf_*``), dropped
after. The faults are planted in InfluxDB after a clean run; the expected mismatches
are written from the faults, not computed by verify's code.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from onsflux.influx import InfluxClient
from onsflux.migrate import Migration, run, verify
from onsflux.migrate.verify import Checks
from onsflux.settings import Settings
from tests.support.unload_docs import write_export

pytestmark = pytest.mark.integration

D = 86_400_000_000_000
STEP = 600_000_000_000  # 10 minutes
REGIONS = ("north", "south", "east", "west")
COLUMNS = [("region", "VARCHAR"), ("energy_source", "VARCHAR"), ("measure_name", "VARCHAR"),
           ("time", "TIMESTAMP"), ("power_mw", "DOUBLE"), ("units", "BIGINT")]
M = "generation_data"
V = sys.modules["onsflux.migrate.verify"]


def ts(ns: int) -> str:
    import datetime as dt

    secs, frac = divmod(ns, 1_000_000_000)
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)).strftime(
        "%Y-%m-%d %H:%M:%S") + f".{frac:09d}"


def export(folder: Path, start: int, days: int) -> None:
    """Every region every 10 minutes for ``days`` days from ``start``; values are
    multiples of 0.5 (exact float sums)."""
    rows: list[list[str | None]] = []
    for i in range(days * 144):
        for j, region in enumerate(REGIONS):
            rows.append([region, "hydro", "metrics", ts(start + i * STEP),
                         repr(i * 0.5 + j), str(i * 10 + j)])
    write_export(folder, COLUMNS, [rows[: len(rows) // 2], rows[len(rows) // 2:]])


@pytest.fixture
def db(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    name = "migtest_vf_" + request.node.name.split("[")[0].removeprefix("test_")[:24]
    mapping = settings.state_dir / f"{name}.toml"
    mapping.write_text(f'[tables.{M}]\nbucket = "{name}"\n')
    yield name, mapping
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.query(f'DROP DATABASE "{name}"')


def _recording(c: InfluxClient) -> list[str]:
    seen: list[str] = []
    inner: Callable[..., Any] = c.query_points

    def query_points(sql: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(sql)
        return inner(sql, *args, **kwargs)

    c.query_points = query_points  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("limit", [None, 100], ids=["grouped", "sub_ranges"])
def test_verify_finds_each_fault_in_its_partition_with_bounded_statements(
        settings: Settings, db: tuple[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, limit: int | None) -> None:
    name, mapping = db
    start = (time.time_ns() // D - 6) * D + 123_456_789
    export(tmp_path / "e", start, 4)
    if limit:
        monkeypatch.setattr(V, "VALUES_PER_STATEMENT", limit)
    with Migration(settings, str(tmp_path / "e"), str(mapping), table=M) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        plan = mig.plan(window="1d")
        mig.save(plan)
        assert run(mig, url=settings.influxdb_url).failed == 0
        parts = sorted(mig.partitions(), key=lambda p: p.start_ns)
        assert len(parts) == 4 and all(p.est_rows == 576 for p in parts)
        statements = _recording(c)
        clean = verify(mig, c)
        assert clean.ok, clean.mismatches[:5]
        values = [s for s in statements if s.startswith("SELECT count(")]
        if limit is None:  # every partition in one statement per field
            assert len(values) == 2 and all("GROUP BY time(1d), *" in s for s in values)
        else:  # 576 rows per partition, 100 per statement: 6 sub-ranges per field
            assert len(values) == sum(2 * -(-p.est_rows // 100) for p in parts)
            assert not any("GROUP BY time(" in s for s in values)

        def at(day: int, i: int) -> int:
            return start + day * 144 * STEP + i * STEP

        by_day = {(p.start_ns - start + 123_456_789) // D: p.id for p in parts}
        # day 0: series east gone; day 1: a changed value of north; day 2: a point of
        # south missing and an extra series; day 3: intact
        c.query(f"DELETE FROM {M} WHERE region = 'east' AND time >= {at(0, 0)} "
                f"AND time < {at(1, 0)}", db=name)
        c.write(name, f"{M},region=north,source=hydro power_mw=99999.5 {at(1, 7)}".encode(),
                lines=1)
        c.query(f"DELETE FROM {M} WHERE region = 'south' AND time = {at(2, 3)}", db=name)
        c.write(name, f"{M},region=x,source=hydro power_mw=1.5 {at(2, 5)}".encode(), lines=1)
        report = verify(mig, c)
    got = {(m.partition, m.series, m.field, m.stat) for m in report.mismatches}
    want = {(by_day[0], "region=east,source=hydro", "power_mw", "count"),
            (by_day[0], "region=east,source=hydro", "units", "count"),
            (by_day[1], "region=north,source=hydro", "power_mw", "sum"),
            (by_day[2], "region=south,source=hydro", "power_mw", "count"),
            (by_day[2], "region=south,source=hydro", "units", "count"),
            (by_day[2], "region=x,source=hydro", "power_mw", "count")}
    assert got == want
    east = next(m for m in report.mismatches if m.series.startswith("region=east"))
    assert (east.source, east.target) == (144, 0)
    states = {p.id: p.state for p in report.partitions}
    assert states[by_day[3]] == "identical" and states[by_day[0]] == "different"


def test_sums_and_timestamps_are_checked_on_the_sample_and_on_every_series_with_sample_1(
        settings: Settings, db: tuple[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name, mapping = db
    start = (time.time_ns() // D - 3) * D + 123_456_789
    export(tmp_path / "e", start, 1)
    monkeypatch.setattr(V, "TIME_ALL_VALUES", 0)  # sample even this small partition
    with Migration(settings, str(tmp_path / "e"), str(mapping), table=M) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        mig.save(mig.plan(window="1d"))
        assert run(mig, url=settings.influxdb_url).failed == 0
        assert verify(mig, c, checks=Checks(sample=0.25)).ok
        # one point of north (not the first or last) moved by 1 µs, same values
        t = start + 10 * STEP
        row = c.query_points(f"SELECT * FROM {M} WHERE region = 'north' AND time = {t}",
                             db=name)[0]
        c.query(f"DELETE FROM {M} WHERE region = 'north' AND time = {t}", db=name)
        c.write(name, f"{M},region=north,source=hydro power_mw={row['power_mw']!r},"
                      f"units={row['units']}i {t + 1000}".encode(), lines=1)
        # and a changed value of south
        c.write(name, f"{M},region=south,source=hydro power_mw=12345.5 {t}".encode(), lines=1)
        # a quarter of the values: one series of four per field and verify, drawn anew
        sampled = [verify(mig, c, checks=Checks(sample=0.25), rng=random.Random(seed))
                   for seed in range(12)]
        every = verify(mig, c, checks=Checks(sample=1.0))
        full = verify(mig, c, checks=Checks(full=True))
        c.write(name, f"{M},region=south,source=hydro power_mw={row['power_mw'] + 1.0!r} "
                      f"{t}".encode(), lines=1)  # south as it was
        # two changes in north that cancel in its sum: the minimum lowered, another raised
        first = c.query_points(f"SELECT * FROM {M} WHERE region = 'north' AND time = "
                               f"{start}", db=name)[0]
        c.write(name, (f"{M},region=north,source=hydro power_mw={first['power_mw'] - 1.0!r} "
                       f"{start}\n{M},region=north,source=hydro power_mw="
                       f"{row['power_mw'] + 1.0!r} {t + 1000}").encode(), lines=2)
        cancel_default = verify(mig, c, checks=Checks(sample=1.0))
        cancel_full = verify(mig, c, checks=Checks(full=True))
    faults = {("region=north,source=hydro", f, "time checksum") for f in ("power_mw", "units")}
    faults.add(("region=south,source=hydro", "power_mw", "sum"))
    found = [{(m.series, m.field, m.stat) for m in r.mismatches} for r in sampled]
    assert all(f <= faults for f in found)
    assert 0 < sum(bool(f) for f in found) < len(found)  # the sample misses some, by design
    assert set().union(*found) == faults  # and each fault is seen by some draw
    assert {(m.series, m.field, m.stat) for m in every.mismatches} == faults
    assert {(m.series, m.field, m.stat) for m in full.mismatches} == \
        faults | {("region=south,source=hydro", "power_mw", "max")}  # 12345.5: a new max
    assert all(r.partitions[0].time_series == 2 for r in sampled)  # one series × 2 fields
    assert every.partitions[0].time_series == 8
    assert {m.stat for m in cancel_default.mismatches} == {"time checksum"}  # sum unchanged
    assert {m.stat for m in cancel_full.mismatches} == {"time checksum", "min"}
