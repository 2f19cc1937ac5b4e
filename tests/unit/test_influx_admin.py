"""ensure_database on InfluxDB 2.x and 3.x: which refusals mean "already exists".

2.x and 3.x cannot run on this machine; the answers are the servers' own, from their
source: InfluxDB 3 ``influxdb3_catalog/src/error.rs`` (``CatalogError::AlreadyExists``,
``AlreadyDeleted``, served as 409 by ``influxdb3_server/src/http.rs``) and
``influxdb3_write`` (``DatabaseExists``, 400); InfluxDB 2 ``tenant/error_bucket.go``
(``BucketAlreadyExistsError``, EConflict served as 422 by ``kit/transport/http``).
"""

from __future__ import annotations

import httpx
import pytest

from onsflux.exceptions import ConfigError
from onsflux.influx.client import InfluxClient
from onsflux.settings import Settings

TOKEN = "t0ken-value"


def _client(kind: str, answer: httpx.Response) -> InfluxClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/orgs":
            return httpx.Response(200, json={"orgs": [{"id": "o1", "name": "ons-energy"}]})
        if request.url.path == "/api/v2/buckets" and request.method == "GET":
            return httpx.Response(200, json={"buckets": []})
        return answer

    return InfluxClient(Settings(influxdb_token=TOKEN, max_attempts=1), "http://h:1",  # type: ignore[call-arg]
                        transport=httpx.MockTransport(handler), server_kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("answer", [
    httpx.Response(409, text="attempted to create a resource that already exists"),
    httpx.Response(400, text="tried creating database named 'generation_data' that already exists"),
])
def test_v3_existing_database_is_not_an_error(answer: httpx.Response) -> None:
    info = _client("3.x", answer).ensure_database("generation_data")
    assert info.name == "generation_data" and info.created is False


@pytest.mark.parametrize("answer, says", [
    # a 409 that is not "already exists": the old check took any 409 as success
    (httpx.Response(409, text="attempted to modify resource that was already deleted: db"),
     "already deleted"),
    # a refusal that merely mentions "exist": the old check took it as success
    (httpx.Response(400, text="invalid database name: retention policy does not exist"),
     "does not exist"),
])
def test_v3_other_refusals_raise(answer: httpx.Response, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _client("3.x", answer).ensure_database("generation_data")


def test_v3_created() -> None:
    assert _client("3.x", httpx.Response(204)).ensure_database("b").created is True


def test_v2_bucket_created_meanwhile_is_not_an_error() -> None:
    answer = httpx.Response(422, json={"code": "conflict",
                                       "message": "bucket with name b already exists"})
    info = _client("2.x", answer).ensure_database("b", "1d")
    assert info.created is False and info.retention_seconds == 86400


def test_v2_other_unprocessable_bucket_raises() -> None:
    answer = httpx.Response(422, json={"code": "unprocessable entity",
                                       "message": "retention policy must exist and be positive"})
    with pytest.raises(ConfigError, match="HTTP 422"):
        _client("2.x", answer).ensure_database("b", "1d")
