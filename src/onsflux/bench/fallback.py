"""Fallback benchmark: ``ask`` latency with InfluxDB down (issue 9 item 5).

A fresh influxd (temp folder) gets 30 days of ONS sample files through the normal
ingest; then it is stopped, and the answer service -- built as ``onsflux ask`` and the
API build it, with ``ONSFLUX_FALLBACK_PATH`` unset -- answers a mix of questions from the
objects the state store recorded as ingested. Reported: p50/p95/max of every ask after
the first, the first ask apart (it pays the retries that open the breaker, and the
first read of the files), and where the answers came from. Default retry settings.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from onsflux import sample
from onsflux.influx.client import InfluxClient
from onsflux.influx.local import LocalServer
from onsflux.influx.transport import forget_shared_breakers
from onsflux.ingest.pipeline import Ingestor
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore

from .api import QUESTIONS
from .common import environment, median, percentile


def run(*, repeats: int = 3, asks: int = 100, days: int = 30,
        settings: Settings | None = None) -> dict[str, Any]:
    """``asks`` questions with InfluxDB down, ``repeats`` times; p50/p95 in ms."""
    from onsflux.api.app import default_service

    base = settings or Settings()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="onsflux-bench-fallback-") as tmp:
        tmpdir = Path(tmp)
        server = LocalServer(tmpdir / "influx")
        handle = server.up()
        try:
            s = base.with_overrides(influxdb_url=handle.url, state_dir=tmpdir,
                                    fallback_path=None)
            files = sample.write(sample.generate(days=days), tmpdir / "ons", "ons")
            store = SqliteStateStore(s.state_path)
            with InfluxClient(s, url=handle.url) as client:
                Ingestor(s, store, client).ingest([str(f) for f in files])
            store.close()
        finally:
            server.down()  # InfluxDB is down from here on
        for _ in range(repeats):
            forget_shared_breakers()  # each repeat starts as a new process would
            t = time.perf_counter()
            service = default_service(s)
            setup_ms = (time.perf_counter() - t) * 1000
            ms: list[float] = []
            served: Counter[str] = Counter()
            try:
                for i in range(asks):
                    t = time.perf_counter()
                    out = service.ask(QUESTIONS[i % len(QUESTIONS)])
                    ms.append((time.perf_counter() - t) * 1000)
                    served[str(out.get("served_from") or out.get("status"))] += 1
            finally:
                service.close()
            rest = ms[1:]
            runs.append({"service_setup_ms": round(setup_ms, 1), "first_ask_ms": round(ms[0], 1),
                         "p50_ms": round(median(rest), 2), "p95_ms": round(percentile(rest, 95), 2),
                         "max_ms": round(max(rest), 2), "served_from": dict(served)})
    return {
        "name": "fallback",
        "asks": asks,
        "questions": len(QUESTIONS),
        "influxdb": "down (stopped after the ingest); fallback: the state store's ingested objects",
        "first_ask_ms": median([r["first_ask_ms"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p95_ms": median([r["p95_ms"] for r in runs]),
        "runs": runs,
        "goal": "p95 of ask with InfluxDB down under 1 s: no per-request retries",
        "environment": environment(),
    }
