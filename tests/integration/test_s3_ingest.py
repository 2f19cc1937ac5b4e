"""s3:// ingest and the Lambda S3 handler, against a real S3 server (SeaweedFS) and influxd.

The Lambda *runtime* is not emulated: the handler is a plain function called with the
event shape S3 sends, which is exactly what the runtime does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import polars as pl
import pytest

from onsflux import sample
from onsflux.handlers import RetryableIngestError, s3_event_urls, s3_ingest
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.support.s3 import S3Server, free_port

pytestmark = pytest.mark.integration

BUCKET = "ons-processed"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server(buckets=(BUCKET,)) as server, pytest.MonkeyPatch.context() as mp:
        for k, v in server.env.items():
            mp.setenv(k, v)
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for k, v in s3.env.items():  # the autouse fixture clears AWS_ENDPOINT_URL*, not these
        monkeypatch.setenv(k, v)
    return s3


def event(*keys: str) -> dict[str, object]:
    """The S3 notification shape: keys URL-encoded, spaces as '+'."""
    return {"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
         "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(k), "size": 1}}}
        for k in keys
    ]}


def upload(s3: S3Server, folder: Path, prefix: str) -> list[str]:
    client = s3.boto3_client()
    keys = []
    for p in sorted(folder.iterdir()):
        key = f"{prefix}/{p.name}"
        client.put_object(Bucket=BUCKET, Key=key, Body=p.read_bytes())
        keys.append(key)
    return keys


def test_event_keys_are_url_decoded() -> None:
    assert s3_event_urls(event("ons data/carga 2024.csv", "a+b/ç.parquet")) == [
        f"s3://{BUCKET}/ons data/carga 2024.csv", f"s3://{BUCKET}/a+b/ç.parquet"]


def test_ingest_s3_prefix_and_lambda_handler(
    s3_env: S3Server, influx: InfluxClient, settings: Settings, tmp_path: Path
) -> None:
    data = sample.generate(days=2, start=date.today() - timedelta(days=5), seed=9)
    files = sample.write(data, tmp_path / "wide", "wide")
    keys = upload(s3_env, tmp_path / "wide", "wide run")  # a space in the prefix
    s = settings.with_overrides(s3_endpoint_url=s3_env.endpoint_url)

    result = s3_ingest(event(*keys), None, settings=s)
    assert result["records"] == 3 and result["failed"] == 0, result
    expected = sum(pl.read_parquet(f).height for f in files)
    assert sum(r["points"] for r in result["results"]) == expected
    rows = influx.query_points("SELECT count(demand_mw) FROM consumption_data", "consumption_data")
    assert rows[0]["count"] == data.consumption.height

    # the same event again (S3 delivers at least once): unchanged objects are no-ops
    again = s3_ingest(event(*keys), None, settings=s)
    assert [r["status"] for r in again["results"]] == ["skipped"] * 3
    # and the state store knows them by their ETag
    [rec] = [o for o in SqliteStateStore(s.state_path).objects()
             if o.key.endswith("consumption_data.parquet")]
    assert rec.fingerprint.startswith("etag:")


def test_handler_terminal_failure_is_reported_not_raised(
    s3_env: S3Server, influx: InfluxClient, settings: Settings
) -> None:
    s3_env.boto3_client().put_object(Bucket=BUCKET, Key="bad/broken.parquet", Body=b"PAR1 nope")
    s = settings.with_overrides(s3_endpoint_url=s3_env.endpoint_url)
    result = s3_ingest(event("bad/broken.parquet"), None, settings=s)
    [r] = result["results"]
    assert r["status"] == "failed" and not r["retryable"] and "Parquet" in r["error"]
    [dead] = SqliteStateStore(s.state_path).dead_letters()
    assert dead.key == f"s3://{BUCKET}/bad/broken.parquet"
    json.dumps(result)  # the Lambda runtime must be able to serialize the result


def test_handler_raises_when_influxdb_is_down_so_lambda_retries(
    s3_env: S3Server, influx_server: ServerHandle, tmp_path: Path
) -> None:
    s3_env.boto3_client().put_object(
        Bucket=BUCKET, Key="down/consumption_data.parquet",
        Body=Path(sample.write(sample.generate(days=1), tmp_path / "w", "wide")[1]).read_bytes(),
    )
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s = fast_settings(dead_url, tmp_path, s3_endpoint_url=s3_env.endpoint_url)
    with pytest.raises(RetryableIngestError, match="1 of 1 records failed transiently"):
        s3_ingest(event("down/consumption_data.parquet"), None, settings=s)
