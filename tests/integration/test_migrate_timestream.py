"""Timestream Query API → real InfluxDB: run, verify and sync.

Timestream cannot run here, so botocore's Stubber stands in for it in every test of this
module: it checks each request against the real ``timestream-query`` service model and
answers with the pages given here; InfluxDB is the real session server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from onsflux.influx import InfluxClient
from onsflux.migrate import Migration, run, sync, verify
from onsflux.migrate.mapping import mapping_from_dict
from onsflux.migrate.plan import HOUR_NS
from onsflux.migrate.sync import Stopper
from onsflux.settings import Settings

pytestmark = pytest.mark.integration

DB = "migtest_timestream"
COLS = [{"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "energy_source", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "measure_name", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
        {"Name": "measure_value::double", "Type": {"ScalarType": "DOUBLE"}},
        {"Name": "measure_value::bigint", "Type": {"ScalarType": "BIGINT"}}]
T0 = (time.time_ns() // HOUR_NS - 48) * HOUR_NS


def ts(ns: int) -> str:
    from onsflux.migrate.export import ts_text

    return ts_text(ns)


def rows(start: int, n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        single = [("Sul, \"S\" é", "wind", "power_mw", ts(start + i * 1000 + 7), str(i + 0.5), None),
                  ("norte", "hydro", "units", ts(start + i * 1000 + 7), None, str(2**60 + i)),
                  ("norte", "hydro", "units", ts(start + i * 1000 + 8), None, None)][i % 3]
        out.append({"Data": [{"NullValue": True} if v is None else {"ScalarValue": v}
                             for v in single]})
    return out


@pytest.fixture
def env(settings: Settings) -> Iterator[tuple[Settings, object, Stubber]]:
    client = boto3.client("timestream-query", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stub:
        yield settings, client, stub
    with InfluxClient(settings, url=settings.influxdb_url or "") as c:
        c.query(f'DROP DATABASE "{DB}"')


MAPPING = mapping_from_dict({"tables": {"generation_data": {"bucket": DB,
                                                           "canonical_tags": False}}})


def test_plan_run_verify_through_the_api(env: tuple[Settings, object, Stubber]) -> None:
    """Timestream cannot run here, so the Stubber stands in (real service model)."""
    settings, client, stub = env
    page = rows(T0, 30)
    stub.add_response("query", {"QueryId": "h", "ColumnInfo": [
        {"Name": "hour", "Type": {"ScalarType": "TIMESTAMP"}},
        {"Name": "n", "Type": {"ScalarType": "BIGINT"}}],
        "Rows": [{"Data": [{"ScalarValue": ts(T0)}, {"ScalarValue": "30"}]}]})
    stub.add_response("query", {"QueryId": "s", "ColumnInfo": COLS, "Rows": page[:1]})
    stub.add_response("query", {"QueryId": "c", "ColumnInfo": [
        {"Name": "n", "Type": {"ScalarType": "BIGINT"}}], "Rows": [{"Data": [{"ScalarValue": "2"}]}]})
    with Migration(settings, "timestream://ons_energy_data/generation_data", MAPPING,
                   boto_client=client) as mig:
        plan = mig.plan()
        assert plan.rows == 30 and plan.tables[0].stats.series == 2 and len(plan.partitions) == 1
        p = plan.partitions[0]
        sql = ('SELECT * FROM "ons_energy_data"."generation_data" WHERE "time" >= '
               f'from_nanoseconds({p.start_ns}) AND "time" < from_nanoseconds({p.stop_ns})')
        for _ in range(2):  # once for run, once for verify; two pages each
            stub.add_response("query", {"QueryId": "r", "NextToken": "n1", "ColumnInfo": COLS,
                                        "Rows": page[:17]}, {"QueryString": sql})
            stub.add_response("query", {"QueryId": "r", "ColumnInfo": COLS, "Rows": page[17:]},
                              {"QueryString": sql, "NextToken": "n1"})
        mig.save(plan)
        summary = run(mig, url=settings.influxdb_url)
        assert summary.failed == 0 and summary.points == 20
        assert summary.partitions[0]["null_measures"] == 10
        with InfluxClient(settings, url=settings.influxdb_url or "") as c:
            report = verify(mig, c)
            got = c.query_points('SELECT * FROM "generation_data" WHERE units > 0', db=DB)
        stub.assert_no_pending_responses()
    assert report.ok, report.mismatches
    assert sorted(r["units"] for r in got) == [2**60 + i for i in range(30) if i % 3 == 1]


def test_sync_overlaps_idempotently_and_stops(env: tuple[Settings, object, Stubber]) -> None:
    """Timestream cannot run here, so the Stubber stands in (real service model)."""
    settings, client, stub = env
    now = T0 + 10 * HOUR_NS
    page = rows(now - 2 * HOUR_NS, 12)
    for _ in range(3):  # same rows come back in the overlap every iteration
        stub.add_response("query", {"QueryId": "w", "ColumnInfo": COLS, "Rows": page})
    stopper = Stopper()
    seen = []

    def progress(it: object) -> None:
        seen.append(it)
        if len(seen) == 3:
            stopper._handle(15, None)  # what SIGTERM does

    with Migration(settings, "timestream://ons_energy_data/generation_data", MAPPING,
                   boto_client=client) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        report = sync(mig, c, lag_s=60, overlap_s=3 * 3600, interval_s=0.01,
                      now_ns=lambda: now, stopper=stopper, progress=progress)
        count = c.query_points('SELECT count(*) FROM "generation_data"', db=DB)[0]
        wm = mig.store.watermark(mig.id, "generation_data")
    assert report.stopped_by == "SIGTERM" and len(report.iterations) == 3
    assert report.failed == 0
    assert count["count_power_mw"] == 4 and count["count_units"] == 4  # no duplicates
    assert wm == now - 60 * 1_000_000_000
    assert report.iterations[-1].tables[0]["lag_s"] == 60.0


def test_sync_keeps_the_details_of_rejected_rows(env: tuple[Settings, object, Stubber]) -> None:
    """Timestream cannot run here, so the Stubber stands in (real service model)."""
    from onsflux.state.store import store_for

    settings, client, stub = env
    now = T0 + 10 * HOUR_NS
    page = rows(now - 2 * HOUR_NS, 6)
    page[0]["Data"][4] = {"ScalarValue": "NaN"}  # a DOUBLE line protocol cannot carry
    stub.add_response("query", {"QueryId": "w", "ColumnInfo": COLS, "Rows": page})
    with Migration(settings, "timestream://ons_energy_data/generation_data", MAPPING,
                   boto_client=client) as mig, \
            InfluxClient(settings, url=settings.influxdb_url or "") as c:
        report = sync(mig, c, lag_s=60, overlap_s=3 * 3600, once=True, now_ns=lambda: now)
    (entry,) = report.iterations[0].tables
    assert entry["rejected"] == 1 and "1 rejected" in entry["explain"]
    store = store_for(settings)
    try:
        got = store.rejects(entry["rejects_key"])
    finally:
        store.close()
    assert got.height == 1 and "NaN" in got["reason"][0] and got["row"][0] == 1
