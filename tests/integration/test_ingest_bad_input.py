"""Issue 9, "data lost or corrupted at ingest": the pipeline cases, against the real influxd.

Expected numbers come from how the test files are built, not from the reader.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor, retry_dead_letters
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

pytestmark = pytest.mark.integration

SP = ZoneInfo("America/Sao_Paulo")
HEADER = "id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed"


def _hours(n: int) -> list[datetime]:
    start = (datetime.now(SP) - timedelta(days=120)).replace(minute=0, second=0, microsecond=0,
                                                            tzinfo=None)
    return [start + timedelta(hours=h) for h in range(n)]


def _load_file(path: Path, rows: list[tuple[datetime, float]]) -> Path:
    lines = [HEADER] + [f"SE;SUDESTE;{t:%Y-%m-%d %H:%M:%S};{v}" for t, v in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _utc_ns(t: datetime) -> int:
    return int(t.replace(tzinfo=SP).astimezone(UTC).timestamp()) * 10**9


@pytest.mark.parametrize("verify", ["count", "sample"])
def test_a_repeat_in_a_later_chunk_verifies_and_the_last_value_wins(
        settings: Settings, influx: InfluxClient, tmp_path: Path, verify: str) -> None:
    """2,010 rows, chunks of 500, the last 10 repeat the first 10 hours with new values:
    InfluxDB keeps 2,000 points (last write wins); verify must expect exactly that, from
    the totals (``count``) or from the series it reads back (``sample``)."""
    hours = _hours(2_000)
    rows = [(t, 30_000.0 + i) for i, t in enumerate(hours)]
    rows += [(t, 50_000.0 + i) for i, t in enumerate(hours[:10])]
    path = _load_file(tmp_path / "carga.csv", rows)
    s = settings.model_copy(update={"chunk_rows": 500, "verify": verify})
    store = SqliteStateStore(s.state_path)
    try:
        summary = Ingestor(s, store, influx).ingest([str(path)])
        [obj] = summary.objects
        assert obj.status == "ingested", obj.as_dict()
        assert obj.verified == "ok" if verify == "count" else "read back" in str(obj.verified)
        assert store.dead_letters() == []
    finally:
        store.close()
    [row] = influx.query_points("SELECT count(demand_mw) FROM consumption_data",
                                "consumption_data")
    assert row["count"] == 2_000
    first = influx.query_points(
        f"SELECT demand_mw FROM consumption_data WHERE time <= {_utc_ns(hours[9])}",
        "consumption_data")
    assert [r["demand_mw"] for r in first] == [50_000.0 + i for i in range(10)]


def test_dlq_retry_retries_the_rest_when_one_dead_letter_was_deleted(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    hours = _hours(24)
    kept = _load_file(tmp_path / "kept.csv", [(t, 1_000.0) for t in hours])
    gone = _load_file(tmp_path / "gone.csv", [(t, 2_000.0) for t in hours])
    store = SqliteStateStore(settings.state_path)
    try:
        for path in (gone, kept):  # both dead-lettered (say, InfluxDB was down)
            store.begin(str(path), "x")
            store.fail(str(path), "x", "unavailable", "InfluxDB unavailable")
        os.remove(gone)
        summary = retry_dead_letters(Ingestor(settings, store, influx))
        by_key = {o.key: o for o in summary.objects}
        assert by_key[str(kept)].status == "ingested" and by_key[str(kept)].points == 24
        assert by_key[str(gone)].status == "failed"
        assert "no such file" in (by_key[str(gone)].error or "")
        assert [d.key for d in store.dead_letters()] == [str(gone)]
    finally:
        store.close()


def test_a_bad_symlink_and_a_fifo_fail_alone_and_the_folder_is_ingested(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _load_file(folder / "b.csv", [(t, 7.0) for t in _hours(24)])
    (folder / "a.csv").symlink_to(tmp_path / "missing.csv")
    os.mkfifo(folder / "c.csv")
    store = SqliteStateStore(settings.state_path)
    try:
        summary = Ingestor(settings, store, influx).ingest([str(folder)])
        status = {Path(o.key).name: (o.status, o.error) for o in summary.objects}
        assert status["b.csv"][0] == "ingested"
        assert status["a.csv"][0] == "failed" and "broken symbolic link" in str(status["a.csv"][1])
        assert status["c.csv"][0] == "failed" and "FIFO" in str(status["c.csv"][1])
        assert sorted(Path(d.key).name for d in store.dead_letters()) == ["a.csv", "c.csv"]
    finally:
        store.close()
