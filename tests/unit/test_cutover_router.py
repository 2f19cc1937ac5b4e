"""Routing by phase, the sticky canary, failover to blue, shadow sampling off the request
path with drops counted, the automatic rollback, and the gate. In-memory backends
(a dummy destination with failure knobs, as dlt's loader tests use), SQLite state."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from onsflux.cutover.control import Cutover, GateRefused
from onsflux.cutover.gate import VerifyRecord
from onsflux.cutover.router import Router, bucket, served_side, spec_hash
from onsflux.cutover.state import CutoverState, SqliteCutoverStore, Thresholds
from onsflux.exceptions import ConfigError, ServerUnavailable
from onsflux.query import QuerySpec
from onsflux.query.result import QueryResult, Row
from onsflux.settings import Settings


class Fake:
    """A backend answering one row per spec; ``fail``/``delay``/``bump`` are knobs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.fail = False
        self.delay = 0.0
        self.bump = 0.0
        self.gate: threading.Event | None = None

    def run(self, spec: QuerySpec) -> QueryResult:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ServerUnavailable(f"{self.name} is down")
        row = Row(spec.start_ns, spec.measurement, spec.fields[0], 1.0 + self.bump, {})
        return QueryResult([row], False, self.name, self.name, "q")  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def spec(i: int) -> QuerySpec:
    return QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                            "start": f"2024-03-01T00:{i // 60:02d}:{i % 60:02d}Z",
                            "stop": "2024-03-02"})


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteCutoverStore(tmp_path / "s.sqlite")
    blue, green = Fake("files"), Fake("influxdb")
    clock = Clock()
    router = Router(Settings(state_dir=tmp_path), store, backends={"files": blue,
                    "influxdb": green}, clock=clock, who="test")
    ops = Cutover(Settings(state_dir=tmp_path), store, who="os:test",
                  verify=lambda: VerifyRecord(time.time() - 60, True, "m1"))
    yield store, router, ops, blue, green, clock
    router.close()


def _set(store: SqliteCutoverStore, **changes: object) -> CutoverState:
    st = store.get_state()
    return store.transition(replace(st, **changes), expected_version=st.version,  # type: ignore[arg-type]
                            action="test", who="os:test", reason="")


def test_the_canary_split_is_sticky_and_close_to_the_percentage() -> None:
    st = CutoverState(phase="canary", percent=25.0)
    hashes = [spec_hash(spec(i)) for i in range(2000)]
    sides = [served_side(st, h) for h in hashes]
    assert sides == [served_side(st, h) for h in hashes]  # same spec, same side
    share = sides.count("green") / len(sides)
    assert 0.21 < share < 0.29
    # a bigger canary keeps every spec already on green there
    wider = CutoverState(phase="canary", percent=50.0)
    assert all(served_side(wider, h) == "green" for h, s in zip(hashes, sides, strict=True) if s == "green")
    # the normalized spec: tag values in another order are the same query
    a = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                         "where": {"region": ["north", "south"]}, "start": "2024-03-01",
                         "stop": "2024-03-02"})
    b = a.replace(where={"region": ["south", "north"]})
    assert spec_hash(a) == spec_hash(b) and 0 <= bucket(spec_hash(a)) < 100


def test_each_phase_serves_its_side(env) -> None:  # type: ignore[no-untyped-def]
    store, router, _, blue, green, clock = env
    _set(store, phase="shadow", blue="files", sample=0.0)
    clock.t += 10
    assert router.run(spec(1)).served_from == "files"
    _set(store, phase="green")
    assert router.run(spec(1)).served_from == "files"  # cached phase, not yet re-read
    clock.t += router.refresh_seconds
    assert router.run(spec(1)).served_from == "influxdb"
    _set(store, phase="rolled-back")
    clock.t += router.refresh_seconds
    assert router.run(spec(1)).served_from == "files"


def test_green_failing_is_answered_from_blue_and_rolls_back_by_itself(env) -> None:  # type: ignore[no-untyped-def]
    store, router, _, blue, green, clock = env
    _set(store, phase="canary", percent=100.0 - 1e-9, blue="files", sample=0.0,
         thresholds=Thresholds(window_min_requests=5, rollback_error_rate=0.5))
    green.fail = True
    answers = [router.run(spec(i)) for i in range(40)]
    assert all(a.served_from == "files" for a in answers)  # no failed user request
    assert any("influxdb failed" in w for w in answers[0].warnings)
    st = store.get_state()
    assert st.phase == "rolled-back"
    entry = store.audit()[-1]
    assert entry.action == "auto-rollback" and entry.who == "auto:test"
    assert "green error rate 100.0%" in entry.reason
    calls = green.calls
    router.run(spec(99))
    assert green.calls == calls  # rolled back: green is not even tried


def test_shadow_never_waits_and_counts_what_it_drops(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _, _, blue, green, clock = env
    router = Router(Settings(state_dir=tmp_path), store,
                    backends={"files": blue, "influxdb": green}, clock=clock, max_queue=2)
    _set(store, phase="shadow", blue="files", sample=1.0, control_sample=0.0)
    green.gate = threading.Event()  # the shadow side hangs until released
    t0 = time.perf_counter()
    for i in range(10):
        assert router.run(spec(i)).served_from == "files"
    assert time.perf_counter() - t0 < 2.0  # the hanging side never held a request
    green.gate.set()
    assert router.shadow.drain(10)
    # 1 taken by the worker + 2 queued: the rest dropped (queue bound 2)
    assert router.shadow.dropped >= 7
    recs = store.comparisons()
    assert sum(r.outcome == "dropped" for r in recs) == router.shadow.dropped
    assert sum(r.outcome == "match" for r in recs) == 10 - router.shadow.dropped
    router.close()


def test_mismatches_are_recorded_with_spec_and_both_values(env) -> None:  # type: ignore[no-untyped-def]
    store, router, ops, blue, green, clock = env
    _set(store, phase="shadow", blue="files", sample=1.0, control_sample=0.0)
    green.bump = 0.5
    router.run(spec(7))
    assert router.shadow.drain(10)
    (m,) = store.mismatches()
    assert m.outcome == "value" and m.spec["start"].startswith("2024-03-01T00:00:07")
    assert m.diffs[0]["control"] == 1.0 and m.diffs[0]["candidate"] == 1.5
    assert m.blue_digest != m.green_digest
    fig = ops.figures()
    assert fig.comparisons == 1 and fig.consistency == 0.0


def test_control_runs_measure_the_noise_floor(env) -> None:  # type: ignore[no-untyped-def]
    store, router, ops, *_ = env
    _set(store, phase="shadow", blue="files", sample=1.0, control_sample=1.0)
    for i in range(5):
        router.run(spec(i))
    assert router.shadow.drain(10)
    fig = ops.figures()
    assert fig.control_runs == 5 and fig.noise_floor == 0.0 and fig.comparisons == 0


def test_the_gate_refuses_with_margins_and_force_is_recorded(env) -> None:  # type: ignore[no-untyped-def]
    store, router, ops, blue, green, clock = env
    ops.shadow(blue="files", files_path="/x", sample=1.0,
               thresholds={"min_comparisons": 20})
    _set(store, control_sample=0.0)
    for i in range(10):
        router.run(spec(i))
    assert router.shadow.drain(10)
    with pytest.raises(GateRefused) as err:
        ops.shift(10)
    assert "10 comparisons, 10 short of the 20 needed" in str(err.value)
    for i in range(10, 30):
        router.run(spec(i))
    assert router.shadow.drain(10)
    assert ops.shift(10).phase == "canary"
    ops._verify = lambda: None  # type: ignore[method-assign]
    with pytest.raises(GateRefused, match="no migrate verify recorded"):
        ops.promote()
    with pytest.raises(ConfigError, match="--force needs --reason"):
        ops.promote(force=True)
    st = ops.promote(force=True, reason="verified by hand")
    assert st.phase == "green-shadow"
    last = store.audit()[-1]
    assert last.forced and last.reason == "verified by hand" and not last.gate["ok"]
    assert ops.rollback(reason="drill").phase == "rolled-back"
