"""Shared fixtures: one real influxd per test session, started the way users start it.

The server runs `influxd run -config …` on a free 127.0.0.1 port with its data in a
temporary folder. If it cannot start, every integration test errors loudly — none is
skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from onsflux import catalog
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.settings import Settings
from tests.support.influx import start_influxd, stop_influxd


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own Settings: the machine's INFLUXDB_*/ONSFLUX_* must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith(("INFLUXDB_", "ONSFLUX_", "AWS_ENDPOINT_URL")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    state = tmp_path_factory.mktemp("influxd")
    handle = start_influxd(state)
    yield handle
    stop_influxd(state)


def fast_settings(url: str | None, state_dir: Path, **extra: object) -> Settings:
    """Settings for tests: quick retries so failure paths take milliseconds, not seconds."""
    values: dict[str, object] = dict(
        influxdb_url=url, state_dir=state_dir, gzip="off", backoff_base_seconds=0.01,
        backoff_max_seconds=0.05, max_attempts=3, breaker_reset_seconds=0.5, timeout_seconds=5,
    )
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(influx_server: ServerHandle, tmp_path: Path) -> Settings:
    return fast_settings(influx_server.url, tmp_path)


@pytest.fixture
def influx(settings: Settings) -> Iterator[InfluxClient]:
    """A client on the session server with the catalog's databases dropped: a clean slate."""
    with InfluxClient(settings, url=settings.influxdb_url or "") as client:
        for bucket in catalog.BUCKETS:
            client.query(f'DROP DATABASE "{bucket}"')
        yield client
