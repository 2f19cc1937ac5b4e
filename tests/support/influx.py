"""Start a real influxd for tests, exactly as ``onsflux local up`` does.

Used by the session-scoped ``influx_server`` fixture; fails loudly (raises
``LocalServerError``) when influxd cannot start, so integration tests never pass
silently without a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onsflux.influx.local import LocalServer, ServerHandle


def start_influxd(tmp_dir: Path, port: int | None = None, *, timeout: float = 30.0) -> ServerHandle:
    """Start influxd with its state under ``tmp_dir``; return its handle (url, pid...)."""
    return LocalServer(tmp_dir).up(port, timeout=timeout)


def stop_influxd(tmp_dir: Path) -> bool:
    """Stop the influxd started under ``tmp_dir`` (its PID only)."""
    return LocalServer(tmp_dir).down()


def load_wide_sample(settings: Any, client: Any, out: Path, *, days: int, start: Any,
                     seed: int) -> list[Path]:
    """Drop the catalog's databases, write a wide sample to ``out`` and ingest it cleanly:
    the shared setup of the query and rollup modules (one slate per module)."""
    from onsflux import catalog, sample
    from onsflux.ingest.pipeline import Ingestor
    from onsflux.state.store import SqliteStateStore

    for bucket in catalog.BUCKETS:
        client.query(f'DROP DATABASE "{bucket}"')
    files = sample.write(sample.generate(days=days, start=start, seed=seed), out, "wide")
    store = SqliteStateStore(settings.state_path)
    try:
        summary = Ingestor(settings, store, client).ingest([str(p) for p in files])
    finally:
        store.close()
    assert summary.failed == 0 and summary.rejected == 0, summary.as_dict()
    return files
