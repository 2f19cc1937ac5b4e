"""The Timestream backend (blue) through botocore's Stubber: Timestream cannot run here,
so the Stubber stands in with the real ``timestream-query`` service model (it refuses
responses the model does not allow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from onsflux.cutover.backends import TimestreamBackend
from onsflux.exceptions import ServerUnavailable, SourceError
from onsflux.query import QuerySpec
from onsflux.settings import Settings

RAW_COLS = [{"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
            {"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "source", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "plant", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "measure_name", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "measure_value::double", "Type": {"ScalarType": "DOUBLE"}}]


def _row(*cells: str | None) -> dict[str, Any]:
    return {"Data": [{"NullValue": True} if c is None else {"ScalarValue": c} for c in cells]}


@pytest.fixture
def env() -> Iterator[tuple[TimestreamBackend, Stubber, list[float]]]:
    client = boto3.client("timestream-query", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    sleeps: list[float] = []
    settings = Settings(max_attempts=3, backoff_base_seconds=0.01, timestream_shape="single")
    with Stubber(client) as stub:
        yield TimestreamBackend(settings, client, sleep=sleeps.append), stub, sleeps
        stub.assert_no_pending_responses()


RAW = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                       "start": "2024-03-01", "stop": "2024-03-02"})


def test_pages_are_followed_typed_and_throttling_is_retried(env: Any) -> None:
    backend, stub, sleeps = env


    stub.add_client_error("query", "ThrottlingException", "Rate exceeded", 400)
    stub.add_response("query", {"QueryId": "q1", "NextToken": "t1", "ColumnInfo": RAW_COLS,
                                "Rows": [_row("2024-03-01 00:00:00.000000001", "northeast",
                                              "wind", "lagoa", "power_mw", "101.25")]})
    stub.add_response("query", {"QueryId": "q1", "NextToken": "t2", "ColumnInfo": RAW_COLS,
                                "Rows": []},
                      expected_params={"QueryString": _sql(RAW), "NextToken": "t1"})
    stub.add_response("query", {"QueryId": "q1", "ColumnInfo": RAW_COLS,
                                "Rows": [_row("2024-03-01 01:00:00", "north", "hydro", None,
                                              "power_mw", None)]},
                      expected_params={"QueryString": _sql(RAW), "NextToken": "t2"})
    result = backend.run(RAW)
    assert len(sleeps) == 1  # one throttled call, retried once
    assert result.served_from == "timestream" and result.dialect == "timestream"
    assert [r.as_dict() for r in result.rows] == [
        {"timestamp": "2024-03-01T00:00:00.000000001Z", "measurement": "generation_data",
         "field": "power_mw", "value": 101.25,
         "tags": {"region": "northeast", "source": "wind", "plant": "lagoa"}},
        {"timestamp": "2024-03-01T01:00:00Z", "measurement": "generation_data",
         "field": "power_mw", "value": None, "tags": {"region": "north", "source": "hydro"}},
    ]
    assert result.rows[0].time_ns == 1_709_251_200_000_000_001


def _sql(spec: QuerySpec) -> str:
    from onsflux.query import render

    return render(spec, "timestream").text


def test_multi_measure_tables_are_read_a_column_per_field() -> None:
    """The shape the dual-write writes: measure_name = the measurement, a column per field."""
    import sqlglot

    client = boto3.client("timestream-query", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    backend = TimestreamBackend(Settings(timestream_database="ons blue"), client)
    spec = QuerySpec.parse({"measurement": "generation_data",
                            "fields": ["power_mw", "capacity_factor"], "start": "2024-03-01",
                            "stop": "2024-03-02", "every": "1d", "aggregate": "mean",
                            "group_by": ["region"], "timezone": "America/Sao_Paulo"})
    sql = backend.sql(spec)
    assert 'FROM "ons blue"."generation_data"' in sql
    assert "\"measure_name\" = 'generation_data'" in sql
    assert 'avg("power_mw") AS "power_mw"' in sql and 'avg("capacity_factor") AS' in sql
    assert "measure_value" not in sql
    (tree,) = sqlglot.parse(sql, read="presto", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, sqlglot.exp.Select)
    cols = [{"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
            {"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "power_mw", "Type": {"ScalarType": "DOUBLE"}},
            {"Name": "capacity_factor", "Type": {"ScalarType": "DOUBLE"}}]
    with Stubber(client) as stub:
        stub.add_response("query", {"QueryId": "m", "ColumnInfo": cols, "Rows": [
            _row("2024-03-01 03:00:00.000000000", "north", "5000.5", None)]},
            expected_params={"QueryString": sql})
        result = backend.run(spec)
    assert [(r.field, r.value, r.tags) for r in result.rows] == [
        ("power_mw", 5000.5, {"region": "north"}), ("capacity_factor", None, {"region": "north"})]
    raw = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                           "start": "2024-03-01", "stop": "2024-03-02", "top": 3})
    text = backend.sql(raw)
    assert text.startswith('SELECT "time", "region", "source", "plant"')
    assert 'ORDER BY "power_mw" DESC' in text


def test_aggregate_columns_become_rows_and_limit_truncates(env: Any) -> None:
    backend, stub, _ = env
    spec = QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "start": "2024-03-01", "stop": "2024-03-02", "aggregate": "max",
                            "group_by": ["region"], "limit": 1})
    cols = [{"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
            {"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "measure_name", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "value", "Type": {"ScalarType": "DOUBLE"}}]
    stub.add_response("query", {"QueryId": "a", "ColumnInfo": cols, "Rows": [
        _row("2024-03-01 00:00:00.000000000", "north", "demand_mw", "7000.5"),
        _row("2024-03-01 00:00:00.000000000", "south", "demand_mw", "12000")]},
        expected_params={"QueryString": _sql(spec)})
    result = backend.run(spec)
    assert result.truncated and len(result.rows) == 1
    assert (result.rows[0].field, result.rows[0].value, result.rows[0].tags) == (
        "demand_mw", 7000.5, {"region": "north"})
    assert '"ons_energy_data"."consumption_data"' in result.query


def test_persistent_throttling_is_unavailable_and_access_denied_is_terminal(env: Any) -> None:
    backend, stub, sleeps = env
    for _ in range(3):
        stub.add_client_error("query", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(ServerUnavailable, match="ThrottlingException"):
        backend.run(RAW)
    assert len(sleeps) == 2
    stub.add_client_error("query", "AccessDeniedException", "not allowed", 403)
    with pytest.raises(SourceError, match="AccessDeniedException"):
        backend.run(RAW)
