"""InfluxClient request construction and resilience policy, against ``httpx.MockTransport``.

The 1.x behaviour is also tested against a real influxd (tests/integration); the mock
is used here for what a real server cannot be made to do on demand (503, 429 with
Retry-After, timeouts) and for 2.x/3.x, which cannot run on this machine: their request
shapes are written from the InfluxDB v2 API documentation.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from onsflux.exceptions import (
    CircuitOpen,
    ConfigError,
    QueryError,
    ServerUnavailable,
    WriteRejected,
)
from onsflux.influx.client import (
    InfluxClient,
    go_duration_seconds,
    parse_retry_after,
    quote_ident,
    quote_literal,
)
from onsflux.settings import Settings

TOKEN = "s3cr3t-token-value"
PASSWORD = "hunter2-password"
LINES = b"m,a=1 f=1.5 1600000000000000000\n"

Handler = Callable[[httpx.Request], httpx.Response]


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "max_attempts": 4,
        "backoff_base_seconds": 0.5,
        "backoff_max_seconds": 3.0,
        "breaker_failures": 2,
        "breaker_reset_seconds": 30.0,
        "gzip": "off",
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


class Recorder:
    """A MockTransport handler answering from a script, recording the requests."""

    def __init__(self, *responses: httpx.Response | Exception | Handler) -> None:
        self.script = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "1.6.7~rc0"})
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        if callable(item) and not isinstance(item, httpx.Response):
            return item(request)
        return item

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def make(
    rec: Recorder, *, url: str = "http://127.0.0.1:8086", kind: str | None = "1.x", **kw: object
) -> tuple[InfluxClient, list[float]]:
    sleeps: list[float] = []
    client = InfluxClient(
        settings(**kw),
        url,
        sleep=sleeps.append,
        rng=lambda: 1.0,  # full jitter at its ceiling: deterministic delays
        transport=httpx.MockTransport(rec),
        server_kind=kind,  # type: ignore[arg-type]
    )
    return client, sleeps


# --------------------------------------------------------------------------- retries


def test_503_then_204_is_retried() -> None:
    rec = Recorder(httpx.Response(503, text="busy"), httpx.Response(204))
    client, sleeps = make(rec)
    outcome = client.write("db", LINES, lines=1)
    assert outcome.status == 204 and outcome.ok
    assert outcome.attempts == 2
    assert len(rec.calls("/write")) == 2
    assert sleeps == [0.5]


def test_backoff_is_exponential_capped_and_then_unavailable() -> None:
    rec = Recorder(httpx.Response(500, text="oops"))
    client, sleeps = make(rec, max_attempts=5)
    with pytest.raises(ServerUnavailable) as info:
        client.write("db", LINES, lines=1)
    assert sleeps == [0.5, 1.0, 2.0, 3.0]
    assert len(rec.calls("/write")) == 5
    assert info.value.status == 500
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert "after 5 attempt(s)" in str(info.value)


def test_jitter_uses_rng() -> None:
    rec = Recorder(httpx.Response(502), httpx.Response(204))
    sleeps: list[float] = []
    client = InfluxClient(
        settings(), "http://127.0.0.1:1", sleep=sleeps.append, rng=lambda: 0.25,
        transport=httpx.MockTransport(rec), server_kind="1.x",
    )
    client.write("db", LINES, lines=1)
    assert sleeps == [0.125]


def test_429_retry_after_seconds_is_honoured() -> None:
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(204))
    client, sleeps = make(rec)
    assert client.write("db", LINES, lines=1).attempts == 2
    assert sleeps == [7.0]


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None and 17 <= seconds <= 20
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


def test_huge_retry_after_gives_up_at_once() -> None:
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "3600"}))
    client, sleeps = make(rec)
    with pytest.raises(ServerUnavailable) as info:
        client.write("db", LINES, lines=1)
    assert sleeps == []
    assert info.value.retry_after == 3600
    assert len(rec.calls("/write")) == 1


def test_400_is_never_retried() -> None:
    rec = Recorder(
        httpx.Response(400, json={"error": "unable to parse 'x': missing fields"})
    )
    client, sleeps = make(rec)
    with pytest.raises(WriteRejected) as info:
        client.write("db", b"x\n", lines=1)
    assert len(rec.calls("/write")) == 1
    assert sleeps == []
    assert info.value.status == 400
    assert "unable to parse 'x'" in info.value.body
    assert "nothing written" in str(info.value)


@pytest.mark.parametrize("status", [401, 403, 404, 413])
def test_other_4xx_raise_write_rejected_once(status: int) -> None:
    rec = Recorder(httpx.Response(status, json={"error": 'database not found: "db"'}))
    client, _ = make(rec)
    with pytest.raises(WriteRejected) as info:
        client.write("db", LINES, lines=1)
    assert info.value.status == status
    assert len(rec.calls("/write")) == 1


def test_timeouts_and_connection_errors_are_retried() -> None:
    rec = Recorder(
        httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(204)
    )
    client, sleeps = make(rec)
    assert client.write("db", LINES, lines=1).attempts == 3
    assert sleeps == [0.5, 1.0]


def test_exhausted_connection_errors_chain_the_httpx_error() -> None:
    rec = Recorder(httpx.ConnectError("connection refused"))
    client, _ = make(rec, max_attempts=2)
    with pytest.raises(ServerUnavailable) as info:
        client.write("db", LINES, lines=1)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.status is None


def test_partial_write_returns_outcome() -> None:
    rec = Recorder(
        httpx.Response(
            400,
            json={
                "error": 'partial write: field type conflict: input field "f" on measurement '
                '"m" is type integer, already exists as type float dropped=1'
            },
        )
    )
    client, _ = make(rec)
    outcome = client.write("db", LINES * 3, lines=3)
    assert outcome.status == 400
    assert outcome.dropped == 1 and outcome.written == 2
    assert outcome.errors[0].kind == "field_type_conflict"
    assert len(rec.calls("/write")) == 1


def test_partial_write_dropping_everything_raises() -> None:
    rec = Recorder(
        httpx.Response(
            400, json={"error": "partial write: points beyond retention policy dropped=2"}
        )
    )
    client, _ = make(rec)
    with pytest.raises(WriteRejected):
        client.write("db", LINES * 2, lines=2)


# --------------------------------------------------------------------------- breaker


def test_breaker_opens_after_failed_calls_and_blocks_requests() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    client, _ = make(rec, max_attempts=2, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(ServerUnavailable):
            client.write("db", LINES, lines=1)
    assert client.breaker.state == "open"
    before = len(rec.requests)
    with pytest.raises(CircuitOpen):
        client.write("db", LINES, lines=1)
    assert len(rec.requests) == before


def test_breaker_trial_is_one_attempt_and_success_closes() -> None:
    now = [0.0]
    rec = Recorder(httpx.ConnectError("refused"))
    sleeps: list[float] = []
    client = InfluxClient(
        settings(max_attempts=3, breaker_failures=1, breaker_reset_seconds=5),
        "http://127.0.0.1:1", sleep=sleeps.append, clock=lambda: now[0], rng=lambda: 1.0,
        transport=httpx.MockTransport(rec), server_kind="1.x",
    )
    with pytest.raises(ServerUnavailable):
        client.write("db", LINES, lines=1)
    assert len(rec.calls("/write")) == 3
    now[0] = 5.0
    with pytest.raises(ServerUnavailable):  # the trial: a single attempt
        client.write("db", LINES, lines=1)
    assert len(rec.calls("/write")) == 4
    assert client.breaker.state == "open"
    now[0] = 10.0
    rec.script = [httpx.Response(204)]
    assert client.write("db", LINES, lines=1).ok
    assert client.breaker.state == "closed"


def test_4xx_counts_as_success_for_the_breaker() -> None:
    rec = Recorder(httpx.Response(400, json={"error": "unable to parse 'x': bad"}))
    client, _ = make(rec, breaker_failures=1)
    for _ in range(3):
        with pytest.raises(WriteRejected):
            client.write("db", b"x", lines=1)
    assert client.breaker.state == "closed"


# --------------------------------------------------------------------------- gzip


def test_gzip_on_compresses_body_and_sets_header() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec, gzip="on")
    client.write("db", LINES * 100, lines=100)
    [req] = rec.calls("/write")
    assert req.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(req.content) == LINES * 100


def test_gzip_auto_depends_on_loopback() -> None:
    for url, expected in [
        ("http://127.0.0.1:8086", False),
        ("http://localhost:8086", False),
        ("http://[::1]:8086", False),
        ("https://influx.example.com:8086", True),
        ("http://10.0.0.5:8086", True),
    ]:
        rec = Recorder(httpx.Response(204))
        client, _ = make(rec, url=url, gzip="auto")
        client.write("db", LINES, lines=1)
        [req] = rec.calls("/write")
        assert ("Content-Encoding" in req.headers) is expected, url
        assert client.gzip is expected


def test_gzip_off() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec, url="https://remote.example.com", gzip="off")
    client.write("db", LINES, lines=1)
    [req] = rec.calls("/write")
    assert "Content-Encoding" not in req.headers
    assert req.content == LINES


# --------------------------------------------------------------------------- v1 / v2


def test_v1_write_path_and_params() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec)
    client.write("generation_data", LINES, lines=1)
    [req] = rec.calls("/write")
    assert req.method == "POST"
    assert dict(req.url.params) == {"db": "generation_data", "precision": "ns"}
    assert "Authorization" not in req.headers


def test_v1_basic_auth_when_username_given() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec, influxdb_username="ons", influxdb_password=PASSWORD)
    client.write("db", LINES, lines=1)
    [req] = rec.calls("/write")
    expected = base64.b64encode(f"ons:{PASSWORD}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {expected}"
    assert PASSWORD not in str(req.url)


def test_v1_token_header_when_only_token() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec, influxdb_token=TOKEN)
    client.write("db", LINES, lines=1)
    assert rec.calls("/write")[0].headers["Authorization"] == f"Token {TOKEN}"


def test_v2_write_path_and_token() -> None:
    rec = Recorder(httpx.Response(204))
    client, _ = make(rec, kind="2.x", influxdb_token=TOKEN, influxdb_org="ons-energy")
    client.write("generation_data", LINES, lines=1)
    [req] = rec.calls("/api/v2/write")
    assert dict(req.url.params) == {
        "org": "ons-energy",
        "bucket": "generation_data",
        "precision": "ns",
    }
    assert req.headers["Authorization"] == f"Token {TOKEN}"


@pytest.mark.parametrize(
    ("headers", "kind", "version"),
    [
        ({"X-Influxdb-Version": "1.6.7~rc0", "X-Influxdb-Build": "OSS"}, "1.x", "1.6.7~rc0"),
        ({"X-Influxdb-Version": "v2.7.4", "X-Influxdb-Build": "OSS"}, "2.x", "2.7.4"),
        ({"X-Influxdb-Version": "3.0.1", "X-Influxdb-Build": "Core"}, "3.x", "3.0.1"),
    ],
)
def test_ping_detects_kind(headers: dict[str, str], kind: str, version: str) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(204, headers=headers)

    client = InfluxClient(settings(), "http://h:1", transport=httpx.MockTransport(handler))
    info = client.ping()
    assert (info.kind, info.version, info.build) == (kind, version, headers["X-Influxdb-Build"])
    assert client.ping() is info and len(calls) == 1  # cached
    assert client.kind == kind


def test_detected_2x_writes_to_api_v2() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "v2.7.4"})
        return httpx.Response(204)

    client = InfluxClient(
        settings(influxdb_token=TOKEN), "http://h:1", transport=httpx.MockTransport(handler)
    )
    client.write("b", LINES, lines=1)
    assert [r.url.path for r in seen] == ["/ping", "/api/v2/write"]


def test_ping_auth_failure_is_config_error_without_secret() -> None:
    client = InfluxClient(
        settings(influxdb_token=TOKEN),
        "http://h:1",
        transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"message": TOKEN})),
    )
    with pytest.raises(ConfigError) as info:
        client.ping()
    assert TOKEN not in str(info.value)


def test_ensure_bucket_v2_creates_when_missing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v2/orgs":
            return httpx.Response(200, json={"orgs": [{"id": "o123", "name": "ons-energy"}]})
        if request.url.path == "/api/v2/buckets" and request.method == "GET":
            return httpx.Response(200, json={"buckets": []})
        if request.url.path == "/api/v2/buckets" and request.method == "POST":
            return httpx.Response(201, json={"id": "b1", "name": "generation_data"})
        return httpx.Response(500)

    client = InfluxClient(
        settings(influxdb_token=TOKEN), "http://h:1",
        transport=httpx.MockTransport(handler), server_kind="2.x",
    )
    info = client.ensure_database("generation_data", "2555d")
    assert info.created
    get_orgs, get_buckets, post = seen
    assert dict(get_orgs.url.params) == {"org": "ons-energy"}
    assert dict(get_buckets.url.params) == {"name": "generation_data", "orgID": "o123"}
    assert json.loads(post.content) == {
        "orgID": "o123",
        "name": "generation_data",
        "retentionRules": [{"type": "expire", "everySeconds": 2555 * 86400}],
    }
    assert all(r.headers["Authorization"] == f"Token {TOKEN}" for r in seen)


def test_ensure_bucket_v2_existing_is_left_alone() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v2/orgs":
            return httpx.Response(200, json={"orgs": [{"id": "o1", "name": "ons-energy"}]})
        return httpx.Response(
            200,
            json={"buckets": [{"name": "b", "retentionRules": [{"everySeconds": 3600}]}]},
        )

    client = InfluxClient(
        settings(influxdb_token=TOKEN), "http://h:1",
        transport=httpx.MockTransport(handler), server_kind="2.x",
    )
    info = client.ensure_database("b")
    assert not info.created and info.retention_seconds == 3600
    assert [r.method for r in seen] == ["GET", "GET"]


def test_delete_range_v2_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = InfluxClient(
        settings(influxdb_token=TOKEN), "http://h:1",
        transport=httpx.MockTransport(handler), server_kind="2.x",
    )
    client.delete_range("b", "generation_data", 1_640_995_200_000_000_000,
                        1_641_081_600_000_000_000, {"plant": 'it"aipu'})
    [req] = seen
    assert req.url.path == "/api/v2/delete"
    assert dict(req.url.params) == {"org": "ons-energy", "bucket": "b"}
    assert json.loads(req.content) == {
        "start": "2022-01-01T00:00:00Z",
        "stop": "2022-01-01T23:59:59.999999999Z",
        "predicate": '_measurement="generation_data" AND plant="it\\"aipu"',
    }


# --------------------------------------------------------------------------- query


def test_query_error_in_result_raises_query_error() -> None:
    rec = Recorder(
        httpx.Response(
            200, json={"results": [{"statement_id": 0, "error": "database not found: x"}]}
        )
    )
    client, _ = make(rec)
    with pytest.raises(QueryError, match="database not found"):
        client.query("SELECT * FROM m", db="x")


def test_query_400_raises_query_error_without_retry() -> None:
    rec = Recorder(httpx.Response(400, json={"error": "error parsing query: found FRM"}))
    client, sleeps = make(rec)
    with pytest.raises(QueryError, match="found FRM"):
        client.query("SELECT * FRM m")
    assert len(rec.calls("/query")) == 1 and sleeps == []


def test_query_is_retried_on_503_and_sends_form() -> None:
    ok = httpx.Response(200, json={"results": [{"statement_id": 0}]})
    rec = Recorder(httpx.Response(503), ok)
    client, _ = make(rec)
    assert client.query("SHOW DATABASES", db="d") == [{"statement_id": 0}]
    req = rec.calls("/query")[-1]
    assert req.url.params["epoch"] == "ns"
    form = dict(httpx.QueryParams(req.content.decode()))
    assert form == {"q": "SHOW DATABASES", "db": "d"}


def test_query_points_flattens_series() -> None:
    doc = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {"name": "m", "tags": {"region": "south"}, "columns": ["time", "v"],
                     "values": [[1, 1.5], [2, 2.5]]},
                    {"name": "m", "tags": {"region": "north"}, "columns": ["time", "v"],
                     "values": [[1, 3.5]]},
                ],
            }
        ]
    }
    client, _ = make(Recorder(httpx.Response(200, json=doc)))
    assert client.query_points("SELECT v FROM m GROUP BY region", "d") == [
        {"region": "south", "time": 1, "v": 1.5},
        {"region": "south", "time": 2, "v": 2.5},
        {"region": "north", "time": 1, "v": 3.5},
    ]


# --------------------------------------------------------------------------- secrets


def test_secrets_absent_from_repr_and_errors() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    sleeps: list[float] = []
    client = InfluxClient(
        settings(influxdb_token=TOKEN, influxdb_username="u", influxdb_password=PASSWORD,
                 max_attempts=1),
        f"http://admin:{PASSWORD}@db.example.com:8086",
        sleep=sleeps.append,
        transport=httpx.MockTransport(rec),
        server_kind="1.x",
    )
    text = repr(client) + client.url
    with pytest.raises(ServerUnavailable) as info:
        client.write("db", LINES, lines=1)
    text += str(info.value) + repr(info.value)
    rec.script = [httpx.Response(401, text=f"bad token {TOKEN}")]
    client.breaker.record_success()
    with pytest.raises(WriteRejected) as rejected:
        client.write("db", LINES, lines=1)
    text += str(rejected.value)
    with pytest.raises(QueryError) as qerr:
        client.query("SHOW DATABASES")
    text += str(qerr.value)
    assert TOKEN not in text
    assert PASSWORD not in text
    assert "admin" not in text


def test_secret_echoed_by_server_is_scrubbed() -> None:
    rec = Recorder(httpx.Response(503, text=f"upstream said Authorization: Token {TOKEN}"))
    client, _ = make(rec, influxdb_token=TOKEN, max_attempts=1)
    with pytest.raises(ServerUnavailable) as info:
        client.write("db", LINES, lines=1)
    assert TOKEN not in str(info.value) and "***" in str(info.value)
    rec.script = [httpx.Response(400, json={"error": f"bad {TOKEN}"})]
    client.breaker.record_success()
    with pytest.raises(WriteRejected) as rejected:
        client.write("db", LINES, lines=1)
    assert TOKEN not in str(rejected.value) and TOKEN not in rejected.value.body


def test_invalid_url_is_config_error() -> None:
    with pytest.raises(ConfigError):
        InfluxClient(settings(), "localhost:8086")


# --------------------------------------------------------------------------- InfluxQL


def test_quoting() -> None:
    assert quote_ident("generation_data") == '"generation_data"'
    assert quote_ident('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_literal("it's") == "'it\\'s'"
    assert quote_literal("a\\b") == "'a\\\\b'"


def test_go_duration() -> None:
    assert go_duration_seconds("61320h0m0s") == 2555 * 86400
    assert go_duration_seconds("1h30m0s") == 5400
    assert go_duration_seconds("0s") == float("inf")
