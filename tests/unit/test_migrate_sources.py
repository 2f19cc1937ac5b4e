"""UNLOAD exports on disk and the Timestream Query API (through botocore's Stubber)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import polars as pl
import pytest
from botocore.stub import Stubber

from onsflux.exceptions import SchemaError, ServerUnavailable, SourceError
from onsflux.migrate.export import ts_text, write_unload
from onsflux.migrate.mapping import default_mapping
from onsflux.migrate.sources import TimestreamSource, UnloadSource
from onsflux.settings import Settings
from onsflux.sources.timestream import TimestreamQuery, parse_timestamps
from onsflux.sources.unload import CsvOptions, discover, read_file

H = 3_600_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01
WEIRD = ['Sudeste, "CO" é', "a;b\\c", "norte"]
TYPES = {"region": "VARCHAR", "energy_source": "VARCHAR", "measure_name": "VARCHAR",
         "time": "TIMESTAMP", "measure_value::double": "DOUBLE",
         "measure_value::bigint": "BIGINT", "measure_value::varchar": "VARCHAR"}


def frame(n: int = 30) -> pl.DataFrame:
    return pl.DataFrame({
        "region": [WEIRD[i % 3] for i in range(n)],
        "energy_source": ["hydro" if i % 2 else "wind" for i in range(n)],
        "measure_name": [["power_mw", "count", "label"][i % 3] for i in range(n)],
        "time": [T0 + i * H + 123 for i in range(n)],
        "measure_value::double": [i + 0.25 if i % 3 == 0 and i % 9 else None for i in range(n)],
        "measure_value::bigint": [2**53 + i if i % 3 == 1 else None for i in range(n)],
        "measure_value::varchar": [f'v"{i},' if i % 3 == 2 else None for i in range(n)],
    }, schema_overrides={"measure_value::bigint": pl.Int64})


@pytest.mark.parametrize("fmt,gz,header,delim", [
    ("CSV", False, False, ","), ("CSV", True, True, ","), ("CSV", True, False, "|"),
    ("PARQUET", False, False, ","), ("PARQUET", True, False, ","),
])
def test_unload_round_trip(tmp_path: Path, fmt: str, gz: bool, header: bool, delim: str) -> None:
    f = frame()
    write_unload(tmp_path, "generation_data", f, TYPES, fmt=fmt, gzip=gz, header=header,
                 delimiter=delim, partitioned_by=["energy_source"], rows_per_file=7)
    exports = discover(str(tmp_path), Settings(), ["generation_data", "consumption_data"])
    assert len(exports) == 1 and exports[0].table == "generation_data"
    e = exports[0]
    assert e.total_rows == 30 and len(e.files) == 6
    got = pl.concat([read_file(e, x, Settings(), csv=CsvOptions(delimiter=delim))
                     for x in e.files], how="diagonal").drop("_row")
    got = got.select(f.columns).sort("time")
    assert got.equals(f.sort("time")), (got, f)


def test_manifest_checks(tmp_path: Path) -> None:
    base = write_unload(tmp_path, "generation_data", frame(), TYPES, fmt="CSV", rows_per_file=10)
    files = sorted((base / "results").glob("*.csv"))
    files[0].write_bytes(files[0].read_bytes()[:-5])
    with pytest.raises(SourceError, match="bytes, the manifest says"):
        discover(str(tmp_path), Settings(), ["generation_data"])
    files[0].unlink()
    with pytest.raises(SourceError, match="missing"):
        discover(str(tmp_path), Settings(), ["generation_data"])


def test_manifest_row_count_is_checked_at_explore(tmp_path: Path) -> None:
    base = write_unload(tmp_path, "generation_data", frame(), TYPES, fmt="PARQUET")
    manifest = next(base.glob("*_manifest.json"))
    doc = json.loads(manifest.read_text())
    doc["result_files"][0]["file_metadata"]["row_count"] = 31
    doc["query_metadata"]["total_row_count"] = 31
    manifest.write_text(json.dumps(doc))
    src = UnloadSource(str(tmp_path), Settings(), default_mapping())
    with pytest.raises(SourceError, match="manifest says 31"):
        src.explore("generation_data")


def test_unload_explore_and_window_read(tmp_path: Path) -> None:
    write_unload(tmp_path, "generation_data", frame(), TYPES, fmt="PARQUET", rows_per_file=10,
                 row_group_size=5)
    src = UnloadSource(str(tmp_path), Settings(), default_mapping())
    stats = src.explore("generation_data")
    assert stats.rows == 30 and stats.null_measures == 4 and stats.points == 26
    assert stats.series == 6 and stats.first_ns == T0 + 123
    chunks = list(src.chunks("generation_data", T0 + 5 * H, T0 + 8 * H, sorted(src._by_file)))
    assert sum(c.frame.height for c in chunks) == 3


def test_timestamp_text_is_exact() -> None:
    texts = ["2024-01-01 00:00:00.000000001", "1969-12-31 23:59:59.999999999",
             "2024-02-29 12:34:56.123456789", "2024-01-01 00:00:00"]
    got = parse_timestamps(pl.Series(texts)).to_list()
    assert got == [T0 + 1, -1, 1_709_210_096_123_456_789, T0]
    assert ts_text(got[2]) == texts[2]
    with pytest.raises(SchemaError):
        parse_timestamps(pl.Series(["yesterday"]))


# --------------------------------------------------------------------- Timestream API

def _client() -> object:
    return boto3.client("timestream-query", region_name="us-east-1",
                        aws_access_key_id="k", aws_secret_access_key="s")


COLS = [{"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "measure_name", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
        {"Name": "measure_value::double", "Type": {"ScalarType": "DOUBLE"}},
        {"Name": "measure_value::bigint", "Type": {"ScalarType": "BIGINT"}}]


def _row(*values: str | None) -> dict[str, object]:
    return {"Data": [{"NullValue": True} if v is None else {"ScalarValue": v} for v in values]}


def test_query_pages_nulls_and_throttling() -> None:
    """Timestream cannot run here, so botocore's Stubber stands in: it checks every request
    against the real timestream-query service model and answers with these pages."""
    client = _client()
    sql = "SELECT * FROM x"
    with Stubber(client) as stub:
        stub.add_client_error("query", "ThrottlingException", "slow down", 400,
                              expected_params={"QueryString": sql})
        stub.add_response("query", {"QueryId": "q1", "NextToken": "t1", "ColumnInfo": COLS,
                                    "Rows": [_row("Sul, é", "p", "2024-01-01 00:00:00.000000001",
                                                  "1.5", None)]},
                          {"QueryString": sql})
        stub.add_response("query", {"QueryId": "q1", "NextToken": "t2", "ColumnInfo": COLS,
                                    "Rows": []}, {"QueryString": sql, "NextToken": "t1"})
        stub.add_response("query", {"QueryId": "q1", "ColumnInfo": COLS, "Rows": [
            _row("norte", "n", "2024-01-01 00:00:01.000000000", None, str(2**63 - 1))]},
            {"QueryString": sql, "NextToken": "t2"})
        sleeps: list[float] = []
        q = TimestreamQuery(Settings(backoff_base_seconds=0.01), client, sleep=sleeps.append)
        result = q.query(sql)
        stub.assert_no_pending_responses()
    assert result.pages == 3 and len(sleeps) == 1
    f = result.frame
    assert f["time"].to_list() == [T0 + 1, T0 + 1_000_000_000]
    assert f["measure_value::bigint"].to_list() == [None, 2**63 - 1]
    assert f["measure_value::double"].to_list() == [1.5, None]
    assert f["region"].to_list() == ["Sul, é", "norte"]


def test_terminal_and_exhausted_errors() -> None:
    """Timestream cannot run here, so botocore's Stubber stands in (real service model)."""
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("query", "ValidationException", "bad sql", 400)
        for _ in range(2):
            stub.add_client_error("query", "ThrottlingException", "slow", 400)
        q = TimestreamQuery(Settings(max_attempts=2), client, sleep=lambda s: None)
        with pytest.raises(SourceError, match="bad sql"):
            q.query("SELECT 1")
        with pytest.raises(ServerUnavailable, match="Throttling"):
            q.query("SELECT 1")


def test_timestream_source_explore_and_window_sql() -> None:
    """Timestream cannot run here, so botocore's Stubber stands in (real service model)."""
    client = _client()
    src = TimestreamSource("timestream://ons_energy_data/generation_data", Settings(),
                           default_mapping(), client=client)
    with Stubber(client) as stub:
        stub.add_response("query", {"QueryId": "a", "Rows": [
            _row("2024-01-01 00:00:00.000000000", "10"),
            _row("2024-01-01 01:00:00.000000000", "5")], "ColumnInfo": [
            {"Name": "hour", "Type": {"ScalarType": "TIMESTAMP"}},
            {"Name": "n", "Type": {"ScalarType": "BIGINT"}}]})
        stub.add_response("query", {"QueryId": "b", "Rows": [], "ColumnInfo": COLS},
                          {"QueryString": 'SELECT * FROM "ons_energy_data".'
                                          '"generation_data" LIMIT 1'})
        stub.add_response("query", {"QueryId": "c", "Rows": [_row("3")], "ColumnInfo": [
            {"Name": "n", "Type": {"ScalarType": "BIGINT"}}]})
        stats = src.explore("generation_data")
    assert stats.rows == 15 and stats.hours == {T0: 10, T0 + H: 5} and stats.series == 3
    assert src.window_sql("generation_data", T0, T0 + H) == (
        'SELECT * FROM "ons_energy_data"."generation_data" WHERE "time" >= '
        f'from_nanoseconds({T0}) AND "time" < from_nanoseconds({T0 + H})')
