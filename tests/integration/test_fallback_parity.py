"""Issue 9 items 4 and 5: the file fallback holds what InfluxDB holds, for every layout
the ingest accepts, and by default answers from the objects the state store recorded.

Per layout: the same sample data written as ONS files, as processed long files with
units in GW / kWh / % and Portuguese region and source names, and as wide files with a
``time`` or a ``timestamp`` column; ingested into the real influxd of the session; then
the same specs are run on InfluxDB (InfluxQL) and on the files, and must agree.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from onsflux import sample
from onsflux.exceptions import ServerUnavailable
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.query import Executor, ParquetFallback, QuerySpec
from onsflux.query.fallback import StoreFallback
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings

pytestmark = pytest.mark.integration

START = date.today() - timedelta(days=8)
T0 = datetime.combine(START, datetime.min.time(), UTC).isoformat()
T1 = datetime.combine(START + timedelta(days=4), datetime.min.time(), UTC).isoformat()

PT_REGION = {"north": "Norte", "northeast": "Nordeste", "southeast": "Sudeste",
             "south": "Sul", "sin": "SIN"}
PT_SOURCE = {"hydro": "Hidrelétrica", "thermal": "Térmica", "wind": "Eólica",
             "solar": "Fotovoltaica", "nuclear": "Nuclear"}
#: field -> (unit written, factor from the catalog unit to it)
UNITS = {"power_mw": ("GW", 1e-3), "consumption_mwh": ("kWh", 1e3),
         "capacity_factor": ("%", 100.0), "load_factor": ("%", 100.0),
         "losses_mwh": ("kWh", 1e3)}


def _processed(data: sample.SampleData, out: Path) -> list[Path]:
    df = sample.processed_frame(data)
    unit = pl.col("measurement_type").replace_strict(
        {f: u for f, (u, _) in UNITS.items()}, default=pl.col("unit"))
    factor = pl.col("measurement_type").replace_strict(
        {f: k for f, (_, k) in UNITS.items()}, default=1.0, return_dtype=pl.Float64)
    df = df.with_columns(
        (pl.col("value") * factor).alias("value"), unit.alias("unit"),
        pl.col("region").replace(PT_REGION), pl.col("energy_source").replace(PT_SOURCE))
    out.mkdir(parents=True)
    path = out / "processed.parquet"
    df.write_parquet(path)
    return [path]


def _wide_timestamp(data: sample.SampleData, out: Path) -> list[Path]:
    paths = sample.write(data, out, "wide")
    for p in paths:  # the time column named `timestamp`
        pl.read_parquet(p).rename({"time": "timestamp"}).write_parquet(p)
    return paths


LAYOUTS = {
    "ons": lambda d, out: sample.write(d, out, "ons"),
    "processed_gw_kwh_pct_pt": _processed,
    "wide_time": lambda d, out: sample.write(d, out, "wide"),
    "wide_timestamp": _wide_timestamp,
}

SPECS = [
    {"measurement": "consumption_data", "fields": ["demand_mw"], "aggregate": "max",
     "every": "1d", "group_by": ["region"]},
    {"measurement": "consumption_data", "fields": ["demand_mw"], "aggregate": "mean",
     "where": {"region": "southeast"}},
    {"measurement": "generation_data", "fields": ["power_mw"], "aggregate": "sum",
     "every": "1d", "group_by": ["source"]},
    {"measurement": "generation_data", "fields": ["power_mw"], "aggregate": "mean",
     "where": {"plant": "tucurui"}, "every": "6h"},
    {"measurement": "transmission_data", "fields": ["flow_mw"], "aggregate": "mean",
     "every": "1d", "group_by": ["line"]},
]


def _spec(doc: dict[str, object]) -> QuerySpec:
    return QuerySpec.parse({"start": T0, "stop": T1, **doc})


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture(scope="module")
def sample_data() -> sample.SampleData:
    return sample.generate(days=4, start=START, seed=17)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_influxdb_and_the_fallback_give_the_same_numbers(
        layout: str, sample_data: sample.SampleData, settings: Settings, influx: InfluxClient,
        tmp_path: Path) -> None:
    files = LAYOUTS[layout](sample_data, tmp_path / layout)
    store = SqliteStateStore(settings.state_path)
    try:
        summary = Ingestor(settings, store, influx).ingest([str(f) for f in files])
    finally:
        store.close()
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    fallback = ParquetFallback(tmp_path / layout, settings)  # the folder the files are in
    with Executor(settings, influx, fallback=None) as executor:
        for doc in SPECS:
            spec = _spec(doc)
            if layout == "ons" and spec.measurement == "transmission_data":
                spec = _spec({**doc, "where": {"line": "north_northeast"}, "group_by": []})
            server, files_ = executor.run(spec), fallback.run(spec)
            assert server.rows, (layout, doc)
            got = {r.key(): r.value for r in server.rows}
            want = {r.key(): r.value for r in files_.rows}
            assert got.keys() == want.keys(), (layout, doc, sorted(got)[:3], sorted(want)[:3])
            bad = [(k, got[k], want[k]) for k in got if not _close(got[k], want[k])]
            assert not bad, (layout, doc, bad[:3])


def test_files_that_match_nothing_say_why(settings: Settings, sample_data: sample.SampleData,
                                          tmp_path: Path) -> None:
    files = [str(p) for p in sample.write(sample_data, tmp_path / "wide", "wide")]
    only = tmp_path / "generation_only"
    only.mkdir()
    Path(files[0]).rename(only / "generation_data.parquet")
    files[0] = str(only / "generation_data.parquet")
    fb = ParquetFallback(only, settings)
    empty = fb.run(_spec(SPECS[0]))
    assert empty.rows == []
    assert "none of the 1 file(s) holds consumption_data (they hold generation_data)" in \
        " ".join(empty.warnings)
    fb = ParquetFallback(files, settings)
    later = QuerySpec.parse({**SPECS[1], "start": "2001-01-01T00:00:00Z",
                             "stop": "2001-01-02T00:00:00Z"})
    assert "outside the period asked" in " ".join(fb.run(later).warnings)
    nowhere = _spec({**SPECS[3], "where": {"plant": "no_such_plant"}})
    msg = " ".join(fb.run(nowhere).warnings)
    assert "no generation_data series with plant = no_such_plant" in msg and "angra_1" in msg


def test_influxdb_down_answers_from_the_ingested_objects_by_default(
        settings: Settings, influx: InfluxClient, sample_data: sample.SampleData,
        tmp_path: Path) -> None:
    """No ONSFLUX_FALLBACK_PATH: the objects the state store recorded are the fallback."""
    files = sample.write(sample_data, tmp_path / "ons", "ons")
    store = SqliteStateStore(settings.state_path)
    try:
        assert Ingestor(settings, store, influx).ingest([str(f) for f in files]).failed == 0
    finally:
        store.close()
    spec = _spec(SPECS[0])
    with Executor(settings, influx, fallback=None) as up:
        expected = {r.key(): r.value for r in up.run(spec).rows}
    down = fast_settings("http://127.0.0.1:9", settings.state_dir)  # nothing listens there
    assert down.fallback_path is None
    with Executor(down) as executor:
        assert isinstance(executor.fallback, StoreFallback)
        result = executor.run(spec)
        assert result.served_from == "s3_fallback"
        assert {r.key(): r.value for r in result.rows} == pytest.approx(expected)
        # the breaker is the process's: a second executor on the same server does not retry
        with Executor(down) as again:
            assert again.client.breaker is executor.client.breaker
    # nothing ingested for a measurement: InfluxDB's error, not an empty answer
    empty_state = fast_settings("http://127.0.0.1:9", tmp_path / "empty_state")
    with Executor(empty_state) as executor, pytest.raises(ServerUnavailable):
        executor.run(_spec(SPECS[4]))
