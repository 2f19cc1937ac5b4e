"""The API's front door over real HTTP (uvicorn on a free port), with raw sockets where
the framing matters: chunked bodies without ``Content-Length``, bodies that never end.

No InfluxDB is needed: the guard answers before any query runs. Where a service is
needed, InfluxDB is a closed port, so its address must never reach a response body.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from pathlib import Path

import httpx
import pytest

from onsflux.api.app import MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.conftest import fast_settings
from tests.integration.test_api import Server
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration

KEY = "guard-key-4242"


@pytest.fixture
def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def server(tmp_path: Path, dead_url: str):  # type: ignore[no-untyped-def]
    with Server(fast_settings(dead_url, tmp_path, api_keys=KEY)) as s:
        yield s


def _open(server: Server, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode())
    return sock


def _response(sock: socket.socket, wait: float) -> bytes:
    """What the server sent within ``wait`` seconds (empty if it has not answered)."""
    deadline = time.monotonic() + wait
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
    return data


def _chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def test_auth_is_checked_before_the_body_is_read(server: Server) -> None:
    """A chunked body that never ends, no key: 401 at once (the old app waited for it)."""
    sock = _open(server, "POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n")
    try:
        sock.sendall(_chunk(b'{"question": "' + b"x" * 1000))
        reply = _response(sock, wait=5)  # the rest of the (60 MB) body is never sent
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert b'"kind":"unauthorized"' in reply and b"x-request-id" in reply.lower()
    assert b"Authorization: Bearer" in reply  # the hint survives redaction


def test_chunked_body_over_the_limit_gets_413_while_streaming(server: Server) -> None:
    """With a valid key and no Content-Length: 413 as soon as the limit passes."""
    sock = _open(server, f"POST /query HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent, reply = 0, b""
    try:
        while sent < 4 * MAX_BODY_BYTES and not reply:
            sock.sendall(_chunk(b"y" * 1024))
            sent += 1024
            reply = _response(sock, wait=0.02)
        reply = reply or _response(sock, wait=5)  # never terminated: only a guard answers
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"kind":"too_large"' in reply


def test_declared_length_over_the_limit_gets_413(server: Server) -> None:
    r = httpx.post(f"{server.url}/query", content=b"z" * (MAX_BODY_BYTES + 1),
                   headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["kind"] == "too_large"


@pytest.mark.parametrize("body", [
    b'{"question": "carga \xff\xfe no Sul"}',                                  # invalid UTF-8
    b'{"question": ' + b"[" * (MAX_JSON_DEPTH * 4) + b"]" * (MAX_JSON_DEPTH * 4) + b"}",
    b'{"q": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2000 + b"}",               # recursion bomb
])
def test_undecodable_or_deeply_nested_bodies_get_the_documented_422(server: Server,
                                                                     body: bytes) -> None:
    r = httpx.post(f"{server.url}/query", content=body,
                   headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["kind"] == "invalid_request" and error["message"].startswith("body")
    assert "detail" not in r.json()


def test_health_without_a_key_says_only_ok_or_degraded(server: Server, dead_url: str) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.json() == {"status": "degraded"}  # InfluxDB is down and there is no fallback
    assert r.status_code == 503
    full = httpx.get(f"{server.url}/health", headers={"X-API-Key": KEY})
    body = full.json()
    assert body["checks"]["influxdb"]["ok"] is False and body["checks"]["state_store"]["ok"]
    assert dead_url.split("//")[1] not in full.text  # not even with a key


def test_public_and_protected_endpoints(server: Server) -> None:
    for path in ("/", "/metrics", "/openapi.json"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path
    for method, path in (("POST", "/query"), ("GET", "/anything-else")):
        r = httpx.request(method, f"{server.url}{path}")
        assert r.status_code == 401, path
        assert r.json()["error"]["kind"] == "unauthorized"
    r = httpx.get(f"{server.url}/nope", headers={"X-API-Key": KEY})
    assert r.status_code == 404 and r.json()["error"]["kind"] == "not_found"


def test_503_names_a_request_id_and_no_internal_address(
        server: Server, dead_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="onsflux.api"):
        r = httpx.post(f"{server.url}/query", headers={"X-API-Key": KEY},
                       json={"question": "Qual foi o pico de carga no Sul ontem?"})
    assert r.status_code == 503
    error = r.json()["error"]
    host = dead_url.split("//")[1]
    assert host not in r.text and "127.0.0.1" not in r.text
    assert "refused" not in r.text.lower() and "errno" not in r.text.lower()
    assert "SELECT" not in r.text
    rid = error["request_id"]
    assert rid in error["message"] and r.headers["x-request-id"] == rid
    # the details are in the log, under the same id
    logged = [rec.getMessage() for rec in caplog.records if rid in rec.getMessage()]
    assert logged and any(host in m for m in logged), caplog.text


def test_broken_state_store_is_degraded_not_a_crash(tmp_path: Path, dead_url: str) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    with Server(fast_settings(dead_url, a_file, api_keys=KEY)) as s:
        r = httpx.get(f"{s.url}/health")
        assert (r.status_code, r.json()) == (503, {"status": "degraded"})
        q = httpx.post(f"{s.url}/query", headers={"X-API-Key": KEY},
                       json={"question": "Qual foi o pico de carga no Sul ontem?"})
        error = q.json()["error"]
        assert q.status_code == 500 and error["kind"] == "state_store"
        assert str(a_file) not in q.text and error["request_id"] in error["message"]
