"""The API on Lambda: an API Gateway (HTTP API, payload 2.0) event through Mangum.

The Lambda runtime is not emulated: ``handlers.api`` is called with the event API Gateway
sends, which is all the runtime does. InfluxDB is the session's real server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onsflux import handlers
from onsflux.influx import InfluxClient, ServerHandle

pytestmark = pytest.mark.integration


def event(method: str, path: str, body: dict[str, object] | None = None,
          headers: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "test"},
                           "requestId": "r1", "stage": "$default", "routeKey": "$default",
                           "accountId": "123", "apiId": "api", "domainName": "x",
                           "domainPrefix": "x", "time": "now", "timeEpoch": 0},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def test_api_gateway_event_round_trip(influx_server: ServerHandle, influx: InfluxClient,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_URL", influx_server.url)
    monkeypatch.setenv("ONSFLUX_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ONSFLUX_API_KEYS", "lambda-key")
    monkeypatch.setattr(handlers, "_api_handler", None)

    denied = handlers.api(event("POST", "/query", {"question": "carga no Sul ontem"}), None)
    assert denied["statusCode"] == 401

    ok = handlers.api(event("POST", "/query", {"question": "Qual foi o pico de carga no Sul ontem?"},
                            {"x-api-key": "lambda-key"}), None)
    assert ok["statusCode"] == 200, ok
    body = json.loads(ok["body"])
    assert body["status"] == "ok" and body["served_from"] == "influxdb"
    assert body["time_series_data"] == []  # nothing ingested in this test: said, not invented
    assert body["answer"].startswith("Não encontrei dados")

    health = handlers.api(event("GET", "/health"), None)
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}
    health = handlers.api(event("GET", "/health", headers={"x-api-key": "lambda-key"}), None)
    assert json.loads(health["body"])["checks"]["influxdb"]["ok"]
