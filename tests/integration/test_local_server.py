"""LocalServer: the real influxd started, found, stopped under a state folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from onsflux.exceptions import ConfigError, LocalServerError
from onsflux.influx import InfluxClient, LocalServer, resolve_url
from onsflux.influx.local import _pid_alive, render_config
from onsflux.settings import Settings
from tests.support.influx import start_influxd, stop_influxd

pytestmark = pytest.mark.integration


def ping(url: str) -> int:
    return httpx.get(f"{url}/ping", timeout=2, trust_env=False).status_code


def test_up_status_up_again_down(tmp_path: Path) -> None:
    server = LocalServer(tmp_path)
    assert server.status()["running"] is False
    handle = server.up()
    try:
        assert ping(handle.url) == 204
        assert handle.url == f"http://127.0.0.1:{handle.port}"
        record = json.loads((tmp_path / "influxd.json").read_text())
        assert {"pid", "url", "port", "config", "started_at"} <= record.keys()
        assert record["pid"] == handle.pid
        status = server.status()
        assert status["running"] is True
        assert (status["pid"], status["url"]) == (handle.pid, handle.url)
        assert status["version"].startswith("1.6.7")
        again = LocalServer(tmp_path).up()  # another process would see the same
        assert again.pid == handle.pid and again.url == handle.url
        config = Path(handle.config).read_text()
        assert f'bind-address = "127.0.0.1:{handle.port}"' in config
        assert "store-enabled = false" in config
        assert "reporting-disabled = true" in config
        for sub in ("meta", "data", "wal"):
            assert (tmp_path / "influxdb" / sub).is_dir()
    finally:
        assert server.down() is True
    assert not _pid_alive(handle.pid)
    assert not (tmp_path / "influxd.json").exists()
    assert server.status()["running"] is False
    assert server.down() is False  # nothing to stop
    with pytest.raises(httpx.HTTPError):
        ping(handle.url)


def test_two_servers_side_by_side(tmp_path: Path) -> None:
    a = start_influxd(tmp_path / "a")
    try:
        b = start_influxd(tmp_path / "b")
        try:
            assert a.port != b.port and a.pid != b.pid
            assert ping(a.url) == ping(b.url) == 204
            with InfluxClient(Settings(), a.url) as ca, InfluxClient(Settings(), b.url) as cb:
                ca.ensure_database("only_in_a")
                names_b = [r["name"] for r in cb.query_points("SHOW DATABASES")]
                assert "only_in_a" not in names_b
        finally:
            stop_influxd(tmp_path / "b")
        assert ping(a.url) == 204  # stopping b left a alone
    finally:
        stop_influxd(tmp_path / "a")


def test_explicit_port_and_data_survive_restart(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = LocalServer(tmp_path)
    handle = server.up(port)
    assert handle.port == port
    with InfluxClient(Settings(), handle.url) as c:
        c.ensure_database("keep")
        assert c.write("keep", b"m v=1i 1640995200000000000\n", lines=1).ok
    server.down()
    handle = server.up()
    try:
        with InfluxClient(Settings(), handle.url) as c:
            assert c.query_points("SELECT v FROM m", "keep") == [
                {"time": 1640995200000000000, "v": 1}
            ]
    finally:
        server.down()


def test_port_in_use_fails_with_log_tail_and_kills_nothing_else(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalServerError) as info:
            LocalServer(tmp_path).up(port, timeout=10)
    message = str(info.value)
    assert "address already in use" in message
    assert "influxd.log" in message
    assert not (tmp_path / "influxd.json").exists()


def test_stale_record_is_replaced(tmp_path: Path) -> None:
    # a PID that is alive but not influxd (this test process): never returned, never killed
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "influxd.json").write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "url": "http://127.0.0.1:1",
                "port": 1,
                "config": str(tmp_path / "influxdb" / "influxd.conf"),
                "started_at": "2020-01-01T00:00:00+00:00",
                "log": "x",
            }
        )
    )
    server = LocalServer(tmp_path)
    assert server.running() is None
    handle = server.up()
    try:
        assert handle.pid != os.getpid()
        assert ping(handle.url) == 204
    finally:
        server.down()
    assert _pid_alive(os.getpid())


def test_down_never_kills_a_foreign_pid(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "influxd.json").write_text(
            json.dumps(
                {"pid": sleeper.pid, "url": "http://127.0.0.1:1", "port": 1,
                 "config": "/nope/influxd.conf", "started_at": "x", "log": "x"}
            )
        )
        assert LocalServer(tmp_path).down() is False
        assert sleeper.poll() is None
        assert not (tmp_path / "influxd.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_missing_influxd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalServerError, match="apt-get install influxdb"):
        LocalServer(tmp_path).up()


def test_resolve_url(tmp_path: Path) -> None:
    assert resolve_url(Settings(influxdb_url="http://db:8086", state_dir=tmp_path)) == (
        "http://db:8086"
    )
    with pytest.raises(ConfigError, match="onsflux local up"):
        resolve_url(Settings(state_dir=tmp_path))
    handle = start_influxd(tmp_path)
    try:
        assert resolve_url(Settings(state_dir=tmp_path)) == handle.url
    finally:
        stop_influxd(tmp_path)
    with pytest.raises(ConfigError):
        resolve_url(Settings(state_dir=tmp_path))


def test_render_config_is_loopback_only(tmp_path: Path) -> None:
    text = render_config(tmp_path, 1234, 5678)
    assert 'bind-address = "127.0.0.1:5678"' in text
    assert 'bind-address = "127.0.0.1:1234"' in text
    assert ":8086" not in text and ":8088" not in text
