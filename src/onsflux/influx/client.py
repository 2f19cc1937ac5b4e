"""The one HTTP transport to InfluxDB: ping, write, query, databases, deletes.

``InfluxClient`` speaks to 1.x (``/write``, ``/query``), 2.x and 3.x (``/api/v2/write``,
v1-compatible ``/query``) through one ``httpx.Client`` with a keep-alive pool sized for
``settings.write_workers`` threads. It is safe to call ``write()`` from many threads.

Resilience policy (same for writes and queries; both are idempotent -- InfluxDB
overwrites a point with the same series and timestamp):

- retried: connection errors, timeouts (``httpx.TransportError``), 5xx and 429, at most
  ``max_attempts`` attempts per call, sleeping ``Retry-After`` when the server sends it
  (seconds or an HTTP date), else exponential backoff with full jitter:
  ``uniform(0, min(backoff_max_seconds, backoff_base_seconds * 2**(attempt-1)))``. A
  ``Retry-After`` longer than ``max(backoff_max_seconds, 60)`` is not slept: the call gives
  up at once with ``ServerUnavailable(retry_after=...)`` so the caller can reschedule;
- never retried: every other 4xx (``WriteRejected`` / ``QueryError``);
- after the last attempt: ``ServerUnavailable``, chained to the httpx error;
- circuit breaker: each *call* that ends in ``ServerUnavailable`` (after its retries)
  counts as one failure; ``breaker_failures`` consecutive failed calls open it; while open
  every call raises ``CircuitOpen`` at once; after ``breaker_reset_seconds`` one trial call
  (a single attempt, no retries) goes through: success closes it, failure re-opens it.
  Any answer from the server other than 5xx/429 (including a 4xx) is a success.

Secrets (token, password) go only into the ``Authorization`` header, never in URLs,
logs, exception messages or ``repr``.
"""

from __future__ import annotations

import base64
import email.utils
import gzip as gzip_lib
import ipaddress
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

import httpx

from .. import catalog
from ..exceptions import (
    CircuitOpen,
    ConfigError,
    QueryError,
    ServerUnavailable,
    WriteRejected,
)
from ..frames import rfc3339
from ..redact import redact
from ..settings import Settings, duration_seconds
from .errors import WriteError, parse_write_response, summarize

log = logging.getLogger(__name__)

ServerKind = Literal["1.x", "2.x", "3.x"]
BreakerState = Literal["closed", "open", "half_open"]

#: the retention policy onsflux creates on 1.x databases
RP_NAME = "onsflux"
_RETRY_AFTER_LIMIT = 60.0
_MAX_MESSAGE_CHARS = 400


# --------------------------------------------------------------------------- InfluxQL


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes (``"`` and ``\\`` escaped)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes (``'`` and ``\\`` escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration as ``SHOW RETENTION POLICIES`` prints it (``61320h0m0s``).

    ``0s`` means infinite on InfluxDB 1.x; returned as ``math.inf``.
    """
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|h|m|s)", text):
        total += float(number) * _GO_DURATION_UNITS[unit]
    return math.inf if total == 0 else total


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ServerInfo:
    """What ``/ping`` says about the server."""

    url: str
    kind: ServerKind
    version: str
    build: str


@dataclass(frozen=True)
class WriteOutcome:
    """The server accepted the write, maybe partly.

    ``status`` is 204/200 for a full write, 400/422 for a partial one; ``errors`` says
    which points were dropped and why (empty when everything was written); ``attempts``
    counts HTTP requests made; ``lines`` is what the caller said the body held.
    """

    status: int
    errors: list[WriteError] = field(default_factory=list)
    attempts: int = 1
    lines: int = 0
    #: the server wrote nothing of this batch (a 400 the caller turned into rejects)
    refused: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def dropped(self) -> int:
        """Points known to be dropped (1.6.7 may drop some silently: see ``errors.py``)."""
        return sum(e.dropped or 0 for e in self.errors)

    @property
    def written(self) -> int:
        return 0 if self.refused else max(self.lines - self.dropped, 0)


@dataclass(frozen=True)
class BucketInfo:
    """What ``ensure_database`` found or made."""

    name: str
    retention_policy: str | None
    retention_seconds: float | None
    created: bool


# --------------------------------------------------------------------------- breaker


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


# --------------------------------------------------------------------------- helpers


def _is_loopback(host: str) -> bool:
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


def _short(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind_of(version: str, build: str) -> ServerKind | None:
    v = version.strip().lstrip("vV")
    if v.startswith("1."):
        return "1.x"
    if v.startswith("2."):
        return "2.x"
    if v.startswith("3.") or build.strip().lower() in {"core", "enterprise"}:
        return "3.x"
    return None


# --------------------------------------------------------------------------- client


class InfluxClient:
    """One InfluxDB server, reached over HTTP (see the module docstring for the policy).

    ``url``: the server (``resolve_url(settings)`` finds it); credentials in it are used
    as basic auth and never shown. ``sleep``, ``clock`` and ``rng`` are injectable for
    tests; ``transport`` replaces the network (``httpx.MockTransport``); ``server_kind``
    skips ``/ping`` detection; ``breaker`` shares one breaker between clients.
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
        server_kind: ServerKind | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError(f"invalid InfluxDB URL {self._display(url)!r}: use http(s)://host:port")
        # userinfo in the URL is taken as basic-auth credentials and never displayed
        self._url_user = parsed.username or None
        self._url_password = parsed.password or None
        self.url = str(parsed.copy_with(username=None, password=None)).rstrip("/")
        self._sleep = sleep
        self._rng = rng
        self.breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_seconds, clock=clock
        )
        self.gzip = settings.gzip == "on" or (
            settings.gzip == "auto" and not _is_loopback(parsed.host)
        )
        pool = settings.write_workers + 2
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            transport=transport,
            headers={"User-Agent": "onsflux"},
            trust_env=False,
        )
        self._info: ServerInfo | None = None
        self._forced_kind = server_kind
        self._info_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _display(url: str) -> str:
        try:
            return str(httpx.URL(url).copy_with(username=None, password=None))
        except Exception:  # noqa: BLE001 - only for messages
            return "<invalid url>"

    def __repr__(self) -> str:
        kind = self._info.kind if self._info else self._forced_kind
        return f"InfluxClient(url={self.url!r}, kind={kind!r}, auth={self._auth_mode()!r})"

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _scrub(self, text: str) -> str:
        """``text`` with every credential form and any secret we hold replaced by ``***``
        (servers and proxies may echo them): ``onsflux.redact``, the one redaction."""
        s = self.settings
        return redact(text, (
            s.influxdb_token.get_secret_value() if s.influxdb_token else None,
            s.influxdb_password.get_secret_value() if s.influxdb_password else None,
            self._url_password,
        ))

    def _brief(self, text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
        return _short(self._scrub(text), limit)

    def _auth_mode(self) -> Literal["token", "basic", "none"]:
        s = self.settings
        has_basic = bool(s.influxdb_username or self._url_user)
        has_token = s.influxdb_token is not None
        kind = self._info.kind if self._info else self._forced_kind
        if kind == "1.x" and has_basic:
            return "basic"
        if has_token:
            return "token"
        return "basic" if has_basic else "none"

    def _auth_headers(self) -> dict[str, str]:
        mode = self._auth_mode()
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

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        ceiling = min(s.backoff_max_seconds, s.backoff_base_seconds * (2 ** (attempt - 1)))
        return float(self._rng() * ceiling)

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, int]:
        """Send with the retry and breaker policy; return (response, attempts).

        Returns any non-retryable response (2xx, 3xx, 4xx but 429) for the caller to judge.
        """
        ticket = self.breaker.acquire()
        if ticket is None:
            raise CircuitOpen(
                f"circuit breaker open for {self.url} after "
                f"{self.breaker.consecutive_failures} failed calls; "
                f"next trial in {self.breaker.retry_in():.1f}s"
            )
        max_attempts = 1 if ticket == "trial" else self.settings.max_attempts
        all_headers = {**self._auth_headers(), **(headers or {})}
        attempt = 0
        verdict = False
        try:
            while True:
                attempt += 1
                cause: BaseException | None = None
                retry_after: float | None = None
                status: int | None = None
                try:
                    response = self._http.request(
                        method,
                        path,
                        params=params,
                        content=content,
                        data=data,
                        json=json_body,
                        headers=all_headers,
                    )
                except httpx.TransportError as exc:  # connect/read/write errors and timeouts
                    cause = exc
                    problem = f"{type(exc).__name__}: {self._brief(str(exc), 200) or 'no detail'}"
                else:
                    status = response.status_code
                    if status != 429 and status < 500:
                        self.breaker.record_success()
                        verdict = True
                        return response, attempt
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    problem = f"HTTP {status}: {self._brief(response.text, 200)}"
                    cause = httpx.HTTPStatusError(
                        problem, request=response.request, response=response
                    )
                    response.close()

                limit = max(self.settings.backoff_max_seconds, _RETRY_AFTER_LIMIT)
                too_long = retry_after is not None and retry_after > limit
                if attempt >= max_attempts or too_long:
                    self.breaker.record_failure()
                    verdict = True
                    hint = f"; server asks to retry after {retry_after:.0f}s" if too_long else ""
                    raise ServerUnavailable(
                        f"{what}: InfluxDB at {self.url} unavailable after {attempt} "
                        f"attempt(s): {problem}{hint}",
                        status=status,
                        retry_after=retry_after,
                    ) from cause
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                    what, attempt, max_attempts, problem, delay,
                )
                self._sleep(delay)
        finally:
            if not verdict:
                self.breaker.abandon()

    # ------------------------------------------------------------------ ping

    def ping(self, *, refresh: bool = False) -> ServerInfo:
        """Detect the server from ``/ping`` headers (cached; ``refresh`` asks again)."""
        with self._info_lock:
            if self._info is not None and not refresh:
                return self._info
            response, _ = self._request("GET", "/ping", what="ping")
            if response.status_code in (401, 403):
                raise ConfigError(
                    f"InfluxDB at {self.url} refused the credentials (HTTP "
                    f"{response.status_code}): check INFLUXDB_TOKEN or INFLUXDB_USERNAME/PASSWORD"
                )
            if response.status_code not in (200, 204):
                raise ConfigError(
                    f"{self.url}/ping answered HTTP {response.status_code}: is this InfluxDB?"
                )
            version = response.headers.get("X-Influxdb-Version", "")
            build = response.headers.get("X-Influxdb-Build", "")
            if not version and response.content:
                try:  # InfluxDB 3 also answers with a JSON body
                    doc = response.json()
                    version = str(doc.get("version", "")) if isinstance(doc, dict) else ""
                except ValueError:
                    pass
            kind = self._forced_kind or _kind_of(version, build)
            if kind is None:
                kind = "2.x" if self.settings.influxdb_token is not None else "1.x"
                log.warning(
                    "%s did not say its version (%r); assuming InfluxDB %s", self.url, version, kind
                )
            self._info = ServerInfo(
                url=self.url, kind=kind, version=version.lstrip("vV"), build=build
            )
            return self._info

    @property
    def kind(self) -> ServerKind:
        if self._forced_kind is not None:
            return self._forced_kind
        return self.ping().kind

    # ------------------------------------------------------------------ write

    def write(self, bucket: str, body: bytes, *, lines: int) -> WriteOutcome:
        """Write line protocol (ns precision) to ``bucket`` (the database on 1.x).

        Returns a ``WriteOutcome``; a *partial* write (some points dropped, the others
        stored) does not raise: its ``errors`` say what was dropped. Raises
        ``WriteRejected`` when the server refused the request or wrote nothing (a body
        whose every line is unparseable, a type conflict on every line, 401/403, 404
        database not found, 413 body too large); ``errors.parse_write_errors(exc.body)``
        gives the per-line detail. Raises ``ServerUnavailable`` / ``CircuitOpen`` as the
        module docstring says.
        """
        if self.kind == "1.x":
            path = "/write"
            params = {"db": bucket, "precision": "ns"}
        else:
            path = "/api/v2/write"
            params = {"org": self.settings.influxdb_org, "bucket": bucket, "precision": "ns"}
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        payload = body
        if self.gzip and body:
            payload = gzip_lib.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        what = f"write {lines} line(s) to {bucket!r}"
        response, attempts = self._request(
            "POST", path, what=what, params=params, content=payload, headers=headers
        )
        status = response.status_code
        if status in (200, 204):
            return WriteOutcome(status=status, errors=[], attempts=attempts, lines=lines)
        text = response.text
        if status in (400, 422):
            report = parse_write_response(text)
            everything = lines > 0 and report.dropped_total >= lines
            nothing_written = report.written == 0 or everything
            if report.partial and report.errors and not nothing_written:
                log.warning(
                    "%s: partial write, %d point(s) dropped: %s",
                    what, report.dropped_total, self._scrub(summarize(report.errors)),
                )
                return WriteOutcome(
                    status=status, errors=report.errors, attempts=attempts, lines=lines
                )
            detail = self._scrub(summarize(report.errors)) if report.errors else self._brief(text)
            raise WriteRejected(
                f"{what}: InfluxDB rejected the write (HTTP {status}), nothing written: "
                f"{detail}",
                status=status,
                body=self._scrub(text),
            )
        if status in (401, 403):
            message = "authentication failed: check INFLUXDB_TOKEN or INFLUXDB_USERNAME/PASSWORD"
        elif status == 404:
            message = (
                f"database/bucket {bucket!r} not found ({self._brief(text, 200)}): "
                "create it first (ensure_database)"
            )
        elif status == 413:
            message = "request body too large: lower ONSFLUX_BATCH_BYTES / batch_lines"
        else:
            message = self._brief(text) or "no detail"
        raise WriteRejected(
            f"{what}: HTTP {status}: {message}", status=status, body=self._scrub(text)
        )

    # ------------------------------------------------------------------ query

    def query(
        self, q: str, *, db: str | None = None, params: Mapping[str, str] | None = None,
        method: Literal["GET", "POST"] = "POST",
    ) -> list[dict[str, Any]]:
        """Run InfluxQL through ``/query`` (``epoch=ns``) and return its ``results``.

        Times come back as integer nanoseconds. Raises ``QueryError`` when the server
        refuses the query or any statement's result carries an ``error``. ``GET`` is the
        read verb the query engine uses for SELECT/SHOW (POST is for statements that
        change things: databases, retention policies, deletes).
        """
        form = {"q": q}
        if db is not None:
            form["db"] = db
        query_params = {"epoch": "ns", **(params or {})}
        what = f"query {self._brief(q, 120)!r}"
        if method == "GET":
            response, _ = self._request("GET", "/query", what=what,
                                        params={**query_params, **form})
        else:
            response, _ = self._request(
                "POST", "/query", what=what, params=query_params, data=form
            )
        text = response.text
        try:
            doc = response.json() if text.strip() else {}
        except ValueError:
            doc = None
        if response.status_code >= 400 or not isinstance(doc, dict):
            detail = doc.get("error") if isinstance(doc, dict) else None
            if response.status_code in (401, 403):
                detail = "authentication failed: check INFLUXDB_TOKEN or INFLUXDB_USERNAME/PASSWORD"
            raise QueryError(
                f"{what}: HTTP {response.status_code}: {self._brief(str(detail or text))}",
                status=response.status_code,
                body=self._scrub(text),
            )
        if "error" in doc:
            raise QueryError(
                f"{what}: {doc['error']}", status=response.status_code, body=self._scrub(text)
            )
        results = doc.get("results") or []
        for result in results:
            if isinstance(result, dict) and result.get("error"):
                raise QueryError(
                    f"{what}: statement {result.get('statement_id', '?')}: {result['error']}",
                    status=response.status_code,
                    body=self._scrub(text),
                )
        return list(results)

    def query_flux(self, flux: str, *, what: str = "flux query") -> str:
        """Run Flux through ``/api/v2/query`` (2.x) and return the annotated CSV."""
        body = {"query": flux, "type": "flux",
                "dialect": {"header": True, "delimiter": ",",
                            "annotations": ["datatype", "group", "default"]}}
        response, _ = self._request(
            "POST", "/api/v2/query", what=what,
            params={"org": self.settings.influxdb_org}, json_body=body,
            headers={"Accept": "application/csv", "Content-Type": "application/json"},
        )
        if response.status_code >= 400:
            raise QueryError(
                f"{what}: HTTP {response.status_code}: {self._brief(response.text)}",
                status=response.status_code, body=self._scrub(response.text),
            )
        return response.text

    def query_points(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """``query`` flattened: one dict per row, ``{time, <tags>..., <columns>...}``."""
        rows: list[dict[str, Any]] = []
        for result in self.query(q, db=db):
            for series in result.get("series") or []:
                tags = series.get("tags") or {}
                columns = series.get("columns") or []
                for values in series.get("values") or []:
                    row: dict[str, Any] = dict(tags)
                    row.update(zip(columns, values, strict=False))
                    rows.append(row)
        return rows

    # ------------------------------------------------------------------ databases

    def ensure_database(self, bucket: str, retention: str = catalog.RETENTION) -> BucketInfo:
        """Make sure ``bucket`` exists with ``retention``; safe to call any number of times.

        1.x: a missing database is created with a default retention policy ``onsflux``
        of ``retention``. An existing one is left alone when its default policy already
        has that duration; if its ``onsflux`` policy differs it is altered (and made
        default) only when that *lengthens* retention -- shortening would delete data, so
        it raises ``ConfigError``. A database whose default policy is someone else's
        (e.g. ``autogen``) is never changed, only logged.
        2.x: the bucket is created in ``influxdb_org`` with that retention when missing.
        3.x: the database is created when missing (retention left to the server).
        """
        seconds = duration_seconds(retention)
        want = math.inf if seconds == 0 else float(seconds)
        kind = self.kind
        if kind == "1.x":
            return self._ensure_database_v1(bucket, retention, want)
        if kind == "2.x":
            return self._ensure_bucket_v2(bucket, seconds)
        return self._ensure_database_v3(bucket)

    def retention_policies(self, bucket: str) -> list[dict[str, Any]]:
        """``SHOW RETENTION POLICIES`` as rows (1.x)."""
        return self.query_points(f"SHOW RETENTION POLICIES ON {quote_ident(bucket)}")

    def _ensure_database_v1(self, bucket: str, retention: str, want: float) -> BucketInfo:
        db = quote_ident(bucket)
        rp = quote_ident(RP_NAME)
        try:
            policies = self.retention_policies(bucket)
        except QueryError as exc:
            if "database not found" not in str(exc):
                raise
            self.query(
                f"CREATE DATABASE {db} WITH DURATION {retention} REPLICATION 1 NAME {rp}"
            )
            return BucketInfo(bucket, RP_NAME, want, created=True)
        default = next((p for p in policies if p.get("default")), None)
        ours = next((p for p in policies if p.get("name") == RP_NAME), None)
        if default is not None and go_duration_seconds(str(default["duration"])) == want:
            return BucketInfo(bucket, str(default["name"]), want, created=False)
        if ours is None:
            if default is not None:
                log.warning(
                    "database %r: default retention policy %r has duration %s, not %s; "
                    "leaving it as it is",
                    bucket, default.get("name"), default.get("duration"), retention,
                )
                return BucketInfo(
                    bucket, str(default["name"]),
                    go_duration_seconds(str(default["duration"])), created=False,
                )
            self.query(
                f"CREATE RETENTION POLICY {rp} ON {db} DURATION {retention} REPLICATION 1 DEFAULT"
            )
            return BucketInfo(bucket, RP_NAME, want, created=False)
        have = go_duration_seconds(str(ours["duration"]))
        if want < have:
            raise ConfigError(
                f"database {bucket!r}: retention policy {RP_NAME!r} keeps {ours['duration']}, "
                f"longer than the requested {retention}; shortening it would delete data, "
                "so onsflux will not do it (ALTER RETENTION POLICY by hand if you mean it)"
            )
        self.query(f"ALTER RETENTION POLICY {rp} ON {db} DURATION {retention} DEFAULT")
        return BucketInfo(bucket, RP_NAME, want, created=False)

    def _org_id_v2(self) -> str:
        org = self.settings.influxdb_org
        response, _ = self._request(
            "GET", "/api/v2/orgs", what=f"find org {org!r}", params={"org": org}
        )
        if response.status_code >= 400:
            raise ConfigError(
                f"cannot read organization {org!r} (HTTP {response.status_code}): "
                f"{self._brief(response.text, 200)}"
            )
        orgs = response.json().get("orgs") or []
        for item in orgs:
            if item.get("name") == org:
                return str(item["id"])
        raise ConfigError(f"organization {org!r} not found on {self.url}: set INFLUXDB_ORG")

    def _ensure_bucket_v2(self, bucket: str, seconds: int) -> BucketInfo:
        org_id = self._org_id_v2()
        what = f"ensure bucket {bucket!r}"
        response, _ = self._request(
            "GET", "/api/v2/buckets", what=what, params={"name": bucket, "orgID": org_id}
        )
        if response.status_code == 200:
            for item in response.json().get("buckets") or []:
                if item.get("name") == bucket:
                    rules = item.get("retentionRules") or []
                    every = next((r.get("everySeconds") for r in rules), 0) or 0
                    return BucketInfo(bucket, None, float(every) or math.inf, created=False)
        elif response.status_code != 404:
            raise ConfigError(
                f"{what}: HTTP {response.status_code}: {self._brief(response.text, 200)}"
            )
        body = {
            "orgID": org_id,
            "name": bucket,
            "retentionRules": [{"type": "expire", "everySeconds": seconds}] if seconds else [],
        }
        response, _ = self._request("POST", "/api/v2/buckets", what=what, json_body=body)
        if response.status_code in (200, 201):
            return BucketInfo(bucket, None, float(seconds) or math.inf, created=True)
        if response.status_code in (409, 422) and "exist" in response.text:
            return BucketInfo(bucket, None, float(seconds) or math.inf, created=False)
        raise ConfigError(f"{what}: HTTP {response.status_code}: {self._brief(response.text, 200)}")

    def _ensure_database_v3(self, bucket: str) -> BucketInfo:
        what = f"ensure database {bucket!r}"
        response, _ = self._request(
            "POST", "/api/v3/configure/database", what=what, json_body={"db": bucket}
        )
        if response.status_code in (200, 201, 204):
            return BucketInfo(bucket, None, None, created=True)
        if response.status_code == 409 or "exist" in response.text:
            return BucketInfo(bucket, None, None, created=False)
        raise ConfigError(f"{what}: HTTP {response.status_code}: {self._brief(response.text, 200)}")

    # ------------------------------------------------------------------ delete

    def delete_range(
        self,
        bucket: str,
        measurement: str,
        start_ns: int,
        stop_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Delete points of ``measurement`` with ``start_ns <= time < stop_ns`` (and tags)."""
        if stop_ns <= start_ns:
            return
        kind = self.kind
        if kind == "1.x":
            where = [f"time >= {int(start_ns)}", f"time < {int(stop_ns)}"]
            where += [f"{quote_ident(k)} = {quote_literal(v)}" for k, v in (tags or {}).items()]
            self.query(
                f"DELETE FROM {quote_ident(measurement)} WHERE {' AND '.join(where)}", db=bucket
            )
            return
        if kind == "3.x":
            raise ConfigError("deleting a time range is not supported on InfluxDB 3")

        def dq(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        predicate = " AND ".join(
            [f"_measurement={dq(measurement)}"]
            + [f"{k}={dq(v)}" for k, v in (tags or {}).items()]
        )
        body = {  # the v2 delete range is inclusive on both ends
            "start": rfc3339(start_ns),
            "stop": rfc3339(stop_ns - 1),
            "predicate": predicate,
        }
        what = f"delete {measurement!r} from {bucket!r}"
        response, _ = self._request(
            "POST",
            "/api/v2/delete",
            what=what,
            params={"org": self.settings.influxdb_org, "bucket": bucket},
            json_body=body,
        )
        if response.status_code not in (200, 204):
            raise WriteRejected(
                f"{what}: HTTP {response.status_code}: {self._brief(response.text)}",
                status=response.status_code,
                body=self._scrub(response.text),
            )
