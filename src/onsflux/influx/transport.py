"""The one HTTP transport to InfluxDB: pool, auth, retry (``onsflux.retry``) and breaker.

Like httpx's ``_transports/``, this module alone sends requests; ``write``, ``query``
and ``admin`` build them and judge the answers. Every request goes through
:meth:`Transport.request`, which applies one policy to writes, queries and admin calls
(all idempotent: InfluxDB overwrites a point with the same series and timestamp):

- retried: connection errors, timeouts (``httpx.TransportError``), 5xx and 429, at most
  ``max_attempts`` attempts per call, sleeping ``Retry-After`` when the server sends it
  (seconds or an HTTP date), else exponential backoff with full jitter:
  ``uniform(0, min(backoff_max_seconds, backoff_base_seconds * 2**(attempt-1)))``. A
  ``Retry-After`` longer than ``max(backoff_max_seconds, 60)`` is not slept: the call gives
  up at once with ``ServerUnavailable(retry_after=...)`` so the caller can reschedule;
- never retried: every other 4xx (the caller raises ``WriteRejected`` / ``QueryError``);
- after the last attempt: ``ServerUnavailable``, chained to the httpx error;
- circuit breaker: each *call* that ends in ``ServerUnavailable`` (after its retries)
  counts as one failure; ``breaker_failures`` consecutive failed calls open it; while open
  every call raises ``CircuitOpen`` at once; after ``breaker_reset_seconds`` one trial call
  (a single attempt, no retries) goes through: success closes it, failure re-opens it.
  Any answer from the server other than 5xx/429 (including a 4xx) is a success.

Secrets (token, password) go only into the ``Authorization`` header, never in URLs,
logs, exception messages or ``repr``; :meth:`Transport.scrub` removes any a server echoes.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import ipaddress
import json
import logging
import math
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import urlencode

import httpx

from ..exceptions import CircuitOpen, ConfigError, ServerUnavailable
from ..redact import redact
from ..retry import RetryPolicy
from ..settings import Settings

log = logging.getLogger(__name__)

ServerKind = Literal["1.x", "2.x", "3.x"]
BreakerState = Literal["closed", "open", "half_open"]

MAX_MESSAGE_CHARS = 400
AUTH_HINT = "check INFLUXDB_TOKEN or INFLUXDB_USERNAME/PASSWORD"


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failed calls -> half-open after
    ``reset_seconds`` (one trial call) -> closed on success, open again on failure.

    Pure logic with an injectable monotonic ``clock``; thread safe.
    """

    def __init__(
        self, failures: int, reset_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be >= 1")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The state, moving open -> half_open when the reset time has passed."""
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.reset_seconds:
                self._state = "half_open"
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when not open)."""
        with self._lock:
            if self._state != "open":
                return 0.0
            return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

    def acquire(self) -> Literal["normal", "trial"] | None:
        """May a call go ahead? ``"normal"``, ``"trial"`` (half-open probe) or ``None``."""
        with self._lock:
            if self._state == "open":
                if self._clock() - self._opened_at < self.reset_seconds:
                    return None
                self._state = "half_open"
            if self._state == "half_open":
                if self._trial_in_flight:
                    return None
                self._trial_in_flight = True
                return "trial"
            return "normal"

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._consecutive = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._state == "half_open" or self._consecutive >= self.failures:
                self._state = "open"
                self._opened_at = self._clock()
            self._trial_in_flight = False

    def abandon(self) -> None:
        """A trial call ended without a verdict (e.g. interrupted): let another one try."""
        with self._lock:
            self._trial_in_flight = False


class PersistedBreaker(CircuitBreaker):
    """A breaker whose *open* state outlives the process: written to a small JSON file
    in the state folder, so one ``onsflux ask`` after another (each its own process), or
    Lambda instances on a shared disk, fail fast to the fallback while InfluxDB is down
    instead of each paying the retries again. The server is named by a hash of its URL
    (no address or credentials in the file); a file that cannot be read or written only
    loses that sharing.
    """

    def __init__(self, failures: int, reset_seconds: float, path: Path, url: str) -> None:
        super().__init__(failures, reset_seconds)
        self._path = path
        self._key = hashlib.sha256(url.encode()).hexdigest()[:32]
        entry = self._load().get(self._key)
        self._stored = entry is not None  # the file has an entry to clear on success
        if isinstance(entry, dict):
            now = time.time()
            remaining = float(entry.get("open_until") or 0) - now
            if remaining > 0:
                self._state = "open"
                self._consecutive = failures
                self._opened_at = self._clock() - max(0.0, reset_seconds - remaining)
            elif now - float(entry.get("at") or 0) < reset_seconds:
                # recent failed calls of other processes count towards opening it
                self._consecutive = min(int(entry.get("failures") or 0), failures)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, open_until: float | None, *, clear: bool = False) -> None:
        data = self._load()
        if clear:
            if self._key not in data:
                return
            data.pop(self._key)
        else:
            data[self._key] = {"failures": self._consecutive, "at": time.time(),
                               "open_until": open_until or 0}
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self._path)
        except OSError as exc:
            log.debug("breaker state not saved: %s", exc)

    def record_success(self) -> None:
        super().record_success()
        if self._stored:
            self._stored = False
            self._save(None, clear=True)

    def record_failure(self) -> None:
        super().record_failure()
        self._stored = True
        self._save(time.time() + self.reset_seconds if self._state == "open" else None)


_SHARED: dict[tuple[str, int, float, str], CircuitBreaker] = {}
_SHARED_LOCK = threading.Lock()
BREAKER_FILE = "breakers.json"


def shared_breaker(settings: Settings, url: str) -> CircuitBreaker:
    """The breaker for ``url`` (and the settings' thresholds), one per process and
    persisted under the state folder (:class:`PersistedBreaker`).

    Every client built for the same server shares it, so the answer service, the API and
    each of their requests see one state: with InfluxDB down, the calls after the first
    ``breaker_failures`` fail at once (to the fallback) instead of each paying the retries.
    """
    path = Path(settings.state_dir) / BREAKER_FILE
    key = (url, settings.breaker_failures, settings.breaker_reset_seconds, str(path))
    with _SHARED_LOCK:
        breaker = _SHARED.get(key)
        if breaker is None:
            breaker = _SHARED[key] = PersistedBreaker(
                settings.breaker_failures, settings.breaker_reset_seconds, path, url)
        return breaker


def forget_shared_breakers() -> None:
    """Start every server's shared breaker afresh (a new process's view; benchmarks)."""
    with _SHARED_LOCK:
        _SHARED.clear()


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def display_url(url: str) -> str:
    """``url`` without its userinfo, for messages."""
    try:
        return str(httpx.URL(url).copy_with(username=None, password=None))
    except Exception:  # noqa: BLE001 - only for messages
        return "<invalid url>"


class TransportOptions(TypedDict, total=False):
    """What tests (and callers sharing a breaker) may inject into a ``Transport``."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: Callable[[], float]
    transport: httpx.BaseTransport | None
    breaker: CircuitBreaker | None


class Transport:
    """One InfluxDB server over one ``httpx.Client`` (keep-alive pool sized for
    ``settings.write_workers`` threads; safe to use from many threads).

    ``kind`` is what the server turned out to be (set by the client after ``/ping``); it
    only chooses between basic and token auth on 1.x.
    """

    def __init__(
        self,
        settings: Settings,
        url: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError(f"invalid InfluxDB URL {display_url(url)!r}: use http(s)://host:port")
        # userinfo in the URL is taken as basic-auth credentials and never displayed
        self._url_user = parsed.username or None
        self._url_password = parsed.password or None
        self.url = str(parsed.copy_with(username=None, password=None)).rstrip("/")
        self.host = parsed.host
        self.retry = RetryPolicy.from_settings(settings, sleep=sleep, rng=rng)
        self.breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_seconds, clock=clock
        )
        self.kind: ServerKind | None = None
        #: bulk writes go over plain keep-alive ``http.client`` connections, a pool shared
        #: by every thread (``_NativePool``), unless a test injected an httpx transport
        pool = settings.write_workers + 2
        # one TLS context (certifi's authorities, as httpx's default) for both clients
        context = (httpx.create_ssl_context(trust_env=False)
                   if parsed.scheme == "https" and transport is None else None)
        self._native = (_NativePool(parsed, settings.timeout_seconds, pool, context)
                        if transport is None else None)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            transport=transport,
            verify=context if context is not None else True,
            headers={"User-Agent": "onsflux"},
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()
        if self._native is not None:
            self._native.close()

    # ------------------------------------------------------------------ secrets

    def scrub(self, text: str) -> str:
        """``text`` with every credential form and any secret we hold replaced by ``***``
        (servers and proxies may echo them): ``onsflux.redact``, the one redaction."""
        s = self.settings
        return redact(text, (
            s.influxdb_token.get_secret_value() if s.influxdb_token else None,
            s.influxdb_password.get_secret_value() if s.influxdb_password else None,
            self._url_password,
        ))

    def brief(self, text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
        """A server's text, scrubbed and cut for a message."""
        return short(self.scrub(text), limit)

    def auth_mode(self) -> Literal["token", "basic", "none"]:
        s = self.settings
        has_basic = bool(s.influxdb_username or self._url_user)
        has_token = s.influxdb_token is not None
        if self.kind == "1.x" and has_basic:
            return "basic"
        if has_token:
            return "token"
        return "basic" if has_basic else "none"

    def _auth_headers(self) -> dict[str, str]:
        mode = self.auth_mode()
        s = self.settings
        if mode == "token" and s.influxdb_token is not None:
            return {"Authorization": f"Token {s.influxdb_token.get_secret_value()}"}
        if mode == "basic":
            user = s.influxdb_username or self._url_user or ""
            if s.influxdb_password is not None:
                password = s.influxdb_password.get_secret_value()
            else:
                password = self._url_password or ""
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            return {"Authorization": f"Basic {token}"}
        return {}

    # ------------------------------------------------------------------ sending

    def _unavailable(self, what: str, attempt: int, problem: str, status: int | None,
                     retry_after: float | None) -> ServerUnavailable:
        hint = (f"; server asks to retry after {retry_after:.0f}s"
                if self.retry.too_long(retry_after) else "")
        return ServerUnavailable(
            f"{what}: InfluxDB at {self.url} unavailable after {attempt} attempt(s): "
            f"{problem}{hint}",
            status=status,
            retry_after=retry_after,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        content: bytes | memoryview | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        bulk: bool = False,
    ) -> tuple[httpx.Response, int]:
        """Send with the retry policy and the breaker; return (response, attempts).

        Returns any non-retryable response (2xx, 3xx, 4xx but 429) for the caller to judge.
        ``bulk``: a large ``content`` body (a write): sent over ``http.client`` instead of
        httpx, which costs the client about three times the CPU per request; same policy.
        """
        ticket = self.breaker.acquire()
        if ticket is None:
            raise CircuitOpen(
                f"circuit breaker open for {self.url} after "
                f"{self.breaker.consecutive_failures} failed calls; "
                f"next trial in {self.breaker.retry_in():.1f}s"
            )
        all_headers = {**self._auth_headers(), **(headers or {})}

        native = self._native if bulk and content is not None else None

        def once(attempt: int) -> tuple[httpx.Response, int]:
            try:
                if native is not None:
                    response = native.request(method, path, params or {}, content or b"",
                                              all_headers)
                else:
                    response = self._http.request(
                        method, path, params=params,
                        content=bytes(content) if isinstance(content, memoryview) else content,
                        data=data,
                        json=json_body, headers=all_headers,
                    )
            except (httpx.TransportError, OSError, http.client.HTTPException) as exc:
                # connect/read/write errors and timeouts, of either client
                problem = f"{type(exc).__name__}: {self.brief(str(exc), 200) or 'no detail'}"
                raise self._unavailable(what, attempt, problem, None, None) from exc
            status = response.status_code
            if status != 429 and status < 500:
                return response, attempt
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            problem = f"HTTP {status}: {self.brief(response.text, 200)}"
            cause = httpx.HTTPStatusError(problem, request=response.request, response=response)
            response.close()
            raise self._unavailable(what, attempt, problem, status, retry_after) from cause

        verdict = False
        try:
            result = self.retry.call(once, what=what,
                                     max_attempts=1 if ticket == "trial" else None)
        except ServerUnavailable:
            self.breaker.record_failure()
            verdict = True
            raise
        else:
            # any answer but 5xx/429 (a 4xx included) shows the server is there
            self.breaker.record_success()
            verdict = True
            return result
        finally:
            if not verdict:
                self.breaker.abandon()


#: what sending on a keep-alive connection the server (or a proxy) closed while idle
#: raises: a reset or EOF, or over TLS an EOF of the TLS layer
_STALE: tuple[type[BaseException], ...] = (
    http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
    ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError,
)


class _NativePool:
    """Keep-alive ``http.client`` connections to one server, shared by every thread.

    Why: a 5,000-line write through httpx costs the client about 3 ms of CPU (its
    request model, h11 state machine and stream wrappers); ``http.client`` sends the same
    body for about a third of that, and writes are what an ingest Lambda is billed for.
    Used for bulk writes only; queries and admin calls stay on httpx. A request takes an
    idle connection (or opens one) and gives it back when the answer was read whole, so
    the pool holds at most ``size`` idle sockets however many thread pools come and go
    (one per ingested object); a connection that failed is closed, so a retry always
    starts on a fresh one. No proxies (like the httpx client, which does not trust the
    environment); TLS with the httpx client's own context, so writes and queries trust
    the same certificate authorities.
    """

    def __init__(self, url: httpx.URL, timeout: float, size: int,
                 context: ssl.SSLContext | None) -> None:
        self._scheme = url.scheme
        self._host = url.host
        self._port = url.port
        # the path as it was written (percent-encoded): ``url.path`` is decoded, and a
        # space or a non-ASCII letter is not a valid request target
        self._prefix = url.raw_path.split(b"?", 1)[0].decode("ascii").rstrip("/")
        self._timeout = timeout
        self._size = size
        self._context = context
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._base = str(url.copy_with(username=None, password=None, path="/", query=None,
                                       fragment=None)).rstrip("/")

    def _new(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new(), False

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()

    def request(self, method: str, path: str, params: Mapping[str, str], body: bytes | memoryview,
                headers: Mapping[str, str]) -> httpx.Response:
        """Send one request and read the whole answer (as an ``httpx.Response``, so the
        caller judges both clients' answers alike)."""
        target = self._prefix + path + ("?" + urlencode(params) if params else "")
        all_headers = {"User-Agent": "onsflux", **headers}
        conn, reused = self._take()
        try:
            try:
                conn.request(method, target, body=body, headers=all_headers)
                reply = conn.getresponse()
                data = reply.read()
            except _STALE:
                if not reused:
                    raise
                # the server closed an idle keep-alive connection: one immediate try on a
                # new one (what httpx does too), before the retry policy's backoff
                conn.close()
                conn = self._new()
                conn.request(method, target, body=body, headers=all_headers)
                reply = conn.getresponse()
                data = reply.read()
        except BaseException:
            conn.close()
            raise
        if reply.will_close:
            conn.close()
        else:
            self._give(conn)
        return httpx.Response(reply.status, headers=reply.getheaders(), content=data,
                              request=httpx.Request(method, self._base + target))

    def close(self) -> None:
        with self._lock:
            conns, self._idle, self._closed = self._idle, [], True
        for conn in conns:
            conn.close()
