"""Dual-write to Timestream during the cutover (``ingest --also-write timestream``).
Timestream cannot run here: botocore's Stubber stands in, with the real
``timestream-write`` service model (requests and responses are validated against it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from botocore.stub import ANY, Stubber

from onsflux.cutover.dualwrite import MAX_RECORDS, TimestreamWriter
from onsflux.exceptions import ServerUnavailable, SourceError
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

T0 = 1_709_251_200_000_000_000
HOUR = 3_600_000_000_000


def _client() -> Any:
    return boto3.client("timestream-write", region_name="us-east-1",
                        aws_access_key_id="k", aws_secret_access_key="s")


def _frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "_row": pl.Series(range(2, n + 2), dtype=pl.UInt64),  # data rows of a file: 2, 3, …
        "time": [T0 + i * HOUR for i in range(n)],
        "region": ["northeast"] * n, "source": ["wind"] * n, "plant": ["lagoa"] * n,
        "power_mw": [100.0 + i for i in range(n)],
        "capacity_factor": [None if i == 0 else 0.5 for i in range(n)],
    })


def test_batches_of_100_multi_measure_records_rejects_and_throttling() -> None:
    client = _client()
    sleeps: list[float] = []
    writer = TimestreamWriter(Settings(max_attempts=3, backoff_base_seconds=0.01), client,
                              sleep=sleeps.append, now_us=lambda: 1_700_000_000_000_000)
    first = {  # the first record, written as the WriteRecords reference describes one
        "Dimensions": [{"Name": "region", "Value": "northeast", "DimensionValueType": "VARCHAR"},
                       {"Name": "source", "Value": "wind", "DimensionValueType": "VARCHAR"},
                       {"Name": "plant", "Value": "lagoa", "DimensionValueType": "VARCHAR"}],
        "MeasureName": "generation_data", "MeasureValueType": "MULTI",
        "MeasureValues": [{"Name": "power_mw", "Value": "100.0", "Type": "DOUBLE"}],
        "Time": str(T0), "TimeUnit": "NANOSECONDS", "Version": 1_700_000_000_000_000,
    }
    with Stubber(client) as stub:
        stub.add_client_error("write_records", "ThrottlingException", "slow down", 400)
        stub.add_response("write_records", {"RecordsIngested": {"Total": 100}},
                          expected_params={"DatabaseName": "ons_energy_data",
                                           "TableName": "generation_data", "Records": ANY})
        stub.add_client_error(
            "write_records", "RejectedRecordsException", "some records were rejected", 419,
            modeled_fields={"RejectedRecords": [
                {"RecordIndex": 3, "Reason": "The record timestamp is outside the time range "
                                             "of the data ingestion window."},
                {"RecordIndex": 7, "Reason": "A record with a higher version exists.",
                 "ExistingVersion": 9}]})
        stub.add_response("write_records", {"RecordsIngested": {"Total": 50}})
        frame = _frame(250)
        records, rows = writer.records("generation_data", frame, ["region", "source", "plant"],
                                       ["power_mw", "capacity_factor"], 1_700_000_000_000_000)
        assert records[0] == first and rows[:3] == [2, 3, 4]
        assert records[1]["MeasureValues"][1] == {"Name": "capacity_factor", "Value": "0.5",
                                                  "Type": "DOUBLE"}
        rejects = writer.write("file.parquet", "generation_data", frame,
                               ["region", "source", "plant"], ["power_mw", "capacity_factor"])
        stub.assert_no_pending_responses()
    assert len(sleeps) == 1 and writer.stats.retries == 1
    assert writer.stats.calls == 3 and writer.stats.records == 248
    assert rejects["row"].to_list() == [MAX_RECORDS + 3 + 2, MAX_RECORDS + 7 + 2]
    assert rejects["source"].to_list() == ["file.parquet"] * 2
    assert "outside the time range" in rejects["reason"][0]
    assert "existing version 9" in rejects["reason"][1]
    assert rejects["value"][0].startswith("region=northeast,source=wind,plant=lagoa power_mw=")


def test_single_measure_tables_get_one_record_per_field() -> None:
    writer = TimestreamWriter(Settings(timestream_shape="single"), _client())
    records, rows = writer.records("generation_data", _frame(2), ["region"],
                                   ["power_mw", "capacity_factor"], 7, "single")
    assert rows == [2, 3, 3]  # row 2 has no capacity_factor
    assert records[0] == {"Dimensions": [{"Name": "region", "Value": "northeast",
                                          "DimensionValueType": "VARCHAR"}],
                          "MeasureName": "power_mw", "MeasureValueType": "DOUBLE",
                          "MeasureValue": "100.0", "Time": str(T0), "TimeUnit": "NANOSECONDS",
                          "Version": 7}
    assert [r["MeasureName"] for r in records] == ["power_mw", "power_mw", "capacity_factor"]
    client = writer.client
    with Stubber(client) as stub:  # the real model accepts the single-measure form
        stub.add_response("write_records", {"RecordsIngested": {"Total": 3}},
                          expected_params={"DatabaseName": "ons_energy_data",
                                           "TableName": "generation_data", "Records": ANY})
        assert writer.write("f", "generation_data", _frame(2), ["region"],
                            ["power_mw", "capacity_factor"]).height == 0


def test_persistent_throttling_and_a_missing_table() -> None:
    client = _client()
    writer = TimestreamWriter(Settings(max_attempts=2, backoff_base_seconds=0.01), client,
                              sleep=lambda s: None)
    with Stubber(client) as stub:
        stub.add_client_error("write_records", "ThrottlingException", "slow down", 400)
        stub.add_client_error("write_records", "ThrottlingException", "slow down", 400)
        with pytest.raises(ServerUnavailable, match="ThrottlingException"):
            writer.write("f", "generation_data", _frame(3), ["region"], ["power_mw"])
        stub.add_client_error("write_records", "ResourceNotFoundException", "no table", 404)
        with pytest.raises(SourceError, match="ResourceNotFoundException"):
            writer.write("f", "generation_data", _frame(3), ["region"], ["power_mw"])


@pytest.mark.integration
def test_ingest_also_writes_to_timestream_and_records_its_rejects(
        settings: Settings, influx: InfluxClient, tmp_path: Path) -> None:
    """Real InfluxDB; Timestream through the Stubber (it cannot run here)."""
    path = tmp_path / "generation_data.parquet"
    _frame(30).drop("_row").write_parquet(path)
    client = _client()
    writer = TimestreamWriter(settings, client)
    store = SqliteStateStore(settings.state_path)
    with Stubber(client) as stub:
        stub.add_client_error("write_records", "RejectedRecordsException", "rejected", 419,
                              modeled_fields={"RejectedRecords": [
                                  {"RecordIndex": 4, "Reason": "Measure value out of range"}]})
        summary = Ingestor(settings, store, influx, also=[writer]).ingest([str(path)])
        stub.assert_no_pending_responses()
    assert summary.failed == 0 and summary.points == 30  # InfluxDB got everything
    assert summary.rejected == 1
    (rej,) = store.rejects(str(path)).to_dicts()
    assert rej["row"] == 5 and rej["column"] == "timestream"
    assert "Measure value out of range" in rej["reason"]
    store.close()
