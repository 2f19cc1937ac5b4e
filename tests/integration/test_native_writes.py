"""Bulk writes over ``http.client`` (``transport._NativePool``) keep the one policy.

Writes leave httpx for plain keep-alive ``http.client`` connections (a third of the CPU
per request), so the retry policy, the breaker, the request shape and the secrecy of
credentials are checked again on that path, against a real HTTP server in this process
(``http.server``) scripted to do what influxd cannot be made to do on demand: answer
503, drop a connection, or close an idle keep-alive connection.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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


@contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, Script]]:
    """The scripted server on a free port (HTTPS with ``tls``); its URL and script."""
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
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    with serve() as served:
        yield served


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


def test_writes_from_many_short_lived_thread_pools_share_a_few_connections(
        server: tuple[str, Script], tmp_path: Path) -> None:
    """The ingest opens a thread pool per object: connections must outlive those threads
    and be reused, not pile up one per thread until the process runs out of file
    descriptors (a folder of a thousand files failed with "Too many open files")."""
    url, script = server
    with client(url, tmp_path, write_workers=2) as c:
        for _ in range(10):  # ten objects, each its own pool of two writer threads
            with ThreadPoolExecutor(max_workers=2) as pool:
                outcomes = list(pool.map(lambda _: c.write("db", BODY, lines=2), range(4)))
            assert all(o.ok for o in outcomes)
    assert len(script.seen) == 40
    assert len(script.connections) <= 4  # at most write_workers + 2 kept, then reused


def test_a_path_prefix_is_sent_as_written(tmp_path: Path) -> None:
    """InfluxDB behind a reverse proxy under a path: writes go under it, percent-encoding
    kept (a decoded space or accent is not a valid request target)."""
    with serve() as (url, script):
        base = f"{url}/influx%20db/caf%C3%A9/"
        with client(base, tmp_path) as c:
            outcome = c.write("db", memoryview(BODY), lines=2)
    assert outcome.ok and outcome.attempts == 1
    [req] = script.seen
    assert req["path"] == "/influx%20db/caf%C3%A9/write" and req["body"] == BODY


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A test certificate authority and a server certificate for 127.0.0.1 it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onsflux test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True,
              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem))
    (folder / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def _server_tls(tls_files: tuple[Path, Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files[1], tls_files[2])
    return ctx


def test_https_writes_trust_the_authorities_queries_trust(
        tls_files: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Queries (httpx) trust certifi's bundle; bulk writes (``http.client``) must trust the
    same one, not the system's: here the bundle holds only the test authority, so the
    ping and the write both succeed over verified TLS, with the token sent."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(tls_files[0]))
    with serve(_server_tls(tls_files)) as (url, script), client(url, tmp_path) as c:
        assert url.startswith("https://")
        outcome = c.write("db", memoryview(BODY), lines=2)
        assert c.kind == "1.x"  # the ping went over httpx and the same TLS
    assert outcome.ok and outcome.attempts == 1
    [req] = script.seen
    assert req["body"] == BODY and req["auth"] == f"Token {TOKEN}"


def test_an_untrusted_certificate_is_refused_on_the_write_path(
        tls_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    with serve(_server_tls(tls_files)) as (url, script):
        c = InfluxClient(fast_settings(url, tmp_path, influxdb_token=TOKEN), url,
                         server_kind="1.x")  # no ping: straight to the native write
        with c, pytest.raises(ServerUnavailable) as err:
            c.write("db", BODY, lines=2)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    assert script.seen == [] and TOKEN not in str(err.value)


def test_url_credentials_are_basic_auth_and_never_shown(tmp_path: Path) -> None:
    """``http://user:password@host`` on the native path: basic auth with the decoded
    credentials; a 401, a 404 and a 413 are refusals (not retried) whose messages name the
    fix and never the password, even when the server echoes it back."""
    from onsflux.exceptions import WriteRejected

    password = "p@ss w0rd"
    with serve() as (url, script):
        base = url.replace("http://", "http://ons%20user:p%40ss%20w0rd@")
        echo = f'{{"error":"bad credentials ons user:{password}"}}'.encode()
        script.actions = [answer(401, text=echo), answer(404, text=echo),
                          answer(413, text=echo)]
        c = InfluxClient(fast_settings(base, tmp_path), base, server_kind="1.x")
        messages = []
        with c:
            for _ in range(3):
                with pytest.raises(WriteRejected) as err:
                    c.write("db", BODY, lines=2)
                messages.append((err.value.status, str(err.value), err.value.body))
    assert len(script.seen) == 3  # none retried
    expected = "Basic " + base64.b64encode(f"ons user:{password}".encode()).decode()
    assert {r["auth"] for r in script.seen} == {expected}
    assert [m[0] for m in messages] == [401, 404, 413]
    assert "authentication failed" in messages[0][1]
    assert "not found" in messages[1][1] and "BATCH_BYTES" in messages[2][1]
    for _, text, body in messages:
        assert password not in text and password not in (body or "")


def test_an_idle_tls_connection_the_server_closed_is_replaced_without_a_retry(
        tls_files: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTPS the closed keep-alive connection shows as a TLS EOF, not a reset: still
    one immediate try on a new connection, not a failed attempt with a backoff (behind a
    TLS load balancer with an idle timeout, every write after a pause paid one)."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(tls_files[0]))
    with serve(_server_tls(tls_files)) as (url, script), client(url, tmp_path) as c:
        script.actions = [answer(204, close_after=True), answer(204)]
        first = c.write("db", BODY, lines=2)
        second = c.write("db", BODY, lines=2)
    assert first.attempts == 1 and second.attempts == 1 and second.ok
    assert len(script.seen) == 2 and len(script.connections) == 2
