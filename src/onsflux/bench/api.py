"""API benchmark: ``POST /query`` latency on the local stack, sequential and 10 concurrent.

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
            "max_ms": round(max(ms), 2)}


def _one(client: httpx.Client, url: str, q: str) -> float:
    t = time.perf_counter()
    r = client.post(url, json={"question": q})
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{q!r}: HTTP {r.status_code}: {r.text[:200]}")
    return ms


def run(*, repeats: int = 3, requests: int = 200, concurrency: int = 10,
        settings: Settings | None = None) -> dict[str, Any]:
    base = settings or Settings()
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
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or api.poll() is not None:
                        tail = log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"API did not start:\n{tail}") from None
                    time.sleep(0.1)
            seq_runs, conc_runs, throughput = [], [], []
            with httpx.Client(timeout=30) as c:
                for q in QUESTIONS:  # warm-up: vocabulary, first parses, connections
                    _one(c, url, q)
                for _ in range(repeats):
                    seq_runs.append(_stats([_one(c, url, QUESTIONS[i % len(QUESTIONS)])
                                            for i in range(requests)]))
            for _ in range(repeats):
                clients = [httpx.Client(timeout=30) for _ in range(concurrency)]
                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    ms = list(pool.map(
                        lambda i, cs=clients: _one(cs[i % concurrency], url,
                                                   QUESTIONS[i % len(QUESTIONS)]),
                        range(requests)))
                throughput.append(requests / (time.perf_counter() - started))
                for c2 in clients:
                    c2.close()
                conc_runs.append(_stats(ms))
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=10)
            server.down()

    def med(runs: list[dict[str, float]], key: str) -> float:
        return median([r[key] for r in runs])

    return {
        "name": "api",
        "requests_per_run": requests,
        "questions": len(QUESTIONS),
        "sequential": {"p50_ms": med(seq_runs, "p50_ms"), "p95_ms": med(seq_runs, "p95_ms"),
                       "runs": seq_runs},
        f"concurrent_{concurrency}": {"p50_ms": med(conc_runs, "p50_ms"),
                                      "p95_ms": med(conc_runs, "p95_ms"),
                                      "requests_per_s": round(median(throughput), 1),
                                      "runs": conc_runs},
        "goal": "sequential p95 < 50 ms (no LLM)",
        "environment": environment(),
    }
