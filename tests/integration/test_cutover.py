"""The cutover end to end: a real InfluxDB (green) and the files engine over the processed
Parquet files (blue), through the router, the answer service and the HTTP API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from onsflux import catalog, sample
from onsflux.answer.service import AnswerService
from onsflux.api import create_app
from onsflux.cutover.control import Cutover, GateRefused
from onsflux.cutover.router import Router
from onsflux.cutover.state import SqliteCutoverStore
from onsflux.cutover.workload import workload
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.ingest.pipeline import Ingestor
from onsflux.migrate.state import MigrationStore
from onsflux.query import Executor, QuerySpec
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.support.influx import start_influxd, stop_influxd

pytestmark = pytest.mark.integration

START = date(2024, 3, 1)
DAYS = 3
DATA_END = datetime(2024, 3, 3, 23, 0, tzinfo=UTC)
SCHEMA = json.loads((Path(__file__).parent.parent / "support" / "api_contract.schema.json")
                    .read_text())


@dataclass
class World:
    settings: Settings
    files: Path
    tmp: Path


def _load(url: str, tmp: Path) -> World:
    s = fast_settings(url, tmp)
    files = tmp / "processed"
    paths = sample.write(sample.generate(days=DAYS, start=START, seed=5), files, "processed")
    with InfluxClient(s, url=url) as client:
        for bucket in catalog.BUCKETS:
            client.query(f'DROP DATABASE "{bucket}"')
        store = SqliteStateStore(s.state_path)
        try:
            summary = Ingestor(s, store, client).ingest([str(p) for p in paths])
        finally:
            store.close()
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    return World(s, files, tmp)


@pytest.fixture(scope="module")
def world(influx_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> World:
    return _load(influx_server.url, tmp_path_factory.mktemp("cutover"))


def _service(w: World, router: Router) -> AnswerService:
    return AnswerService(router.executor, store=SqliteStateStore(w.settings.state_path),
                         runner=router, now=lambda: DATA_END)


def _router(w: World, **kw: Any) -> Router:
    ex = Executor(w.settings, fallback=None)
    return Router(w.settings, SqliteCutoverStore(w.settings.state_path), executor=ex,
                  who="test", **kw)


def _replay(client: TestClient, router: Router, w: World, n: int | None = None
            ) -> list[dict[str, Any]]:
    """The workload through POST /query (questions) and the router (templates)."""
    bodies: list[dict[str, Any]] = []
    items = workload(datetime(2024, 3, 1, tzinfo=UTC), DATA_END)[:n]
    for item in items:
        if item.kind == "question":
            r = client.post("/query", json={"question": item.question})
            assert r.status_code == 200, r.text
            body = r.json()
            jsonschema.validate(body, SCHEMA)  # whichever backend served it
            bodies.append(body)
        else:
            assert item.spec is not None
            router.run(item.spec)
    return bodies


def _ops(w: World, **kw: Any) -> Cutover:
    return Cutover(w.settings, SqliteCutoverStore(w.settings.state_path), who="os:test", **kw)


def _reset(w: World) -> None:
    import sqlite3

    SqliteCutoverStore(w.settings.state_path).close()  # creates the tables
    con = sqlite3.connect(w.settings.state_path)
    for t in ("cutover_state", "cutover_audit", "cutover_comparisons", "cutover_mismatches"):
        con.execute(f"DELETE FROM {t}")
    con.commit()
    con.close()


def test_clean_data_is_fully_consistent_with_a_zero_noise_floor(world: World) -> None:
    _reset(world)
    ops = _ops(world)
    ops.shadow(blue="files", files_path=str(world.files), sample=1.0, control_sample=0.3)
    router = _router(world, max_queue=1000)
    app = create_app(world.settings.with_overrides(api_auth="disabled"),
                     service_factory=lambda: _service(world, router))
    with TestClient(app) as client:
        bodies = _replay(client, router, world)
        assert router.shadow.drain(120)
        fig = ops.figures()
        assert router.shadow.dropped == 0
        assert fig.comparisons + fig.control_runs >= 80 and fig.control_runs >= 10, fig.as_dict()
        assert fig.consistency == 1.0, [m.as_dict() for m in ops.store.mismatches(3)]
        assert fig.noise_floor == 0.0
        assert {b["served_from"] for b in bodies if b["status"] == "ok"} == {"files"}
        assert fig.blue.p95_ms is not None and fig.green.p95_ms is not None
        # canary half and half: both backends answer, every answer keeps the contract
        st = ops.store.get_state()
        ops.store.transition(replace(st, phase="canary", percent=50.0),
                             expected_version=st.version, action="test", who="os:test",
                             reason="")
        router.state(refresh=True)
        bodies = _replay(client, router, world)
        served = {b["served_from"] for b in bodies if b["status"] == "ok"}
        assert served == {"files", "influxdb"}
    router.close()


def test_one_changed_point_is_reported_with_spec_time_and_both_values(world: World) -> None:
    _reset(world)
    ops = _ops(world)
    ops.shadow(blue="files", files_path=str(world.files), sample=1.0, control_sample=0.0)
    router = _router(world)
    spec = QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "where": {"region": ["south"]}, "start": "2024-03-02T10:00:00Z",
                            "stop": "2024-03-02T13:00:00Z"})
    before = router.run(spec)
    target = before.rows[1]
    with InfluxClient(world.settings, url=world.settings.influxdb_url or "") as c:
        tags = ",".join(f"{k}={v}" for k, v in sorted(target.tags.items()))
        c.write("consumption_data", f"consumption_data,{tags} demand_mw="
                f"{target.value + 7.25!r} {target.time_ns}".encode(), lines=1)
        try:
            router.run(spec)
            assert router.shadow.drain(30)
        finally:
            c.write("consumption_data", f"consumption_data,{tags} demand_mw="
                    f"{target.value!r} {target.time_ns}".encode(), lines=1)
    (m,) = ops.store.mismatches()
    assert m.outcome == "value" and m.counts == {"value": 1, "missing": 0, "extra": 0}
    assert QuerySpec.parse(m.spec) == spec
    (d,) = m.diffs
    assert d["time_ns"] == target.time_ns and d["tags"] == target.tags
    assert d["control"] == target.value and d["candidate"] == pytest.approx(target.value + 7.25)
    report = ops.report(fmt="csv")
    assert str(target.time_ns) not in report and d["time"] in report  # RFC 3339 in the CSV
    router.close()


def test_influxd_killed_during_canary_rolls_back_and_every_request_is_answered(
        tmp_path: Path) -> None:
    handle = start_influxd(tmp_path / "green")
    try:
        w = _load(handle.url, tmp_path)
        ops = _ops(w)
        ops.shadow(blue="files", files_path=str(w.files), sample=0.2, control_sample=0.0,
                   thresholds={"window_min_requests": 5, "rollback_error_rate": 0.2})
        st = ops.store.get_state()
        ops.store.transition(replace(st, phase="canary", percent=90.0),
                             expected_version=st.version, action="shift", who="os:test",
                             reason="test")
        router = _router(w)
        app = create_app(w.settings.with_overrides(api_auth="disabled"),
                         service_factory=lambda: _service(w, router))
        with TestClient(app) as client:
            before = _replay(client, router, w, 20)
            assert "influxdb" in {b["served_from"] for b in before}
            os.kill(handle.pid, signal.SIGKILL)  # the fault: green dies mid-canary
            after = _replay(client, router, w, 80)  # every POST /query answered 200
        assert {b["served_from"] for b in after if b["status"] == "ok"} == {"files"}
        state = ops.store.get_state()
        assert state.phase == "rolled-back"
        auto = [a for a in ops.store.audit() if a.action == "auto-rollback"]
        assert len(auto) == 1 and "green error rate" in auto[0].reason
        assert auto[0].who == "auto:test" and auto[0].gate["window"]["requests"] >= 5
        router.close()
    finally:
        stop_influxd(tmp_path / "green")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rollback_reaches_running_api_processes_within_five_seconds(world: World) -> None:
    """Two `onsflux serve` processes; a rollback made by the operator's command is seen
    by both; the time until each serves blue is measured (printed with -s)."""
    _reset(world)
    ops = _ops(world)
    ops.shadow(blue="files", files_path=str(world.files), sample=0.0)
    ops.promote(force=True, reason="test: propagation", compare=False)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ONSFLUX_", "INFLUXDB_"))},
           "ONSFLUX_STATE_DIR": str(world.tmp), "INFLUXDB_URL": world.settings.influxdb_url or "",
           "ONSFLUX_API_AUTH": "disabled"}
    ports = [_free_port(), _free_port()]
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "onsflux"), "serve", "--port", str(p)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in ports]
    question = {"question": "Qual foi o pico de carga no Sul em março de 2024?"}
    try:
        with httpx.Client(timeout=30) as http:
            for p in ports:  # up and serving green
                deadline = time.monotonic() + 60
                while True:
                    try:
                        r = http.post(f"http://127.0.0.1:{p}/query", json=question)
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "onsflux serve did not start"
                        time.sleep(0.2)
                assert r.json()["served_from"] == "influxdb"
            t0 = time.monotonic()
            ops.rollback(reason="test: propagation")
            took: dict[int, float] = {}
            while len(took) < len(ports) and time.monotonic() - t0 < 15:
                for p in ports:
                    if p not in took:
                        body = http.post(f"http://127.0.0.1:{p}/query", json=question).json()
                        jsonschema.validate(body, SCHEMA)
                        if body["served_from"] == "files":
                            took[p] = time.monotonic() - t0
                time.sleep(0.05)
        print(f"\nrollback propagation to {len(ports)} API processes: "
              + ", ".join(f"{v:.2f} s" for v in took.values()))
        assert len(took) == len(ports) and max(took.values()) <= 5.0, took
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def test_the_gate_refuses_without_a_fresh_passing_verify(world: World) -> None:
    _reset(world)
    ops = _ops(world)
    ops.shadow(blue="files", files_path=str(world.files), sample=1.0, control_sample=0.0,
               thresholds={"min_comparisons": 5, "max_latency_ratio": 1000})
    router = _router(world)
    for item in workload(datetime(2024, 3, 1, tzinfo=UTC), DATA_END, questions=0)[:12]:
        assert item.spec is not None
        router.run(item.spec)
    assert router.shadow.drain(60)
    with pytest.raises(GateRefused, match="no migrate verify recorded") as err:
        ops.shift(10)
    assert [c.name for c in err.value.gate.failures] == ["verify"]
    migrations = MigrationStore(world.settings.state_path)
    migrations.event("m1", "verify", None, ok=True, mismatches=0)
    later = _ops(world, now=lambda: time.time() + 25 * 3600)
    with pytest.raises(GateRefused, match=r"h older than the 24 h allowed"):
        later.shift(10)
    migrations.event("m1", "verify", None, ok=False, mismatches=3, verdict="different")
    with pytest.raises(GateRefused, match="said 'different', not identical: 3 mismatches"):
        ops.shift(10)
    migrations.event("m1", "verify", None, ok=True, mismatches=0)
    assert ops.shift(10).phase == "canary"
    migrations.close()
    router.close()
