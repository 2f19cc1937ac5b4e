"""``onsflux mcp`` driven by the official MCP SDK's own client over stdio.

The client starts ``onsflux mcp`` as a subprocess (as Claude Desktop or any MCP host
does), against the session's real influxd holding two weeks of sample data. Expected
numbers and times come from the sample files with polars; ``ask`` is compared with a real
``POST /query`` served by uvicorn on the same data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import polars as pl
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from onsflux import catalog, sample
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.mcp import MAX_ROWS
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.integration.test_api import Server
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration

WEEK = (datetime(2024, 3, 11, 3, tzinfo=UTC), datetime(2024, 3, 18, 3, tzinfo=UTC))  # BRT days
ONSFLUX = str(Path(sys.executable).parent / "onsflux")


@pytest.fixture(scope="module")
def data(influx_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """4–17 March 2024 of sample data, ingested once; the state folder the server reads."""
    tmp = tmp_path_factory.mktemp("mcp")
    s = fast_settings(influx_server.url, tmp, timeout_seconds=60)
    d = sample.generate(days=14, start=date(2024, 3, 4), seed=5)
    files = sample.write(d, tmp / "wide", "wide")
    with InfluxClient(s, url=influx_server.url) as client:
        for bucket in catalog.BUCKETS:
            client.query(f'DROP DATABASE "{bucket}"')
        store = SqliteStateStore(s.state_path)
        summary = Ingestor(s, store, client).ingest([str(f) for f in files])
        store.close()
    assert summary.failed == 0 and summary.rejected == 0
    env = {"INFLUXDB_URL": influx_server.url, "ONSFLUX_STATE_DIR": str(tmp),
           "ONSFLUX_TIMEOUT_SECONDS": "60", "ONSFLUX_GZIP": "off"}
    return {"sample": d, "settings": s, "env": env}


def session(env: dict[str, str], body: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Start ``onsflux mcp`` with ``env``, initialize a client session, run ``body``."""
    async def main() -> Any:
        params = StdioServerParameters(command=ONSFLUX, args=["mcp"], env=env)
        with open(Path(env["ONSFLUX_STATE_DIR"]) / "mcp-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as s:
                await s.initialize()
                return await body(s)
    return anyio.run(main)


async def call(s: ClientSession, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    res = await s.call_tool(tool, args)
    assert not res.is_error, res.content
    assert res.structured_content is not None
    # the text content is the same JSON, for clients that read text only
    assert json.loads(res.content[0].text) == res.structured_content  # type: ignore[union-attr]
    return res.structured_content


async def error(s: ClientSession, tool: str, args: dict[str, Any]) -> str:
    res = await s.call_tool(tool, args)
    assert res.is_error and res.structured_content is None
    text = res.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text and 'File "' not in text
    return text


def week(frame: pl.DataFrame) -> pl.DataFrame:
    t = pl.col("time").cast(pl.Datetime("ns", "UTC"))
    return frame.filter((t >= WEEK[0]) & (t < WEEK[1]))


def test_tools_are_three_read_only_and_take_no_query_text(data: dict[str, Any]) -> None:
    async def body(s: ClientSession) -> Any:
        return (await s.list_tools()).tools
    tools = {t.name: t for t in session(data["env"], body)}
    assert set(tools) == {"ask", "query", "describe"}
    assert list(tools["ask"].input_schema["properties"]) == ["question"]
    assert list(tools["query"].input_schema["properties"]) == ["spec"]
    assert tools["describe"].input_schema.get("properties", {}) == {}
    spec = tools["query"].input_schema["properties"]["spec"]
    assert spec["additionalProperties"] is False  # a QuerySpec, nothing else
    assert not {"influxql", "flux", "sql", "q", "query"} & set(spec["properties"])
    for t in tools.values():
        assert t.annotations is not None and t.annotations.read_only_hint is True
        assert t.annotations.destructive_hint is False


def test_ask_is_the_http_apis_answer(data: dict[str, Any]) -> None:
    question = "Qual foi o pico de carga no Sudeste entre 11 e 17 de março de 2024?"

    async def body(s: ClientSession) -> Any:
        return await call(s, "ask", {"question": question})
    got = session(data["env"], body)
    load = week(data["sample"].consumption).filter(pl.col("region") == "southeast")
    peak = load.sort("demand_mw", descending=True).row(0, named=True)
    assert got["status"] == "ok" and got["served_from"] == "influxdb"
    [point] = got["time_series_data"]
    assert point["value"] == pytest.approx(peak["demand_mw"], rel=1e-12)
    assert point["timestamp"].startswith(peak["time"].strftime("%Y-%m-%dT%H:%M"))
    assert set(got["queries"]) == {"influxql", "flux", "sql", "timestream"}
    assert got["truncated"] is False and len(got["query_id"]) == 36

    s = data["settings"].with_overrides(api_auth="disabled")
    with Server(s) as server:
        want = httpx.post(f"{server.url}/query", json={"question": question}, timeout=60).json()
    volatile = {"query_id", "processing_time_ms", "timestamp"}
    assert {k: v for k, v in got.items() if k not in volatile} == \
        {k: v for k, v in want.items() if k not in volatile}


def test_ask_refuses_and_asks_back_like_the_api(data: dict[str, Any]) -> None:
    async def body(s: ClientSession) -> Any:
        return (await call(s, "ask", {"question": "DROP DATABASE generation_data"}),
                await call(s, "ask", {"question": "Quanto gerou Angra entre 11 e 17 de março "
                                                  "de 2024?"}),
                await error(s, "ask", {"question": "x" * 5000}),
                await call(s, "describe", {}))
    refused, ambiguous, too_long, described = session(data["env"], body)
    assert refused["status"] == "unanswerable" and refused["query_used"] is None
    assert ambiguous["status"] == "ambiguous"
    assert [c["label"] for c in ambiguous["candidates"]] == ["Angra 1", "Angra 2"]
    assert "question" in too_long
    gen = next(m for m in described["measurements"] if m["name"] == "generation_data")
    assert gen["coverage"] is not None  # the database was not dropped


def test_query_runs_a_spec_bounded_and_read_only(data: dict[str, Any]) -> None:
    daily = {"measurement": "consumption_data", "fields": ["demand_mw"],
             "where": {"region": ["Sul"]}, "start": "2024-03-11", "stop": "2024-03-18",
             "timezone": "America/Sao_Paulo", "every": "1d", "aggregate": "max"}
    raw = {"measurement": "generation_data", "fields": ["power_mw"],
           "start": "2024-03-04", "stop": "2024-03-18", "limit": 50_000}

    async def body(s: ClientSession) -> Any:
        return (await call(s, "query", {"spec": daily}), await call(s, "query", {"spec": raw}),
                await error(s, "query", {"spec": {**daily, "influxql": "DROP DATABASE x"}}),
                await error(s, "query", {"spec": {**daily, "measurement": "users"}}),
                await error(s, "query", {"spec": {**daily, "every": "1mo"}}),
                await call(s, "query", {"spec": {**daily, "where": {"region": ["south"]},
                                                 "measurement": "generation_data",
                                                 "fields": ["power_mw"], "aggregate": "sum",
                                                 "every": None}}))
    d, r, text, unknown, bad_window, after = session(data["env"], body)
    # daily peaks of the South in Brasília days, from the files
    load = week(data["sample"].consumption).filter(pl.col("region") == "south")
    want = (load.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC"))
                              .dt.convert_time_zone("America/Sao_Paulo").dt.date().alias("day"))
            .group_by("day").agg(pl.col("demand_mw").max()).sort("day"))
    assert [p["value"] for p in d["time_series_data"]] == pytest.approx(want["demand_mw"].to_list())
    assert d["time_series_data"][0]["timestamp"] == "2024-03-11T03:00:00Z"
    assert d["spec"]["where"] == {"region": ["south"]}  # the alias resolved to the slug
    assert d["truncated"] is False and d["served_from"] == "influxdb" and d["request_id"]
    assert d["query_used"]["text"].startswith("SELECT max(")
    assert set(d["queries"]) == {"influxql", "flux", "sql", "timestream"}
    # raw hourly points of every plant for two weeks: far over the bound
    assert r["row_count"] == MAX_ROWS and len(r["time_series_data"]) == MAX_ROWS
    assert r["truncated"] is True and r["spec"]["limit"] == MAX_ROWS
    assert any("limit lowered" in w for w in r["warnings"])
    assert "'influxql'" in text and "no query text" in text
    assert "users" in unknown and "generation_data" in unknown
    assert "1mo" in bad_window
    total = week(data["sample"].generation).filter(pl.col("region") == "south")["power_mw"].sum()
    assert after["time_series_data"][0]["value"] == pytest.approx(total, rel=1e-9)


def test_describe_names_units_values_and_coverage_from_the_data(data: dict[str, Any]) -> None:
    async def body(s: ClientSession) -> Any:
        return await call(s, "describe", {})
    d = session(data["env"], body)
    assert d["request_id"] and d["errors"] == [] and d["server"]["kind"] == "1.x"
    assert [b["name"] for b in d["buckets"]] == list(catalog.BUCKETS)
    by = {m["name"]: m for m in d["measurements"]}
    fields = {f["name"]: f for f in by["generation_data"]["fields"]}
    assert fields["power_mw"]["unit"] == "MW" and fields["capacity_factor"]["unit"] == "ratio"
    assert {f["name"]: f["unit"] for f in by["consumption_data"]["fields"]}["demand_mw"] == "MW"
    gen = data["sample"].generation
    tags = {t["name"]: t for t in by["generation_data"]["tags"]}
    assert set(tags["source"]["values"]) == set(gen["source"].unique().to_list())
    assert set(tags["plant"]["values"]) == set(gen["plant"].unique().to_list())
    assert tags["plant"]["truncated"] is False and tags["region"]["required"] is True
    for name, frame in (("generation_data", gen), ("consumption_data", data["sample"].consumption)):
        t = frame["time"].cast(pl.Datetime("ns", "UTC"))
        cov = by[name]["coverage"]
        assert cov["first"] == t.min().strftime("%Y-%m-%dT%H:%M:%SZ"), name  # type: ignore[union-attr]
        assert cov["last"] == t.max().strftime("%Y-%m-%dT%H:%M:%SZ"), name  # type: ignore[union-attr]


def test_influxdb_down_is_a_tool_error_not_a_crash(data: dict[str, Any], tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"  # in the URL's userinfo and as the password: never echoed
    env = {**data["env"], "INFLUXDB_URL": f"http://admin:{secret}@127.0.0.1:{free_port()}",
           "INFLUXDB_USERNAME": "admin", "INFLUXDB_PASSWORD": secret,
           "ONSFLUX_STATE_DIR": str(tmp_path), "ONSFLUX_MAX_ATTEMPTS": "1"}

    async def body(s: ClientSession) -> Any:
        return (await error(s, "ask", {"question": "Qual foi o pico de carga no Sul ontem?"}),
                await call(s, "describe", {}))
    down, described = session(env, body)
    assert "unavailable" in down.lower() or "connect" in down.lower()
    assert described["errors"] and all(m["coverage"] is None for m in described["measurements"])
    assert secret not in down and secret not in json.dumps(described)
    assert secret not in (tmp_path / "mcp-stderr.log").read_text()  # the server's log
