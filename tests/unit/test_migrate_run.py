"""run_partition against a scripted InfluxDB client: what the server dropped becomes rejects."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from onsflux.influx import WriteOutcome
from onsflux.influx.errors import WriteError
from onsflux.migrate import Migration, run_partition
from onsflux.migrate.export import write_unload
from onsflux.migrate.state import DONE
from onsflux.settings import Settings

T0 = 1_704_067_200_000_000_000
TYPES = {"region": "VARCHAR", "time": "TIMESTAMP", "power_mw": "DOUBLE", "units": "BIGINT"}


class PartialWrites:
    """The first write loses ``dropped`` points to a type conflict; the others pass."""

    kind = "2.x"  # no hourly rollup markers to clear before a partition writes

    def __init__(self, dropped: int) -> None:
        self.dropped = dropped
        self.calls = 0

    def write(self, bucket: str, body: bytes, *, lines: int) -> WriteOutcome:
        self.calls += 1
        if self.calls > 1:
            return WriteOutcome(status=204, lines=lines)
        err = WriteError("field_type_conflict", 'field type conflict: input field "units"',
                         dropped=self.dropped, field="units")
        return WriteOutcome(status=400, errors=[err], lines=lines)


class Rejects:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def add_rejects(self, key: str, rejects: pl.DataFrame) -> None:
        self.frames.append(rejects)

    def clear_rejects(self, key: str) -> None:
        self.frames.clear()


def test_points_the_server_dropped_are_counted_and_recorded(tmp_path: Path) -> None:
    n = 10
    frame = pl.DataFrame({"region": ["north"] * n, "time": [T0 + i for i in range(n)],
                          "power_mw": [float(i) for i in range(n)], "units": list(range(n))})
    write_unload(tmp_path / "e", "generation_data", frame, TYPES)
    settings = Settings().with_overrides(state_dir=tmp_path / "state")
    with Migration(settings, str(tmp_path / "e")) as mig:
        mig.save(mig.plan())
        (p,) = mig.partitions()
        client, rejects = PartialWrites(dropped=3), Rejects()
        done = run_partition(mig, client, p, rejects_store=rejects)  # type: ignore[arg-type]
    assert done.status == DONE, done.error
    assert (done.points, done.rejected) == (n - 3, 3)
    got = pl.concat(rejects.frames)
    assert got.height == 3
    # 10 rows carry "units" but the server says 3: which 3 is unknown, and said so
    assert set(got["column"]) == {"units"} and got["row"].null_count() == 3
    assert all("type conflict" in r for r in got["reason"])


def test_dropped_points_are_named_by_row_when_the_count_matches(tmp_path: Path) -> None:
    n = 10
    frame = pl.DataFrame({"region": ["north"] * n, "time": [T0 + i for i in range(n)],
                          "power_mw": [float(i) for i in range(n)], "units": list(range(n))})
    write_unload(tmp_path / "e", "generation_data", frame, TYPES)
    settings = Settings().with_overrides(state_dir=tmp_path / "state")
    with Migration(settings, str(tmp_path / "e")) as mig:
        mig.save(mig.plan())
        (p,) = mig.partitions()
        rejects = Rejects()
        done = run_partition(mig, PartialWrites(dropped=n), p,  # type: ignore[arg-type]
                             rejects_store=rejects)
    assert (done.points, done.rejected) == (0, n)
    assert sorted(pl.concat(rejects.frames)["row"].to_list()) == list(range(1, n + 1))
