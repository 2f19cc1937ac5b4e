"""Bulk writes over ``http.client`` (``transport._NativePool``) keep the one policy.

Writes leave httpx for plain keep-alive ``http.client`` connections (a third of the CPU
per request), so the retry policy, the breaker, the request shape and the secrecy of
credentials are checked again on that path, against a real HTTP server in this process
(``http.server``) scripted to do what influxd cannot be made to do on demand: answer
503, drop a connection, or close an idle keep-alive connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from onsflux.exceptions import ServerUnavailable
from onsflux.influx.client import InfluxClient
from tests.conftest import fast_settings

pytestmark = pytest.mark.integration

TOKEN = "native-s3cr3t-token"
BODY = b"m,a=1 f=1.5 1600000000000000000\nm,a=2 f=2.5 1600000000000000000"

Action = Callable[[BaseHTTPRequestHandler], None]


def answer(status: int, *, close_after: bool = False, headers: dict[str, str] | None = None,
           text: bytes = b"") -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(text)))
        h.end_headers()
        h.wfile.write(text)
        h.wfile.flush()
        if close_after:  # close the keep-alive connection without saying so
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
    return act


def hang_up(h: BaseHTTPRequestHandler) -> None:
    """Read the request, then drop the connection without any answer."""
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


class Script:
    def __init__(self, *actions: Action) -> None:
        self.actions = list(actions)
        self.seen: list[dict[str, object]] = []
        self.connections: set[int] = set()


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:  # /ping: an InfluxDB 1.x
            self.send_response(204)
            self.send_header("X-Influxdb-Version", "1.6.7")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            url = urlsplit(self.path)
            script.seen.append({"path": url.path, "query": parse_qs(url.query), "body": body,
                                "auth": self.headers.get("Authorization")})
            script.connections.add(self.client_address[1])
            action = script.actions.pop(0) if script.actions else answer(204)
            action(self)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(url: str, tmp_path: Path, **kw: object) -> InfluxClient:
    return InfluxClient(fast_settings(url, tmp_path, influxdb_token=TOKEN, **kw), url)


def test_a_write_is_posted_whole_with_its_parameters_and_auth(
        server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    with client(url, tmp_path) as c:
        outcome = c.write("generation_data", memoryview(BODY), lines=2)
    assert outcome.ok and outcome.attempts == 1 and outcome.written == 2
    [req] = script.seen
    assert req["path"] == "/write" and req["body"] == BODY
    assert req["query"] == {"db": ["generation_data"], "precision": ["ns"]}
    assert req["auth"] == f"Token {TOKEN}"


def test_a_503_and_a_dropped_connection_are_retried(
        server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.actions = [hang_up, answer(503, text=b"busy"), answer(204)]  # hang-up: fresh conn
    with client(url, tmp_path) as c:
        outcome = c.write("db", BODY, lines=2)
    assert outcome.ok and outcome.attempts == 3
    assert [r["body"] for r in script.seen] == [BODY] * 3


def test_an_idle_connection_the_server_closed_is_replaced_without_a_retry(
        server: tuple[str, Script], tmp_path: Path) -> None:
    """The server closes a keep-alive connection after answering (as proxies and idle
    timeouts do): the next write goes out once on a new connection, not as a failed
    attempt with a backoff."""
    url, script = server
    script.actions = [answer(204, close_after=True), answer(204)]
    with client(url, tmp_path) as c:
        first = c.write("db", BODY, lines=2)
        second = c.write("db", BODY, lines=2)
    assert first.attempts == 1 and second.attempts == 1 and second.ok
    assert len(script.seen) == 2 and len(script.connections) == 2


def test_a_partial_write_is_judged_like_any_other(
        server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    error = (b'{"error":"partial write: field type conflict: input field \\"f\\" on '
             b'measurement \\"m\\" is type integer, already exists as type float dropped=1"}')
    script.actions = [answer(400, text=error, headers={"Content-Type": "application/json"})]
    with client(url, tmp_path) as c:
        outcome = c.write("db", BODY, lines=2)
    assert not outcome.ok and outcome.dropped == 1 and outcome.written == 1
    assert len(script.seen) == 1  # a 400 is never retried


def test_an_unreachable_server_is_unavailable_and_the_token_is_never_shown(
        tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    c = InfluxClient(fast_settings(url, tmp_path, influxdb_token=TOKEN), url, server_kind="1.x")
    with c, pytest.raises(ServerUnavailable) as err:
        c.write("db", BODY, lines=2)
    assert err.value.retryable and "after 3 attempt(s)" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)
