"""``onsflux cutover rehearse``: the whole cutover on one machine, with a fault.

Blue is the files engine over processed Parquet files (what the old platform was fed
from); green is a local InfluxDB the rehearsal starts in its own folder and fills with
the same files through the real ingest. Nothing of the user's own state is touched: the
rehearsal has its own state file, its own influxd, its own API process.

1. **shadow**: the workload (the three templates over several ranges, and the evaluation
   questions) replayed with every request also run on green (and a share run twice on
   blue: the noise floor);
2. **gate**, then **canary** 10% and 50% (sticky per query), then **promote** (green
   serves, blue still compared);
3. **rollback drill** by hand, its propagation to a running ``onsflux serve`` measured;
4. **fault**: canary 90% again, influxd stopped mid-replay: every request must still be
   answered (from blue), and the router must roll back by itself;
5. the timeline (the audit trail) and the figures.

The gate's ``migrate verify`` condition cannot pass here (there is no Timestream export to
verify), so the first shift is forced with that reason, and the record says so.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..exceptions import OnsfluxError
from ..settings import Settings
from .control import Cutover, GateRefused
from .router import Router
from .state import SqliteCutoverStore
from .workload import Item, workload


@dataclass
class PhaseRun:
    name: str
    requests: int = 0
    #: distinct requests among those replayed (the workload repeats when it is shorter)
    distinct: int = 0
    failed: int = 0
    served: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    p95_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.name, "requests": self.requests, "distinct": self.distinct,
                "failed": self.failed,
                "served": dict(self.served), "seconds": round(self.seconds, 2),
                "served_p95_ms": None if self.p95_ms is None else round(self.p95_ms, 1)}


class _Say:
    def __init__(self, console: Any | None, t0: float) -> None:
        self.console = console
        self.t0 = t0
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        self.lines.append(line)
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rehearse(settings: Settings, *, days: int = 7, requests: int = 200,
             workdir: Path | None = None, console: Any | None = None) -> dict[str, Any]:
    """Run the rehearsal (see the module docstring); the report as a dict."""
    from .. import sample
    from ..influx.client import InfluxClient
    from ..influx.local import LocalServer
    from ..ingest.pipeline import Ingestor
    from ..state.store import SqliteStateStore

    t0 = time.monotonic()
    say = _Say(console, t0)
    # the client's per-attempt retry warnings would drown the transcript during the fault;
    # the rehearsal reports the failures itself (counted per phase, and the rollback)
    quiet = [logging.getLogger(n) for n in ("onsflux.influx", "onsflux.retry")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    work = Path(workdir or settings.state_dir / f"rehearsal-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    work.mkdir(parents=True, exist_ok=True)
    local = LocalServer(work / "influxd")
    api: subprocess.Popen[bytes] | None = None
    try:
        handle = local.up()
        say(f"green: influxd {handle.version or ''} started on {handle.url} (pid {handle.pid}, "
            f"data in {work / 'influxd'})")
        # quick retries: a dead green must fail fast so the user is answered from blue fast
        s = settings.with_overrides(
            state_dir=work, influxdb_url=handle.url, max_attempts=2,
            backoff_base_seconds=0.05, backoff_max_seconds=0.2, timeout_seconds=5.0,
            breaker_failures=3, breaker_reset_seconds=2.0)
        s = s.model_copy(update={"state": None, "fallback_path": None, "also_write": None})
        files = work / "processed"
        data = sample.generate(days=days, start=sample.default_start(days))
        paths = sample.write(data, files, "processed")
        store = SqliteStateStore(s.state_path)
        with InfluxClient(s, url=handle.url) as client:
            summary = Ingestor(s, store, client).ingest([str(p) for p in paths])
        if summary.failed or summary.rejected:
            raise OnsfluxError(f"the rehearsal's ingest failed: {summary.as_dict()}")
        say(f"blue: {len(paths)} processed Parquet file(s) in {files}; green filled by the "
            f"ingest: {summary.points:,} points in {summary.seconds:.1f} s")

        items = workload(datetime.combine(data.start, datetime.min.time(), UTC),
                         datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
        distinct = len(items)
        cut_store = SqliteCutoverStore(s.state_path)
        ops = Cutover(s, cut_store)
        runs: list[PhaseRun] = []

        from ..answer.service import AnswerService
        from ..query.execute import Executor

        executor = Executor(s, fallback=None)
        router = Router(s, cut_store, executor=executor, max_queue=256)
        service = AnswerService(executor, store=store, runner=router)

        def replay(name: str, n: int, *, during: Callable[[int], None] | None = None
                   ) -> PhaseRun:
            run = PhaseRun(name)
            started = time.monotonic()
            times: list[float] = []
            for i in range(n):
                if during is not None:
                    during(i)
                item: Item = items[i % distinct]
                q0 = time.perf_counter()
                try:
                    if item.kind == "question":
                        out = service.ask(item.question or "")
                        side = out["served_from"] or "none"
                    else:
                        assert item.spec is not None
                        side = router.run(item.spec).served_from
                    run.served[side] = run.served.get(side, 0) + 1
                except Exception:  # noqa: BLE001 - a failed user request: counted, never hidden
                    run.failed += 1
                times.append((time.perf_counter() - q0) * 1000)
                run.requests += 1
            run.distinct = min(run.requests, distinct)
            router.shadow.drain(120)
            run.seconds = time.monotonic() - started
            ordered = sorted(times)
            run.p95_ms = ordered[int(0.95 * (len(ordered) - 1))] if ordered else None
            runs.append(run)
            fig = ops.figures()
            say(f"{name}: {run.requests} requests ({run.distinct} distinct), served "
                f"{_served(run.served)}, {run.failed} failed, served p95 "
                f"{_f(run.p95_ms)} ms · consistency {_pct(fig.consistency)} over "
                f"{fig.comparisons} comparisons, noise floor {_pct(fig.noise_floor)} over "
                f"{fig.control_runs} control runs, dropped {fig.dropped} · p95 blue "
                f"{_f(fig.blue.p95_ms)} ms, green {_f(fig.green.p95_ms)} ms")
            return run

        def phase_now() -> str:
            st = router.state(refresh=True)
            return st.phase + (f" {st.percent:g}%" if st.phase == "canary" else "")

        # ---------------------------------------------------------------- shadow
        ops.shadow(blue="files", files_path=str(files), sample=1.0, control_sample=0.2,
                   thresholds={"min_comparisons": max(50, requests // 2),
                               "window_min_requests": 10, "rollback_mismatch_rate": 0.2},
                   reason="rehearsal: compare every request")
        router.state(refresh=True)
        say(f"phase -> {phase_now()} (sample 100%, control 20%; automatic rollback on a "
            "green error rate > 5%, p95 > 2 s or mismatch rate > 20% over 60 s)")
        replay("shadow", requests)
        for line in mismatch_classes(cut_store):
            say(line)

        # ---------------------------------------------------------------- gate, canary
        try:
            ops.shift(10)
        except GateRefused as exc:
            failed = ", ".join(f"{c.name} ({c.message})" for c in exc.gate.failures)
            say(f"gate refused shift: {failed}")
            reason = ("rehearsal: no Timestream export to verify (blue and green hold the "
                      "same files)") if [c.name for c in exc.gate.failures] == ["verify"] else \
                f"rehearsal: proceeding despite {', '.join(c.name for c in exc.gate.failures)}"
            ops.shift(10, force=True, reason=reason)
            say(f"shift 10% forced, recorded: {reason}")
        say(f"phase -> {phase_now()}")
        replay("canary 10%", requests)
        ops.shift(50, force=True, reason="rehearsal: widen the canary")
        say(f"phase -> {phase_now()}")
        replay("canary 50%", requests)

        # ---------------------------------------------------------------- an API process
        port = _free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ONSFLUX_", "INFLUXDB_"))}
        env.update({"ONSFLUX_STATE_DIR": str(work), "INFLUXDB_URL": handle.url,
                    "ONSFLUX_API_AUTH": "disabled"})
        exe = Path(sys.executable).parent / "onsflux"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                                 "from onsflux.cli import main; main()"]
        api = subprocess.Popen([*cmd, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        api_url = f"http://127.0.0.1:{port}"
        probe = {"question": "Qual foi o pico de carga no Sudeste ontem?"}
        if not _wait_api(api_url, probe):
            raise OnsfluxError("the rehearsal's API process did not start")
        say(f"API process: onsflux serve on {api_url} (pid {api.pid})")

        promote_ms = None
        try:
            ops.promote(reason="rehearsal: promote")
        except GateRefused:
            ops.promote(force=True, reason="rehearsal: promote (no verify to pass)")
        promote_ms = _flip(api_url, probe, "influxdb")
        say(f"phase -> {phase_now()}; the API process served green after "
            f"{_f(promote_ms)} ms")
        replay("green-shadow", requests)

        # ---------------------------------------------------------------- rollback drill
        ops.rollback(reason="rehearsal: rollback drill")
        rollback_ms = _flip(api_url, probe, "files")
        say(f"rollback drill: phase -> {phase_now()}; the API process served blue after "
            f"{_f(rollback_ms)} ms")

        # ---------------------------------------------------------------- the fault
        ops.shadow(blue="files", files_path=str(files), sample=0.2, control_sample=0.0,
                   reason="rehearsal: before the fault")
        ops.shift(90, force=True, reason="rehearsal: canary 90% before the fault")
        router.state(refresh=True)
        say(f"phase -> {phase_now()}")
        fault: dict[str, Any] = {}

        def inject(i: int) -> None:
            if i == requests // 4 and "at" not in fault:
                local.down()  # SIGTERM to its PID only; waits for it to exit
                fault["at"] = time.monotonic()
                fault["request"] = i
                say(f"FAULT: influxd (pid {handle.pid}) stopped after {i} requests")
            if "at" in fault and "rolled_back" not in fault and router.rollbacks:
                fault["rolled_back"] = time.monotonic()
                fault["requests_until"] = i - fault["request"]
                say(f"automatic rollback after {fault['requests_until']} requests, "
                    f"{(fault['rolled_back'] - fault['at']) * 1000:.0f} ms after the fault: "
                    f"{router.rollbacks[-1]['reason']}")

        fault_run = replay("fault (canary 90%)", requests, during=inject)
        auto_ms = _flip(api_url, probe, "files", timeout=15.0)
        say(f"phase -> {phase_now()}; the API process serves blue "
            f"({_f(auto_ms)} ms to confirm); failed user requests during the fault: "
            f"{fault_run.failed}")

        # ---------------------------------------------------------------- report
        timeline = [a.as_dict() for a in cut_store.audit(100)]
        first = timeline[0]["at"] if timeline else time.time()
        if console is not None:
            console.print("\ntimeline (the audit trail)", style="bold")
            for a in timeline:
                console.print(
                    f"  +{a['at'] - first:7.1f}s  {a['action']:<13} {a['from_phase']:>12} -> "
                    f"{a['to_phase']:<12} {a['percent']:>5g}%  by {a['who']}"
                    f"{'  FORCED' if a['forced'] else ''}  · {a['reason']}",
                    markup=False, highlight=False, soft_wrap=True)
            console.print("\nfigures", style="bold")
            for r in runs:
                console.print(f"  {r.name:<20} {r.requests:>5} requests  failed {r.failed}  "
                              f"served {_served(r.served)}  p95 {_f(r.p95_ms)} ms",
                              markup=False, highlight=False)
            console.print(f"  rollback propagation to a running API process: "
                          f"{_f(rollback_ms)} ms (promotion: {_f(promote_ms)} ms)",
                          markup=False)
            if "rolled_back" in fault:
                console.print(f"  automatic rollback: {fault['requests_until']} requests and "
                              f"{(fault['rolled_back'] - fault['at']) * 1000:.0f} ms after "
                              "influxd stopped; every request answered"
                              if fault_run.failed == 0 else
                              f"  automatic rollback, but {fault_run.failed} requests failed",
                              markup=False)
            console.print(f"  workdir {work} (delete it when done)", markup=False)
        report = {
            "workdir": str(work), "phases": [r.as_dict() for r in runs],
            "rollback_propagation_ms": rollback_ms, "promote_propagation_ms": promote_ms,
            "fault": {"after_requests": fault.get("request"),
                      "auto_rollback_after_requests": fault.get("requests_until"),
                      "auto_rollback_ms": None if "rolled_back" not in fault else
                      round((fault["rolled_back"] - fault["at"]) * 1000, 1),
                      "failed_requests": fault_run.failed},
            "figures": ops.status(mismatches=5),
            "timeline": timeline, "log": say.lines,
        }
        router.close()
        store.close()
        return report
    finally:
        for q, lv in zip(quiet, levels, strict=True):
            q.setLevel(lv)
        if api is not None:
            api.terminate()
            try:
                api.wait(10)
            except subprocess.TimeoutExpired:
                api.kill()
        local.down()


def mismatch_classes(store: SqliteCutoverStore, limit: int = 500) -> list[str]:
    """The recorded mismatches grouped by what kind of query produced them."""
    groups: dict[tuple[str, str, str, str], int] = {}
    for m in store.mismatches(limit):
        spec = m.spec
        key = (m.outcome, str(spec.get("measurement")), str(spec.get("aggregate") or "raw"),
               "window " + str(spec["every"]) if spec.get("every") else "no window")
        groups[key] = groups.get(key, 0) + 1
    out = []
    for (outcome, meas, agg, win), n in sorted(groups.items(), key=lambda kv: -kv[1]):
        note = ""
        if agg in ("first", "last") and win == "no window":
            note = (" (InfluxQL breaks ties between series at the same time by its internal "
                    "series order, the files engine by the greatest series key: "
                    "implementation-defined, see onsflux cutover report)")
        out.append(f"mismatches: {n} x {outcome} on {meas} {agg}, {win}{note}")
    return out


def _wait_api(url: str, probe: dict[str, str], timeout: float = 60.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{url}/query", json=probe, timeout=30).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _flip(url: str, probe: dict[str, str], want: str, timeout: float = 10.0) -> float | None:
    """Milliseconds until the API process serves from ``want`` (None: not within timeout)."""
    import httpx

    t0 = time.monotonic()
    with httpx.Client(timeout=30) as http:
        while time.monotonic() - t0 < timeout:
            try:
                body = http.post(f"{url}/query", json=probe).json()
                if body.get("served_from") == want:
                    return round((time.monotonic() - t0) * 1000, 1)
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
    return None


def _served(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "-"


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3%}"
