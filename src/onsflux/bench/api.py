"""API benchmark: ``POST /query`` latency on the local stack at 1, 10 and 50 concurrent clients.

A fresh influxd (temp folder) gets 30 days of ONS-shaped sample data through the normal
ingest; the API runs in its own process (``uvicorn onsflux.api.app:create_app --factory``,
so the load generator does not share its interpreter); questions cycle through a mix of
intents in both languages. No LLM is involved: the answer is parser + query + composer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from onsflux import sample
from onsflux.influx.client import InfluxClient
from onsflux.influx.local import LocalServer, free_port
from onsflux.ingest.pipeline import Ingestor
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

from .common import environment, median, percentile

QUESTIONS = (
    "Qual foi o pico de carga no Sudeste ontem?",
    "How much wind generation in the Northeast last week?",
    "Qual a participação de cada fonte na geração nos últimos 30 dias?",
    "Average load in the South in the last 7 days",
    "Quanto gerou Itaipu na semana passada?",
    "Top 5 plants by generation last week",
    "Qual foi a carga mínima do Norte ontem?",
    "What was the peak load of the whole system yesterday?",
    "Intercâmbio do Nordeste para o Sudeste nos últimos 7 dias",
    "Qual o preço da energia amanhã?",
)


def _stats(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2)}


def _one(client: httpx.Client, url: str, q: str) -> float:
    """One question; its latency in ms, or ``-1`` for an error (counted, never raised)."""
    t = time.perf_counter()
    try:
        r = client.post(url, json={"question": q})
    except httpx.HTTPError:
        return -1.0
    ms = (time.perf_counter() - t) * 1000
    return ms if r.status_code == 200 else -1.0


def _level(url: str, clients: int, requests: int) -> dict[str, Any]:
    """``requests`` questions spread over ``clients`` concurrent connections."""
    pool_clients = [httpx.Client(timeout=60) for _ in range(clients)]
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            ms = list(pool.map(
                lambda i: _one(pool_clients[i % clients], url, QUESTIONS[i % len(QUESTIONS)]),
                range(requests)))
        elapsed = time.perf_counter() - started
    finally:
        for c in pool_clients:
            c.close()
    ok = [m for m in ms if m >= 0]
    return {**(_stats(ok) if ok else {"n": 0}), "errors": len(ms) - len(ok),
            "requests_per_s": round(requests / elapsed, 1)}


def run(*, repeats: int = 3, requests: int = 200, levels_csv: str = "1,10,50",
        shadow: bool = True, settings: Settings | None = None) -> dict[str, Any]:
    """``POST /query`` at each concurrency in ``levels_csv``: p50/p95/p99, errors, req/s.

    Threads over httpx rather than Locust: the figures we need (percentiles per level,
    errors, throughput) take forty lines, and Locust's gevent monkey-patching would share
    the process with our own httpx-based code under test in other benchmarks.
    """
    base = settings or Settings()
    levels = [int(x) for x in levels_csv.split(",") if x.strip()]
    by_arm: dict[str, dict[str, Any]] = {}
    shadow_runs = 0
    with tempfile.TemporaryDirectory(prefix="onsflux-bench-api-") as tmp:
        tmpdir = Path(tmp)
        server = LocalServer(tmpdir / "influx")
        handle = server.up()
        api: subprocess.Popen[bytes] | None = None
        try:
            s = base.with_overrides(influxdb_url=handle.url, state_dir=tmpdir)
            files = sample.write(sample.generate(days=30), tmpdir / "ons", "ons")
            store = SqliteStateStore(s.state_path)
            with InfluxClient(s, url=handle.url) as client:
                Ingestor(s, store, client).ingest([str(f) for f in files])
            store.close()
            port = free_port()
            env = {**os.environ, "INFLUXDB_URL": handle.url, "ONSFLUX_STATE_DIR": str(tmpdir),
                   "ONSFLUX_API_AUTH": "disabled"}
            log = tmpdir / "api.log"  # a file, not a pipe nobody reads (a full pipe stalls it)
            with log.open("wb") as log_file:
                api = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "onsflux.api.app:create_app", "--factory",
                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                    env=env, stdout=subprocess.DEVNULL, stderr=log_file)
            url = f"http://127.0.0.1:{port}/query"
            deadline = time.monotonic() + 120  # importing the app is slow on a busy box
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or api.poll() is not None:
                        tail = log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"API did not start:\n{tail}") from None
                    time.sleep(0.1)
            with httpx.Client(timeout=30) as c:
                for q in QUESTIONS:  # warm-up: vocabulary, first parses, connections
                    _one(c, url, q)
            arms = ["without_shadow", "with_shadow"] if shadow else ["without_shadow"]
            for arm in arms:
                if arm == "with_shadow":
                    # green (InfluxDB) keeps serving; every request is also run on blue
                    # (the files engine over the same data) in the background and compared
                    from onsflux.cutover.control import Cutover

                    processed = sample.write(sample.generate(days=30), tmpdir / "processed",
                                             "processed")
                    cut = Cutover(s, who="bench api")
                    try:
                        cut.shadow(blue="files", sample=1.0,
                                   files_path=str(processed[0].parent), reason="bench api")
                        cut.promote(compare=True, force=True,
                                    reason="bench api: measure green-shadow")
                    finally:
                        cut.close()
                    time.sleep(6)  # a phase change reaches a running API within 5 s
                by_level = by_arm.setdefault(arm, {})
                for level in levels:
                    runs = [_level(url, level, max(requests, 4 * level))
                            for _ in range(repeats)]
                    by_level[str(level)] = {
                        "p50_ms": median([r["p50_ms"] for r in runs if "p50_ms" in r] or [0]),
                        "p95_ms": median([r["p95_ms"] for r in runs if "p95_ms" in r] or [0]),
                        "p99_ms": median([r["p99_ms"] for r in runs if "p99_ms" in r] or [0]),
                        "requests_per_s": median([r["requests_per_s"] for r in runs]),
                        "errors": sum(r["errors"] for r in runs), "runs": runs,
                    }
                if arm == "with_shadow":  # proof the shadow path really ran
                    cut = Cutover(s, who="bench api")
                    try:
                        shadow_runs = len(cut.store.comparisons())
                    finally:
                        cut.close()
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=10)
            server.down()

    return {
        "name": "api",
        "requests_per_level": requests,
        "questions": len(QUESTIONS),
        "load_generator": "threads over httpx keep-alive clients (one per simulated client), "
                          "API in its own uvicorn process",
        "concurrency": by_arm,
        "shadow_comparisons_recorded": shadow_runs,
        "shadow": "with_shadow: cutover phase green-shadow (InfluxDB serves; every request "
                  "also runs on the files engine in the background and is compared)",
        "goal": "p95 < 50 ms at 1 client (no LLM); no errors at 50",
        "environment": environment(),
    }
