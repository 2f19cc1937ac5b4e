"""Questions and ``/health`` never scan the DynamoDB state table (issue 9, item 17).

DynamoDB cannot run here: moto's in-process mock stands in for it, and botocore's
``before-call`` event hook records every operation the store sends, so the test sees
exactly what a real table would be asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onsflux.answer.service import AnswerService, object_sources
from onsflux.api import create_app
from onsflux.query import Executor, QuerySpec
from onsflux.settings import Settings
from onsflux.state.store import FAILED, OK, open_store

HOUR = 3_600_000_000_000
T0 = int(datetime(2024, 1, 1, 3, tzinfo=UTC).timestamp() * 1e9)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The DynamoDB store on moto, with a log of every DynamoDB operation it calls."""
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s: Any = open_store("dynamodb://onsflux-state", region="us-east-1")
        s.create_table()
        s.calls = []
        s._ddb.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: s.calls.append(model.name))
        yield s


def _ingested(store: Any, key: str, measurement: str, start: int, hours: int,
              status: str = OK) -> None:
    rec = store.begin(key, "f")
    rec.status, rec.measurements = status, [measurement]
    rec.time_min_ns, rec.time_max_ns = start, start + (hours - 1) * HOUR
    store.finish(rec)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def _spec(start: int, hours: int) -> QuerySpec:
    return QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "start": _iso(start), "stop": _iso(start + hours * HOUR),
                            "aggregate": "max"})


def test_object_sources_use_a_key_query_not_a_scan(store: Any) -> None:
    _ingested(store, "load-jan.csv", "consumption_data", T0, 24)
    _ingested(store, "load-feb.csv", "consumption_data", T0 + 40 * 24 * HOUR, 24)
    _ingested(store, "gen-jan.csv", "generation_data", T0, 24)
    _ingested(store, "broken.csv", "consumption_data", T0, 24)
    store.fail("broken.csv", "f", "source", "unreadable")  # no longer a source
    store.calls.clear()
    sources, coverage = object_sources(store, _spec(T0, 48))
    assert [s.document for s in sources] == ["load-jan.csv"]
    assert sources[0].relevance_score == 0.5 and coverage == 0.5
    assert "Scan" not in store.calls and store.calls == ["Query"]


def test_health_probe_is_one_get_item(store: Any) -> None:
    _ingested(store, "a.csv", "consumption_data", T0, 1)
    settings = Settings(influxdb_url="http://127.0.0.1:9", api_keys="k-123", max_attempts=1,
                        backoff_base_seconds=0.01)
    service = AnswerService(Executor(settings, fallback=None), store=store)
    client = TestClient(create_app(settings, service_factory=lambda: service))
    store.calls.clear()
    body = client.get("/health", headers={"X-API-Key": "k-123"}).json()
    assert body["checks"]["state_store"]["ok"] is True
    assert store.calls == ["GetItem"]


def test_failed_reingest_drops_the_index_entry(store: Any) -> None:
    _ingested(store, "a.csv", "consumption_data", T0, 24)
    _ingested(store, "a.csv", "consumption_data", T0, 24, status=FAILED)
    assert store.objects_overlapping("consumption_data", T0, T0 + HOUR) == []


def test_store_fallback_finds_files_by_key_and_health_probes_with_limit_1(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With InfluxDB down, each question reads the objects the store recorded: found by a
    key query on the index, never a scan; ``/health`` asks one item per measurement."""
    from onsflux.query.fallback import StoreFallback
    from onsflux.state.dynamodb import DynamoStateStore

    _ingested(store, "load-jan.csv", "consumption_data", T0, 24)
    _ingested(store, "load-feb.csv", "consumption_data", T0 + 40 * 24 * HOUR, 24)
    calls: list[tuple[str, dict[str, Any]]] = []
    original = DynamoStateStore._call

    def recording(self: Any, op: str, **kwargs: Any) -> Any:
        calls.append((op, kwargs))
        return original(self, op, **kwargs)

    monkeypatch.setattr(DynamoStateStore, "_call", recording)
    fallback = StoreFallback(Settings(state="dynamodb://onsflux-state"))
    assert fallback.urls(_spec(T0, 48)) == ["load-jan.csv"]
    assert [op for op, _ in calls] == ["query"]
    calls.clear()
    assert fallback.can_answer() is True
    assert calls and all(op == "query" and kw["Limit"] == 1 for op, kw in calls)
    assert len(calls) <= 3  # at most one per measurement of the catalog
