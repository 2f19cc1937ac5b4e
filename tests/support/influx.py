"""Start a real influxd for tests, exactly as ``onsflux local up`` does.

Used by the session-scoped ``influx_server`` fixture; fails loudly (raises
``LocalServerError``) when influxd cannot start, so integration tests never pass
silently without a server.
"""

from __future__ import annotations

from pathlib import Path

from onsflux.influx.local import LocalServer, ServerHandle


def start_influxd(tmp_dir: Path, port: int | None = None, *, timeout: float = 30.0) -> ServerHandle:
    """Start influxd with its state under ``tmp_dir``; return its handle (url, pid...)."""
    return LocalServer(tmp_dir).up(port, timeout=timeout)


def stop_influxd(tmp_dir: Path) -> bool:
    """Stop the influxd started under ``tmp_dir`` (its PID only)."""
    return LocalServer(tmp_dir).down()
