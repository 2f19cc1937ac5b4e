"""Executor without a server: request shapes, result parsing, retries, breaker, fallback.

No InfluxDB 2.x server runs in these tests (only 1.x is installable here), so the Flux
path is checked against ``httpx.MockTransport``: the request it sends (endpoint, org,
headers, JSON body) and how it reads the annotated CSV that 2.x answers with.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from onsflux import sample
from onsflux.exceptions import CircuitOpen, QueryError, ServerUnavailable
from onsflux.influx import InfluxClient
from onsflux.query import Executor, ParquetFallback, QuerySpec, flux_rows, template
from onsflux.query.execute import parse_rfc3339_ns
from onsflux.settings import Settings

FLUX_CSV = (
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n"
    "#group,false,false,true,true,false,false,true,true,true\r\n"
    "#default,_result,,,,,,,,\r\n"
    ",result,table,_start,_stop,_time,_value,_field,_measurement,region\r\n"
    ",,0,2024-03-01T00:00:00Z,2024-03-02T00:00:00Z,2024-03-01T00:00:00Z,100.5,power_mw,generation_data,north\r\n"
    ",,0,2024-03-01T00:00:00Z,2024-03-02T00:00:00Z,2024-03-01T01:00:00.123456789Z,,power_mw,generation_data,north\r\n"
    "\r\n"
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n"
    "#group,false,false,true,true,false,false,true,true,true\r\n"
    "#default,_result,,,,,,,,\r\n"
    ",result,table,_start,_stop,_time,_value,_field,_measurement,region\r\n"
    ",,1,2024-03-01T00:00:00Z,2024-03-02T00:00:00Z,2024-03-01T00:00:00Z,7,power_mw,generation_data,south\r\n"
    "\r\n"
)


def settings(tmp_path: Path, **kw: object) -> Settings:
    values: dict[str, object] = dict(state_dir=tmp_path, influxdb_token="s3cret", max_attempts=2,
                                     backoff_base_seconds=0, breaker_failures=2,
                                     breaker_reset_seconds=30)
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def client(s: Settings, handler, clock: Clock | None = None) -> InfluxClient:  # type: ignore[no-untyped-def]
    return InfluxClient(s, "http://influx.test:8086", transport=httpx.MockTransport(handler),
                        sleep=lambda _: None, clock=clock or Clock())


def test_flux_request_shape_and_csv_on_a_2x_server(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "v2.7.11"})
        return httpx.Response(200, text=FLUX_CSV, headers={"Content-Type": "text/csv"})

    spec = template("generation_trend", "2024-03-01", "2024-03-02", limit=2)
    with Executor(settings(tmp_path), client(settings(tmp_path), handler)) as ex:
        result = ex.run(spec)
    req = seen[-1]
    assert (req.method, req.url.path) == ("POST", "/api/v2/query")
    assert req.url.params["org"] == "ons-energy"
    assert req.headers["Authorization"] == "Token s3cret"
    assert req.headers["Accept"] == "application/csv"
    body = json.loads(req.content)
    assert body["type"] == "flux" and body["dialect"]["header"] is True
    assert body["query"].startswith('from(bucket: "generation_data")')
    assert "limit(n: 3)" in body["query"]
    assert result.dialect == "flux" and result.served_from == "influxdb"
    assert result.truncated and result.row_count == 2
    first, second = result.rows
    assert (first.value, first.tags, first.field) == (100.5, {"region": "north"}, "power_mw")
    assert second.value is None and second.time_ns % 10**9 == 123456789


def test_flux_rows_errors_and_times() -> None:
    assert len(flux_rows(FLUX_CSV)) == 3
    with pytest.raises(QueryError, match="bad thing"):
        flux_rows(",error,reference\r\n,bad thing,897\r\n")
    assert parse_rfc3339_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_rfc3339_ns("2024-03-01T00:00:00+00:00") == 1_709_251_200 * 10**9
    assert parse_rfc3339_ns("2024-03-01T00:00:00Z") == 1_709_251_200 * 10**9
    assert parse_rfc3339_ns(" 2024-02-29T22:00:00.123456789-02:00 ") == (
        1_709_251_200 * 10**9 + 123_456_789)


def test_influxql_goes_as_get_with_epoch_ns(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "1.6.7"})
        return httpx.Response(200, json={"results": [{"statement_id": 0, "series": [
            {"name": "consumption_data", "tags": {"region": "south"}, "columns": ["time", "demand_mw"],
             "values": [[1_709_251_200_000_000_000, 12.5]]}]}]})

    spec = template("consumption_peak", "2024-03-01", "2024-03-02")
    s = settings(tmp_path)
    with Executor(s, client(s, handler)) as ex:
        result = ex.run(spec)
    req = seen[-1]
    assert (req.method, req.url.path) == ("GET", "/query")
    assert req.url.params["epoch"] == "ns" and req.url.params["db"] == "consumption_data"
    assert req.url.params["q"].startswith('SELECT max("demand_mw") AS "demand_mw"')
    assert [(r.value, r.tags) for r in result.rows] == [(12.5, {"region": "south"})]


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    sample.write(sample.generate(days=2, start=date(2024, 3, 1), seed=2), tmp_path / "wide", "wide")
    return tmp_path / "wide"


def test_down_server_retries_then_falls_back_and_the_breaker_opens(tmp_path: Path,
                                                                    wide: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "1.6.7"})
        return httpx.Response(503, text="overloaded")

    clock = Clock()
    s = settings(tmp_path, fallback_path=str(wide))
    spec = template("generation_trend", "2024-03-01T12:00Z", "2024-03-02T12:00Z")
    with Executor(s, client(s, handler, clock)) as ex:
        r1 = ex.run(spec)
        assert r1.served_from == "s3_fallback" and r1.rows and "unavailable" in r1.warnings[0]
        assert calls.count("/query") == 2  # max_attempts
        ex.run(spec)
        assert ex.client.breaker.state == "open"
        before = len(calls)
        r3 = ex.run(spec)
        assert len(calls) == before and "circuit_open" in r3.warnings[0]  # no request at all
        clock.now = 31.0
        assert ex.client.breaker.state == "half_open"
        ex.run(spec)  # one trial attempt, fails: open again
        assert calls[before:] == ["/query"] and ex.client.breaker.state == "open"
    assert r1.rows == r3.rows


def test_without_fallback_errors_surface(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    s = settings(tmp_path, breaker_failures=1)
    spec = template("generation_trend", "2024-03-01", "2024-03-02")
    with Executor(s, client(s, handler)) as ex:
        with pytest.raises(ServerUnavailable):
            ex.run(spec)
        with pytest.raises(CircuitOpen):
            ex.run(spec)


def test_fallback_none_means_none_even_when_the_settings_name_one(tmp_path: Path,
                                                                   wide: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ping":
            return httpx.Response(204, headers={"X-Influxdb-Version": "1.6.7"})
        return httpx.Response(503, text="overloaded")

    s = settings(tmp_path, fallback_path=str(wide))
    spec = template("generation_trend", "2024-03-01T12:00Z", "2024-03-02T12:00Z")
    with Executor(s, client(s, handler)) as ex:  # default: the settings' fallback
        assert ex.fallback is not None and ex.run(spec).served_from == "s3_fallback"
    with Executor(s, client(s, handler), fallback=None) as ex:
        assert ex.fallback is None
        with pytest.raises(ServerUnavailable):
            ex.run(spec)


def test_fallback_layouts_agree(tmp_path: Path) -> None:
    data = sample.generate(days=2, start=date(2024, 3, 1), seed=4)
    sample.write(data, tmp_path / "wide", "wide")
    sample.write(data, tmp_path / "processed", "processed")
    sample.write(data, tmp_path / "ons", "ons")
    specs = [
        template("generation_trend", "2024-03-01T06:00Z", "2024-03-02T06:00Z"),
        QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                         "where": {"region": ["north", "south"]}, "start": "2024-03-01T06:00Z",
                         "stop": "2024-03-02T06:00Z", "aggregate": "energy", "every": "6h",
                         "group_by": ["region"]}),
        QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                         "where": {"plant": "itaipu"}, "start": "2024-03-01T06:00Z",
                         "stop": "2024-03-02T06:00Z", "aggregate": "percentile", "p": 50}),
    ]
    for spec in specs:
        want = ParquetFallback(tmp_path / "wide").run(spec)
        assert want.rows
        for layout in ("processed", "ons"):
            got = ParquetFallback(tmp_path / layout).run(spec)
            assert [(r.time_ns, r.field, r.tags, round(r.value or 0, 6)) for r in got.rows] == [
                (r.time_ns, r.field, r.tags, round(r.value or 0, 6)) for r in want.rows], layout


def test_energy_is_sum_times_interval(wide: Path) -> None:
    base = {"measurement": "generation_data", "fields": ["power_mw"], "where": {"plant": "itaipu"},
            "start": "2024-03-01T06:00Z", "stop": "2024-03-02T06:00Z"}
    fb = ParquetFallback(wide)
    total = fb.run(QuerySpec.parse({**base, "aggregate": "sum"})).rows[0].value
    energy = fb.run(QuerySpec.parse({**base, "aggregate": "energy"})).rows[0].value
    half = fb.run(QuerySpec.parse({**base, "aggregate": "energy", "sample_interval": "30m"}))
    assert energy == total and half.rows[0].value == pytest.approx(total / 2)
